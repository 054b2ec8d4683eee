"""``evaluate compare``: two runs side by side, per feature, with paired bootstrap intervals of the deltas.

Both runs are re-scored on the documents they have in common (same id and same text), with the *same*
bootstrap resamples, so a delta's interval reflects the pairing (native vs translated input, two models,
two prompts on the same documents).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from .metrics import percentile_ci
from .report import fmt, fmt_stat
from .rundir import LoadedRun
from .scoring import (
    CONFIDENCE,
    DEFAULT_REPLICATES,
    DEFAULT_SEED,
    RunArrays,
    _r,
    _stat,
    defined_features,
    run_samples,
    weights_for,
)

FEATURE_FIGURES = ("extracted.macro_f1", "extracted.mcc", "extracted.sensitivity", "extracted.specificity",
                   "missing_false.macro_f1", "missing_false.mcc", "missing_rate", "auc")
FIGURE_TITLES = {
    "extracted.macro_f1": "macro-F1", "extracted.mcc": "MCC", "extracted.sensitivity": "sensitivity",
    "extracted.specificity": "specificity", "extracted.precision": "precision", "extracted.f1": "F1",
    "missing_false.macro_f1": "macro-F1, missing→False", "missing_false.mcc": "MCC, missing→False",
    "missing_false.sensitivity": "sensitivity, missing→False", "missing_false.specificity": "specificity, missing→False",
    "missing_false.precision": "precision, missing→False", "missing_false.f1": "F1, missing→False",
    "missing_rate": "missing rate", "auc": "ROC AUC",
}


def _align(a: RunArrays, b: RunArrays) -> tuple[RunArrays, RunArrays, int]:
    common = sorted(set(a.ids) & set(b.ids))
    if not common:
        raise InputError("no_common_documents", "the two runs share no documents")
    keep = set(common)
    sa, sb = a.subset([i in keep for i in a.ids]), b.subset([i in keep for i in b.ids])
    keys = [k for k in a.keys if k in b.keys]
    if not keys:
        raise InputError("no_common_features", "the two runs share no features")
    ja, jb = [a.keys.index(k) for k in keys], [b.keys.index(k) for k in keys]

    def pick(r: RunArrays, j: list[int]) -> RunArrays:
        return RunArrays(ids=r.ids, splits=r.splits, keys=keys, y=r.y[:, j], labelled=r.labelled[:, j],
                         value=r.value[:, j], extracted=r.extracted[:, j], score=r.score[:, j],
                         threshold=r.threshold[:, j], seconds=r.seconds, errors=r.errors)

    sa, sb = pick(sa, ja), pick(sb, jb)
    mismatch = int(np.sum((sa.labelled != sb.labelled) | (sa.labelled & (sa.y != sb.y))))
    # Score both against run A's labels, so the only difference is the predictions.
    sb = RunArrays(ids=sb.ids, splits=sb.splits, keys=keys, y=sa.y, labelled=sa.labelled, value=sb.value,
                   extracted=sb.extracted, score=sb.score, threshold=sb.threshold, seconds=sb.seconds, errors=sb.errors)
    return sa, sb, mismatch


def _pair(sa: np.ndarray, sb: np.ndarray, confidence: float) -> dict[str, Any]:
    d = sb - sa
    point = _r(float(d[0]))
    ci = percentile_ci(d[1:], confidence) if d.size > 1 and point is not None else None
    return {"a": _stat(sa, confidence)["value"], "b": _stat(sb, confidence)["value"],
            "delta": {"value": point, "ci": [_r(ci[0]), _r(ci[1])] if ci else None}}


def compare_arrays(
    ra: RunArrays, rb: RunArrays, *, replicates: int = DEFAULT_REPLICATES, seed: int = DEFAULT_SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """The paired comparison of two runs' arrays (B − A) on their common documents and features, scored
    against A's labels with the same bootstrap resamples: ``documents``, ``label_mismatches``,
    ``bootstrap``, ``summary`` (median/mean of the features defined in A, each figure ``{"a", "b",
    "delta": {"value", "ci"}}``) and ``features``. Raises InputError ``no_common_documents`` or
    ``no_common_features``."""
    sa_, sb_, mismatch = _align(ra, rb)
    w = weights_for(sa_.n, replicates, seed)
    defined, excluded = defined_features(sa_)
    fa, sa = run_samples(sa_, w, defined)
    fb, sb = run_samples(sb_, w, defined)
    return {
        "documents": sa_.n,
        "label_mismatches": mismatch,
        "bootstrap": {"replicates": replicates, "seed": seed, "confidence": confidence, "paired": True},
        "summary": {
            "features": defined, "excluded": excluded,
            **{how: {m: _pair(sa[how][m], sb[how][m], confidence) for m in sa[how]} for how in ("median", "mean")},
        },
        "features": {
            k: {m: _pair(fa[k][m], fb[k][m], confidence) for m in FEATURE_FIGURES} for k in sa_.keys
        },
    }


def compare_runs(
    a: LoadedRun, b: LoadedRun, *, replicates: int = DEFAULT_REPLICATES, seed: int = DEFAULT_SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Per-feature and median/mean figures of A and B on their common documents, delta = B − A.

    Documents are matched by id, features by key; both runs are scored against A's labels (disagreements
    are counted in ``label_mismatches``) over the same ``replicates`` bootstrap resamples from ``seed``;
    the median/mean are over the features defined in A. Each figure is ``{"a", "b", "delta": {"value",
    "ci"}}``. Raises InputError ``no_common_documents`` or ``no_common_features``.
    """
    c = compare_arrays(a.arrays, b.arrays, replicates=replicates, seed=seed, confidence=confidence)
    common = set(a.arrays.ids) & set(b.arrays.ids)
    return {
        "a": {"dir": str(a.dir), "run": a.name, "label": a.label, "fingerprint": a.run.get("fingerprint")},
        "b": {"dir": str(b.dir), "run": b.name, "label": b.label, "fingerprint": b.run.get("fingerprint")},
        "documents": c["documents"],
        "only_a": len(set(a.arrays.ids) - common),
        "only_b": len(set(b.arrays.ids) - common),
        "label_mismatches": c["label_mismatches"],
        "bootstrap": c["bootstrap"],
        "summary": c["summary"],
        "features": c["features"],
    }


def _delta(d: dict[str, Any]) -> str:
    v = d["delta"]["value"]
    if v is None:
        return "–"
    s = f"{v:+.3f}"
    if d["delta"]["ci"]:
        lo, hi = d["delta"]["ci"]
        s += f" ({lo:+.3f} to {hi:+.3f})"
    return s


def render_comparison(c: dict[str, Any]) -> str:
    """Markdown of a :func:`compare_runs` result: the median table, then per-feature A → B (Δ)."""
    a, b = c["a"], c["b"]
    out = [
        f"# Comparison: B − A on {c['documents']} common documents",
        "",
        f"- A: {a['label']} (`{a['dir']}`, {a['run']})",
        f"- B: {b['label']} (`{b['dir']}`, {b['run']})",
        (f"- only in A: {c['only_a']}, only in B: {c['only_b']}, label disagreements: {c['label_mismatches']} "
         "(A's labels are used)"),
        f"- paired bootstrap: {c['bootstrap']['replicates']} replicates, seed {c['bootstrap']['seed']}",
        "",
        f"## Median over the {len(c['summary']['features'])} defined features",
        "",
        "| figure | A | B | B − A (95 % CI) |",
        "|---|---|---|---|",
    ]
    for m, d in c["summary"]["median"].items():
        out.append(f"| {FIGURE_TITLES.get(m, m)} | {fmt(d['a'])} | {fmt(d['b'])} | {_delta(d)} |")
    cols = ("extracted.macro_f1", "extracted.mcc", "extracted.sensitivity", "extracted.specificity", "missing_rate", "auc")
    out += [
        "",
        "## Per feature (missing reported apart)",
        "",
        "| feature | " + " | ".join(f"{FIGURE_TITLES[m]} A → B (Δ)" for m in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for k, figs in c["features"].items():
        cells = []
        for m in cols:
            d = figs[m]
            dv = d["delta"]["value"]
            cells.append(f"{fmt(d['a'])} → {fmt(d['b'])} ({'–' if dv is None else f'{dv:+.3f}'})")
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    out.append("")
    return "\n".join(out)


__all__ = ["compare_arrays", "compare_runs", "fmt_stat", "render_comparison"]
