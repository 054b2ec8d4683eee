"""From labels and cached predictions to per-feature and per-run figures with bootstrap intervals.

Two views of every rate metric, side by side, because a missing value must never pass silently as a
negative:

* ``extracted`` — scored on the documents where the feature was extracted; how often it was *not* is the
  separate ``missing_rate``. This is the appliance's honest view.
* ``missing_false`` — the published study's convention: a missing value is scored as False.

ROC AUC uses ``score`` (P(true)) on the documents that have one. A run's headline figures are the median
(the study's headline) and the mean over the *defined* features: those with at least one positive and one
negative label among the evaluated documents (others are listed under ``excluded``). Intervals are
percentile bootstrap intervals over documents resampled with replacement from a fixed seed, recomputing
the per-feature metrics *and* the median/mean in every replicate.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import RATE_METRICS, bootstrap_weights, percentile_ci, rates, weighted_auc

VIEWS = ("extracted", "missing_false")
COUNTS = ("tp", "fp", "tn", "fn")
DEFAULT_SEED = 20260101
DEFAULT_REPLICATES = 1000
CONFIDENCE = 0.95
_NDIGITS = 6


@dataclass
class RunArrays:
    """One run's labels and predictions as (documents × features) arrays, documents sorted by id.

    ``ids``/``splits`` have one entry per document (N), ``keys`` one per feature (F); the 2-D arrays are
    (N, F); ``seconds`` is (N,) or empty; ``errors`` counts documents the pipeline refused.
    """

    ids: list[str]
    splits: list[str]
    keys: list[str]
    y: np.ndarray  # bool: label True
    labelled: np.ndarray  # bool: label present
    value: np.ndarray  # bool: predicted True (False where missing)
    extracted: np.ndarray  # bool: status 'extracted' with a boolean value
    score: np.ndarray  # float: P(true), NaN where absent
    threshold: np.ndarray  # float: threshold the value was decided with, NaN where absent
    seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per document, NaN where unknown
    errors: int = 0

    @property
    def n(self) -> int:
        """Number of documents (N)."""
        return len(self.ids)

    def subset(self, mask: Sequence[bool] | np.ndarray) -> RunArrays:
        """The documents where ``mask`` (length N) is true, in the same order; ``errors`` is kept as is."""
        m = np.asarray(mask, dtype=bool)
        return RunArrays(
            ids=[i for i, k in zip(self.ids, m) if k],
            splits=[s for s, k in zip(self.splits, m) if k],
            keys=list(self.keys),
            y=self.y[m], labelled=self.labelled[m], value=self.value[m], extracted=self.extracted[m],
            score=self.score[m], threshold=self.threshold[m],
            seconds=self.seconds[m] if self.seconds.size else self.seconds,
            errors=self.errors,
        )

    def with_values(self, value: np.ndarray) -> RunArrays:
        """A copy with predictions replaced by ``value`` (N, F), forced False where not extracted
        (calibration re-decides values from scores with new thresholds)."""
        return RunArrays(
            ids=self.ids, splits=self.splits, keys=self.keys, y=self.y, labelled=self.labelled,
            value=np.asarray(value, dtype=bool) & self.extracted, extracted=self.extracted, score=self.score,
            threshold=self.threshold, seconds=self.seconds, errors=self.errors,
        )


def build_arrays(
    docs: Iterable[tuple[str, str, dict[str, bool | None]]],
    records: dict[str, dict[str, Any]],
    keys: Sequence[str],
) -> RunArrays:
    """``docs``: (id, split, labels); ``records``: id → cached prediction record (see ``cache``).

    A feature absent from a record counts as missing; so does a document without a record. Labels other
    than True/False count as unlabelled; a score or threshold that is not a finite number as absent (NaN).
    ``seconds`` comes from each record's ``timings.total_s``.
    """
    rows = sorted(docs, key=lambda d: d[0])
    n, f = len(rows), len(keys)
    y = np.zeros((n, f), bool)
    lab = np.zeros((n, f), bool)
    val = np.zeros((n, f), bool)
    ext = np.zeros((n, f), bool)
    score = np.full((n, f), np.nan)
    thr = np.full((n, f), np.nan)
    secs = np.full(n, np.nan)
    errors = 0
    for i, (doc_id, _split, labels) in enumerate(rows):
        for j, k in enumerate(keys):
            lv = labels.get(k)
            if isinstance(lv, bool):
                lab[i, j], y[i, j] = True, lv
        rec = records.get(doc_id)
        if rec is None:
            continue
        if rec.get("error"):
            errors += 1
        t = (rec.get("timings") or {}).get("total_s")
        if isinstance(t, (int, float)):
            secs[i] = float(t)
        feats = rec.get("features") or {}
        for j, k in enumerate(keys):
            fr = feats.get(k)
            if not fr:
                continue
            if fr.get("status") == "extracted" and isinstance(fr.get("value"), bool):
                ext[i, j] = True
                val[i, j] = fr["value"]
            s = fr.get("score")
            if isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s):
                score[i, j] = float(s)
            t = fr.get("threshold")
            if isinstance(t, (int, float)) and not isinstance(t, bool):
                thr[i, j] = float(t)
    return RunArrays(
        ids=[r[0] for r in rows], splits=[r[1] for r in rows], keys=list(keys), y=y, labelled=lab, value=val,
        extracted=ext, score=score, threshold=thr, seconds=secs, errors=errors,
    )


def _feature_samples(a: RunArrays, j: int, w: np.ndarray) -> dict[str, np.ndarray]:
    """Every figure of feature ``j`` for each row of weights ``w`` (row 0 = point estimate)."""
    y, lab, pred, ext = a.y[:, j], a.labelled[:, j], a.value[:, j], a.extracted[:, j]
    out: dict[str, np.ndarray] = {}
    for view, mask, p in (("extracted", lab & ext, pred & ext), ("missing_false", lab, pred & ext)):
        tp = w @ (mask & y & p)
        fp = w @ (mask & ~y & p)
        tn = w @ (mask & ~y & ~p)
        fn = w @ (mask & y & ~p)
        for name, c in zip(COUNTS, (tp, fp, tn, fn)):
            out[f"{view}.{name}"] = c
        out[f"{view}.n"] = tp + fp + tn + fn
        for m, v in rates(tp, fp, tn, fn).items():
            out[f"{view}.{m}"] = v
    n_lab = w @ lab
    with np.errstate(divide="ignore", invalid="ignore"):
        out["missing_rate"] = np.where(n_lab > 0, (w @ (lab & ~ext)) / n_lab, np.nan)
    scored = lab & np.isfinite(a.score[:, j])
    out["auc"] = weighted_auc(y[scored], a.score[scored, j], w[:, scored])
    out["auc.n"] = w @ scored
    return out


def _r(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), _NDIGITS)


def _stat(samples: np.ndarray, confidence: float) -> dict[str, Any]:
    point = _r(float(samples[0]))
    ci = percentile_ci(samples[1:], confidence) if samples.size > 1 and point is not None else None
    return {"value": point, "ci": [_r(ci[0]), _r(ci[1])] if ci else None}


def _summarise(values: np.ndarray, how: str) -> np.ndarray:
    """Median or mean over features (axis 0), ignoring undefined (NaN) entries."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=0) if how == "median" else np.nanmean(values, axis=0)


def weights_for(n: int, replicates: int, seed: int) -> np.ndarray:
    """(1 + replicates, n) weights. Row 0: the point estimate (all ones); rows 1..: bootstrap replicates
    of the documents (see :func:`~appliance.evaluate.metrics.bootstrap_weights`)."""
    return np.vstack([np.ones((1, n)), bootstrap_weights(n, replicates, seed)])


def defined_features(a: RunArrays) -> tuple[list[str], dict[str, str]]:
    """(keys with at least one positive and one negative label, {other key: why it is excluded}).

    Only defined features enter a run's median and mean (excluded ones would make them undefined).
    """
    defined: list[str] = []
    excluded: dict[str, str] = {}
    for j, key in enumerate(a.keys):
        pos = int(np.sum(a.labelled[:, j] & a.y[:, j]))
        neg = int(np.sum(a.labelled[:, j] & ~a.y[:, j]))
        if pos and neg:
            defined.append(key)
        else:
            excluded[key] = "no labelled documents" if pos + neg == 0 else ("no positives" if pos == 0 else "no negatives")
    return defined, excluded


SUMMARY_METRICS = tuple(f"{v}.{m}" for v in VIEWS for m in RATE_METRICS) + ("missing_rate", "auc")


def run_samples(
    a: RunArrays, w: np.ndarray, defined: Sequence[str] | None = None
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]]]:
    """(feature → figure → samples, 'median'/'mean' → figure → samples); samples[0] is the point value.

    ``w`` is (B, N) document weights (see :func:`weights_for`); each samples array is (B,). Figures are
    ``VIEW.METRIC`` for both views, ``missing_rate`` and ``auc``. ``defined`` defaults to
    :func:`defined_features`; without defined features the summary blocks are empty.
    """
    per_feature = {key: _feature_samples(a, j, w) for j, key in enumerate(a.keys)}
    if defined is None:
        defined = defined_features(a)[0]
    summary: dict[str, dict[str, np.ndarray]] = {"median": {}, "mean": {}}
    if defined:
        for how, block in summary.items():
            for m in SUMMARY_METRICS:
                block[m] = _summarise(np.vstack([per_feature[k][m] for k in defined]), how)
    return per_feature, summary


def score_run(
    a: RunArrays,
    *,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = DEFAULT_SEED,
    confidence: float = CONFIDENCE,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Per-feature figures and the run summary (median and mean over defined features), with CIs.

    A JSON-able dict (``documents``, ``errors``, ``bootstrap``, ``features``, ``summary``, ``timing``);
    each figure is ``{"value": v, "ci": [lo, hi]}``, rounded to 6 digits, None where undefined. The
    intervals are ``confidence`` percentile intervals over ``replicates`` bootstrap resamples of the
    documents from ``seed`` (no interval with ``replicates`` <= 0). ``labels`` gives display labels by key.
    """
    w = weights_for(a.n, replicates, seed)
    defined, excluded = defined_features(a)
    per_feature, summ = run_samples(a, w, defined)
    features: dict[str, Any] = {}
    for j, key in enumerate(a.keys):
        s = per_feature[key]
        pos = int(np.sum(a.labelled[:, j] & a.y[:, j]))
        neg = int(np.sum(a.labelled[:, j] & ~a.y[:, j]))
        fe: dict[str, Any] = {
            "label": (labels or {}).get(key, key),
            "n": pos + neg,
            "positives": pos,
            "negatives": neg,
            "defined": key in defined,
            "missing": {"count": int(np.sum(a.labelled[:, j] & ~a.extracted[:, j])),
                        "rate": _stat(s["missing_rate"], confidence)},
            "auc": {**_stat(s["auc"], confidence), "n": int(s["auc.n"][0])},
        }
        for view in VIEWS:
            v: dict[str, Any] = {"n": int(s[f"{view}.n"][0])}
            v.update({c: int(s[f"{view}.{c}"][0]) for c in COUNTS})
            v.update({m: _stat(s[f"{view}.{m}"], confidence) for m in RATE_METRICS})
            fe[view] = v
        features[key] = fe

    summary: dict[str, Any] = {"features": defined, "excluded": excluded}
    for how, block in summ.items():
        out: dict[str, Any] = {}
        if block:
            for view in VIEWS:
                out[view] = {m: _stat(block[f"{view}.{m}"], confidence) for m in RATE_METRICS}
            for m in ("missing_rate", "auc"):
                out[m] = _stat(block[m], confidence)
        summary[how] = out

    secs = a.seconds[np.isfinite(a.seconds)] if a.seconds.size else a.seconds
    timing = (
        {"documents": int(secs.size), "total_s": _r(float(secs.sum())), "mean_s": _r(float(secs.mean())),
         "median_s": _r(float(np.median(secs)))}
        if secs.size else {"documents": 0}
    )
    return {
        "documents": a.n,
        "errors": a.errors,
        "bootstrap": {"replicates": max(replicates, 0), "seed": seed, "confidence": confidence,
                      "unit": "document"},
        "features": features,
        "summary": summary,
        "timing": timing,
    }
