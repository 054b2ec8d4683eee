"""Binary classification metrics in plain numpy (the box may not have scikit-learn).

Two layers:

* scalar functions for one feature (``confusion``, ``sensitivity``, ``mcc``, ``roc_auc``, ...), which
  return ``None`` where a metric is undefined, and
* vectorised functions (``rates``, ``weighted_auc``) that take *weights* per document, shape ``(B, N)``:
  a row of ones is the plain metric; a row of bootstrap counts is one bootstrap replicate. One code path
  therefore computes the point estimate and every replicate, and undefined values are ``NaN`` there.

Conventions (the same as scikit-learn's defaults, so figures are comparable with the published study):

* sensitivity = TP/(TP+FN), specificity = TN/(TN+FP), precision = TP/(TP+FP): undefined (None) when
  the denominator is 0 (no positives, no negatives, nothing predicted positive).
* F1 of a class = 2TP/(2TP+FP+FN), and 0 when that denominator is 0 (scikit-learn's
  ``zero_division=0``). Two-class macro-F1 is the mean of the F1 of the positive and of the negative class.
* MCC = (TP·TN − FP·FN)/sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)), and 0 when any factor is 0 (e.g. every
  document predicted the same class).
* ROC AUC = P(score of a random positive > score of a random negative) + ½ P(tie) (Mann–Whitney), from
  ``score`` = P(true); undefined (None) without both a positive and a negative.
* Everything is undefined (None) on an empty set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

RATE_METRICS = ("sensitivity", "specificity", "precision", "f1", "macro_f1", "mcc")


class Confusion(NamedTuple):
    """Confusion-matrix counts of one binary feature (document counts)."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        """Total number of documents counted."""
        return self.tp + self.fp + self.tn + self.fn


def _bools(x: Sequence[bool] | np.ndarray) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != bool:
        a = a.astype(bool)
    return a.reshape(-1)


def confusion(y_true: Sequence[bool] | np.ndarray, y_pred: Sequence[bool] | np.ndarray) -> Confusion:
    """Counts of ``y_pred`` against ``y_true`` (any shape, flattened, cast to bool).

    Raises ValueError when they differ in length.
    """
    t, p = _bools(y_true), _bools(y_pred)
    if t.shape != p.shape:
        raise ValueError("y_true and y_pred differ in length")
    return Confusion(
        tp=int(np.sum(t & p)), fp=int(np.sum(~t & p)), tn=int(np.sum(~t & ~p)), fn=int(np.sum(t & ~p))
    )


def rates(tp, fp, tn, fn) -> dict[str, np.ndarray]:
    """All rate metrics from (arrays of) counts; NaN where undefined (see module conventions).

    The counts broadcast together (scalars or e.g. (B,) weighted counts); returns ``RATE_METRICS`` name →
    array of the broadcast shape, every metric NaN where the total is 0.
    """
    tp, fp, tn, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, tn, fn))
    n = tp + fp + tn + fn
    nan = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        sens = np.where(tp + fn > 0, tp / (tp + fn), nan)
        spec = np.where(tn + fp > 0, tn / (tn + fp), nan)
        prec = np.where(tp + fp > 0, tp / (tp + fp), nan)
        d1 = 2 * tp + fp + fn
        f1 = np.where(d1 > 0, 2 * tp / d1, 0.0)
        d0 = 2 * tn + fp + fn
        f1_neg = np.where(d0 > 0, 2 * tn / d0, 0.0)
        macro = (f1 + f1_neg) / 2
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = np.clip(np.where(den > 0, (tp * tn - fp * fn) / den, 0.0), -1.0, 1.0)
    empty = n <= 0
    out = {"sensitivity": sens, "specificity": spec, "precision": prec, "f1": f1, "macro_f1": macro, "mcc": mcc}
    return {k: np.where(empty, nan, v) for k, v in out.items()}


def _scalar(x: np.ndarray | float) -> float | None:
    v = float(np.asarray(x).reshape(-1)[0]) if np.ndim(x) else float(x)
    return None if math.isnan(v) else v


def sensitivity(c: Confusion) -> float | None:
    """TP/(TP+FN); None without positives."""
    return _scalar(rates(*c)["sensitivity"])


def specificity(c: Confusion) -> float | None:
    """TN/(TN+FP); None without negatives."""
    return _scalar(rates(*c)["specificity"])


def precision(c: Confusion) -> float | None:
    """TP/(TP+FP); None when nothing is predicted positive."""
    return _scalar(rates(*c)["precision"])


def f1(c: Confusion) -> float | None:
    """F1 of the positive class (0 where scikit-learn's ``zero_division=0`` gives 0; None if empty)."""
    return _scalar(rates(*c)["f1"])


def macro_f1(c: Confusion) -> float | None:
    """Mean F1 of the positive and the negative class (scikit-learn ``average='macro', labels=[0, 1]``)."""
    return _scalar(rates(*c)["macro_f1"])


def mcc(c: Confusion) -> float | None:
    """Matthews correlation in [-1, 1]; 0 when a marginal is 0 (scikit-learn's convention); None if empty."""
    return _scalar(rates(*c)["mcc"])


def weighted_auc(y_true: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC for each row of ``weights`` (shape (B, N)); NaN where a row lacks a class.

    Ties count one half. O(B·N) after one sort: documents are grouped by distinct score, and for each
    group the weighted positives are credited with the weighted negatives strictly below it plus half the
    negatives in the group.

    ``y_true`` and ``score`` are (N,); returns (B,). Raises ValueError when the shapes do not match or a
    score is NaN.
    """
    y = _bools(y_true)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if y.shape != s.shape or w.shape[1] != y.shape[0]:
        raise ValueError("y_true, score and weights do not match")
    if y.size == 0:
        return np.full(w.shape[0], np.nan)
    if np.isnan(s).any():
        raise ValueError("score contains NaN: drop unscored documents first")
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    w_sorted = w[:, order]
    pos = np.add.reduceat(w_sorted * y[order], starts, axis=1)
    neg = np.add.reduceat(w_sorted * ~y[order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def roc_auc(y_true: Sequence[bool] | np.ndarray, score: Sequence[float] | np.ndarray) -> float | None:
    """ROC AUC of ``score`` (P(true)) against ``y_true``; None without both classes.

    Raises ValueError when the lengths differ or a score is NaN.
    """
    y = _bools(y_true)
    return _scalar(weighted_auc(y, np.asarray(score, dtype=np.float64), np.ones((1, y.size))))


def roc_curve(
    y_true: Sequence[bool] | np.ndarray, score: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) with ``pred = score >= threshold``, from (0, 0) at +inf to (1, 1).

    Thresholds are the distinct scores, descending, after a leading +inf; all three arrays have that
    length. Without positives (negatives) the tpr (fpr) stays 0.
    """
    y = _bools(y_true)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    thr = np.unique(s)[::-1]
    p, n = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    tpr = np.array([0.0] + [float(np.sum(y & (s >= t))) / p for t in thr])
    fpr = np.array([0.0] + [float(np.sum(~y & (s >= t))) / n for t in thr])
    return fpr, tpr, np.r_[np.inf, thr]


def bootstrap_weights(n: int, replicates: int, seed: int) -> np.ndarray:
    """(replicates, n) resampling counts: documents drawn with replacement, reproducible from ``seed``.

    Each row sums to n (numpy ``default_rng(seed).multinomial``); (0, n) when ``replicates`` or ``n`` <= 0.
    """
    if replicates <= 0 or n <= 0:
        return np.zeros((0, max(n, 0)))
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=replicates).astype(np.float64)


def percentile_ci(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float] | None:
    """(low, high) percentile interval of the finite bootstrap samples, ``confidence`` in (0, 1) (0.95:
    the 2.5th and 97.5th percentiles); None when there are none."""
    s = np.asarray(samples, dtype=np.float64).reshape(-1)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return None
    a = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(s, [a, 100 - a])
    return float(lo), float(hi)
