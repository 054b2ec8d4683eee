"""Fitting a combiner (``appliance.combine.Combiner``) on labelled documents' recorded answers.

The rows are the (document, feature) pairs of a traced 'hybrid' run (``traces``) whose decision the
combiner makes: every feature with a rule mention, and every near-miss question asked; a feature with
neither is False whatever the coefficients and is left out. Each row is the rule side ``x``
(``combine.model.rule_row``, the code the runtime uses), the bucket of its question, the clipped logit of
the model's P(yes), and the label.

Objective: penalised logistic loss, the penalty pulling towards the rules alone
(``Combiner.rules_only``: weight 1 on the rules' own log-odds, 0 elsewhere, no model term):

    sum_i [log(1 + e^{z_i}) - y_i z_i] + lam/2 * (|w - w_rules|^2 + |beta|^2),
    z_i = x_i . w + beta[b_i] * m_i,   0 <= beta_b <= beta_max

so with little evidence the combiner is the rules, the model's weight is never negative and bounded
(the rules' confident decisions need an extreme answer to overturn). ``lam`` is chosen from
``PENALTIES`` by leave-one-part-out over the training documents' parts (mean log loss on the part held
out; the strongest penalty within ``TOLERANCE`` of the lowest loss, so a closer fit must earn its
place), then the coefficients are refitted on all training rows. L-BFGS-B (scipy, the ``evaluate``
extra: fitting only; the box applies the coefficients with numpy).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..combine.facts import FindingFacts
from ..combine.model import BUCKETS, COLUMNS, Combiner, model_logit, rule_row

PENALTIES = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
BETA_MAX = 1.0
TOLERANCE = 0.005  # relative: a weaker penalty must lower the held-out loss by more than this to be chosen
W_RULES = np.array([1.0 if c == "rules_logit" else 0.0 for c in COLUMNS])


@dataclass
class FitRows:
    """Rows for fitting: ``x`` (n, C) rule side, ``bucket`` (n,) index into ``BUCKETS`` (-1: none),
    ``m`` (n,) clipped model logit (0 without an answer), ``y`` (n,) labels, ``part`` (n,) the part of
    each row's document, ``doc`` (n,) its id, ``key`` (n,) the feature."""

    x: np.ndarray
    bucket: np.ndarray
    m: np.ndarray
    y: np.ndarray
    part: list[str]
    doc: list[str]
    key: list[str]

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.y)

    def take(self, mask: np.ndarray) -> FitRows:
        """The rows where ``mask`` is true."""
        idx = np.flatnonzero(mask)
        return FitRows(self.x[idx], self.bucket[idx], self.m[idx], self.y[idx], [self.part[i] for i in idx],
                       [self.doc[i] for i in idx], [self.key[i] for i in idx])


def fit_rows(traces: Mapping[str, Mapping[str, Any]], labels: Mapping[str, Mapping[str, bool | None]],
             parts: Mapping[str, str], keys: Sequence[str]) -> FitRows:
    """Rows from ``traces`` (document id -> feature -> trace entry), ``labels`` (id -> feature -> label)
    and ``parts`` (id -> part), documents in sorted id order, features in ``keys`` order; only labelled
    (document, feature) pairs whose entry has a question bucket."""
    xs, bs, ms, ys, ps, ds, ks = [], [], [], [], [], [], []
    for doc_id in sorted(traces):
        for key in keys:
            entry = traces[doc_id].get(key)
            y = labels.get(doc_id, {}).get(key)
            if entry is None or entry.get("bucket") is None or not isinstance(y, bool):
                continue
            bucket = entry["bucket"]
            strength = int(entry.get("near_miss") or 0) if bucket == "near_miss" else 0
            xs.append(rule_row(FindingFacts.model_validate(entry["facts"]), float(entry["rule_score"]), strength))
            p = entry.get("p")
            bs.append(BUCKETS.index(bucket) if p is not None else -1)
            ms.append(model_logit(p) if p is not None else 0.0)
            ys.append(float(y))
            ps.append(parts.get(doc_id, ""))
            ds.append(doc_id)
            ks.append(key)
    x = np.vstack(xs) if xs else np.zeros((0, len(COLUMNS)))
    return FitRows(x, np.array(bs, dtype=int), np.array(ms), np.array(ys), ps, ds, ks)


def _unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return theta[: len(COLUMNS)], theta[len(COLUMNS):]


def _z(rows: FitRows, w: np.ndarray, beta: np.ndarray) -> np.ndarray:
    z = rows.x @ w
    has = rows.bucket >= 0
    z[has] += beta[rows.bucket[has]] * rows.m[has]
    return z


def log_loss(rows: FitRows, w: np.ndarray, beta: np.ndarray) -> float:
    """Mean logistic loss of coefficients ``w``, ``beta`` on ``rows`` (nan without rows)."""
    if rows.n == 0:
        return float("nan")
    z = _z(rows, w, beta)
    return float(np.mean(np.logaddexp(0.0, z) - rows.y * z))


def fit_coefficients(rows: FitRows, lam: float, beta_max: float = BETA_MAX) -> tuple[np.ndarray, np.ndarray]:
    """(w, beta) minimising the penalised loss of the module docstring on ``rows``. Raises ValueError
    without rows; ``RuntimeError`` when the optimiser fails."""
    from scipy.optimize import minimize

    if rows.n == 0:
        raise ValueError("no rows to fit a combiner on")
    nb = len(BUCKETS)
    onehot = np.zeros((rows.n, nb))
    has = rows.bucket >= 0
    onehot[np.flatnonzero(has), rows.bucket[has]] = 1.0
    mb = onehot * rows.m[:, None]  # (n, B): the model logit in its bucket's column

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, beta = _unpack(theta)
        z = rows.x @ w + mb @ beta
        loss = np.sum(np.logaddexp(0.0, z) - rows.y * z)
        r = 1.0 / (1.0 + np.exp(-z)) - rows.y
        dw = rows.x.T @ r + lam * (w - W_RULES)
        db = mb.T @ r + lam * beta
        pen = 0.5 * lam * (np.sum((w - W_RULES) ** 2) + np.sum(beta ** 2))
        return float(loss + pen), np.concatenate([dw, db])

    theta0 = np.concatenate([W_RULES, np.zeros(nb)])
    bounds = [(None, None)] * len(COLUMNS) + [(0.0, beta_max)] * nb
    res = minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 5000, "gtol": 1e-8})
    if not res.success and "ABNORMAL" not in str(res.message):
        raise RuntimeError(f"combiner fit did not converge: {res.message}")
    return _unpack(np.asarray(res.x))


def choose_penalty(rows: FitRows, penalties: Sequence[float] = PENALTIES,
                   beta_max: float = BETA_MAX) -> tuple[float, dict[str, Any]]:
    """(penalty, table) by leave-one-part-out over ``rows.part`` (mean log loss on each held-out part,
    averaged over parts; the strongest penalty within ``TOLERANCE`` of the lowest); with fewer than two
    parts, the middle of ``penalties``."""
    names = sorted(set(rows.part))
    if len(names) < 2:
        lam = float(penalties[len(penalties) // 2])
        return lam, {"method": "fixed (fewer than two parts)", "penalty": lam}
    table: dict[str, dict[str, float]] = {}
    for lam in penalties:
        losses = {}
        for name in names:
            held = np.array([p == name for p in rows.part])
            w, beta = fit_coefficients(rows.take(~held), lam, beta_max)
            losses[name] = log_loss(rows.take(held), w, beta)
        table[str(lam)] = {**losses, "mean": float(np.mean(list(losses.values())))}
    lowest = min(table[str(lam)]["mean"] for lam in penalties)
    # The strongest penalty (closest to the rules alone) within TOLERANCE of the lowest loss.
    best = max(lam for lam in penalties if table[str(lam)]["mean"] <= lowest * (1 + TOLERANCE))
    return float(best), {"method": f"leave-one-part-out mean log loss; the strongest penalty within "
                                   f"{TOLERANCE:.1%} of the lowest", "parts": names, "losses": table,
                         "penalty": float(best)}


def fit_combiner(rows: FitRows, *, name: str, record: dict[str, Any] | None = None,
                 penalties: Sequence[float] = PENALTIES, beta_max: float = BETA_MAX,
                 extractor: str | None = None, extractor_source_sha256: str | None = None) -> Combiner:
    """A ``Combiner`` fitted on ``rows`` (penalty by ``choose_penalty``), its ``fitting`` record = ``record``
    plus the penalty choice, row and positive counts, per-bucket row counts, the rules-only and fitted
    training log loss, the fitter and the date. Raises ValueError without rows."""
    import scipy

    lam, choice = choose_penalty(rows, penalties, beta_max)
    w, beta = fit_coefficients(rows, lam, beta_max)
    per_bucket = {b: int(np.sum(rows.bucket == i)) for i, b in enumerate(BUCKETS)}
    fitting = dict(record or {})
    fitting.update({
        "method": "penalised logistic regression towards the rules' own log-odds; model weight per bucket "
                  f"in [0, {beta_max}] (appliance.evaluate.combine_fit)",
        "penalty": choice,
        "rows": rows.n, "positives": int(rows.y.sum()), "rows_per_bucket": per_bucket,
        "documents": len(set(rows.doc)),
        "train_log_loss": {"rules_only": log_loss(rows, W_RULES, np.zeros(len(BUCKETS))),
                           "fitted": log_loss(rows, w, beta)},
        "fitter": f"scipy {scipy.__version__} L-BFGS-B",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    })
    return Combiner(name=name, extractor=extractor, extractor_source_sha256=extractor_source_sha256,
                    rule_weights=[_round(v) for v in w],
                    model_weights={b: min(beta_max, max(0.0, _round(v))) for b, v in zip(BUCKETS, beta)},
                    beta_max=beta_max, fitting=fitting)


def _round(v: float) -> float:
    return 0.0 if not math.isfinite(v) else round(float(v), 6)
