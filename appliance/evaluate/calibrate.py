"""``evaluate calibrate``: per-feature thresholds on P(true), fitted on the development split only.

For each boolean feature, candidate thresholds are the midpoints between consecutive distinct scores of
the development documents (plus one below and one above all of them); ``pred = score >= threshold``.

* ``mcc``: the candidate with the highest MCC (ties: the one nearest the current threshold). When no
  candidate beats MCC 0 the current threshold is kept.
* ``sensitivity``: the *highest* candidate whose sensitivity reaches the target (the most specific one
  that still finds that share of positives).

Only documents of the 'dev' split are ever passed to the fitting function (it refuses others); the effect
is then measured on the 'test' split, before and after, assuming the pipeline decides
``value = score >= threshold`` as it does for booleans.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import InputError
from ..tasks import Task, load_task, save_task
from .metrics import rates
from .report import fmt, fmt_stat
from .rundir import LoadedRun
from .scoring import DEFAULT_REPLICATES, DEFAULT_SEED, RunArrays, score_run

Objective = Literal["mcc", "sensitivity"]


@dataclass
class ThresholdChoice:
    """The threshold chosen for one feature: new and previous value, why, and the dev figures at it.

    ``dev_documents``/``dev_positives`` count the labelled, extracted, scored dev documents it was fitted
    on; ``dev`` holds sensitivity, specificity, MCC and macro-F1 there (empty when the threshold was kept).
    """

    key: str
    threshold: float
    previous: float
    changed: bool
    note: str
    dev_documents: int = 0
    dev_positives: int = 0
    dev: dict[str, float | None] = field(default_factory=dict)


def _candidates(scores: np.ndarray) -> np.ndarray:
    u = np.unique(scores)
    mids = (u[1:] + u[:-1]) / 2
    below = max(0.0, float(u[0]) / 2)
    above = min(1.0, (float(u[-1]) + 1.0) / 2) if u[-1] < 1.0 else 1.0
    return np.unique(np.r_[below, u[:1], mids, above])


def choose_threshold(
    y: np.ndarray, score: np.ndarray, *, objective: Objective, target_sensitivity: float = 0.9,
    current: float = 0.5,
) -> tuple[float, str, dict[str, float | None]]:
    """(threshold, note, dev figures at it) for one feature from labelled, scored documents.

    ``y`` and ``score`` are (N,); candidates and objectives as in the module docstring. ``current`` is
    kept (with an empty figures dict) when ``y`` is empty or one-class, or (objective 'mcc') no candidate
    has MCC > 0.
    Thresholds and figures are rounded to 6 digits. Raises ValueError for an unknown ``objective``.
    """
    y = np.asarray(y, bool)
    s = np.asarray(score, float)
    if y.size == 0:
        return current, "kept: no scored development documents", {}
    if not y.any() or y.all():
        return current, "kept: development split lacks " + ("positives" if not y.any() else "negatives"), {}
    cand = _candidates(s)
    pred = s[None, :] >= cand[:, None]  # (C, N)
    tp, fp = (pred & y).sum(1), (pred & ~y).sum(1)
    fn, tn = (~pred & y).sum(1), (~pred & ~y).sum(1)
    r = rates(tp, fp, tn, fn)
    if objective == "mcc":
        best = np.nanmax(r["mcc"])
        if not best > 0:
            return current, "kept: no threshold gives MCC above 0 on dev", {}
        idx = np.flatnonzero(r["mcc"] >= best - 1e-12)
        i = int(idx[np.argmin(np.abs(cand[idx] - current))])
        note = "max MCC on dev"
    elif objective == "sensitivity":
        ok = np.flatnonzero(r["sensitivity"] >= target_sensitivity - 1e-12)
        i = int(ok[np.argmax(cand[ok])])  # the lowest candidate always reaches sensitivity 1
        note = f"highest threshold with dev sensitivity >= {target_sensitivity:g}"
    else:
        raise ValueError(f"unknown objective {objective!r}")
    figs = {m: (None if np.isnan(r[m][i]) else round(float(r[m][i]), 6))
            for m in ("sensitivity", "specificity", "mcc", "macro_f1")}
    return round(float(cand[i]), 6), note, figs


def fit_thresholds(
    dev: RunArrays, task: Task, *, objective: Objective, target_sensitivity: float = 0.9,
) -> dict[str, ThresholdChoice]:
    """Thresholds from development-split documents only (anything else is refused), keyed by feature.

    Per feature only labelled, extracted documents with a finite score are used; the previous threshold
    is the task's. Raises ValueError when ``dev`` holds a non-dev document, KeyError when the task lacks
    one of its features.
    """
    if any(sp != "dev" for sp in dev.splits):
        raise ValueError("calibration may only see the development split")
    out: dict[str, ThresholdChoice] = {}
    for j, key in enumerate(dev.keys):
        prev = task.feature(key).threshold
        m = dev.labelled[:, j] & dev.extracted[:, j] & np.isfinite(dev.score[:, j])
        thr, note, figs = choose_threshold(
            dev.y[m, j], dev.score[m, j], objective=objective, target_sensitivity=target_sensitivity, current=prev
        )
        out[key] = ThresholdChoice(
            key=key, threshold=thr, previous=prev, changed=abs(thr - prev) > 1e-12, note=note,
            dev_documents=int(m.sum()), dev_positives=int(dev.y[m, j].sum()), dev=figs,
        )
    return out


def apply_thresholds(a: RunArrays, thresholds: dict[str, float]) -> RunArrays:
    """Re-decide scored, extracted values with new thresholds (``score >= t``); others keep their value."""
    value = a.value.copy()
    for j, key in enumerate(a.keys):
        if key in thresholds:
            has = a.extracted[:, j] & np.isfinite(a.score[:, j])
            value[has, j] = a.score[has, j] >= thresholds[key]
    return a.with_values(value)


@dataclass
class CalibrationOutcome:
    """The calibrated task, the choice per feature, and the JSON-able report that
    :func:`render_calibration` reads."""

    task: Task
    choices: dict[str, ThresholdChoice]
    report: dict[str, Any]


def calibrate_run(
    run: LoadedRun,
    *,
    objective: Objective = "mcc",
    target_sensitivity: float = 0.9,
    task: str | Path | None = None,
    out: str | Path | None = None,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = DEFAULT_SEED,
) -> CalibrationOutcome:
    """Fit thresholds on the run's dev documents, write the task file, measure the effect on test.

    ``task`` defaults to the run's own task; the tuned copy gets version ``V+calibrated-OBJECTIVE`` and is
    written to ``out`` when given. The test effect (before/after :func:`score_run`) is None without test
    documents. Raises InputError ``no_dev``, ``no_scores`` or ``task_mismatch`` (the task lacks a run's
    feature), TaskError for an unloadable task.
    """
    a = run.arrays
    is_dev = np.array([s == "dev" for s in a.splits], bool)
    dev, test = a.subset(is_dev), a.subset(~is_dev)
    if dev.n == 0:
        raise InputError("no_dev", f"{run.dir}: no development-split documents: run evaluate with --split all or dev")
    if not np.isfinite(dev.score).any():
        raise InputError("no_scores", f"{run.dir}: the predictions carry no scores (P(true)) to calibrate")
    base = load_task(task or (run.run.get("settings") or {}).get("task") or run.report["task"]["name"])
    notes: list[str] = []
    if base.content_hash != run.report["task"].get("sha256"):
        notes.append("the task differs from the one the run was evaluated with (thresholds are copied by key)")
    missing = [k for k in a.keys if k not in base.keys]
    if missing:
        raise InputError("task_mismatch", f"task '{base.name}' lacks the run's features: {', '.join(missing)}")
    choices = fit_thresholds(dev, base, objective=objective, target_sensitivity=target_sensitivity)
    thresholds = {k: c.threshold for k, c in choices.items()}
    tuned = base.with_thresholds(thresholds)
    tuned = tuned.model_copy(update={"version": f"{base.version}+calibrated-{objective}"})
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        save_task(tuned, Path(out))

    effect: dict[str, Any] | None = None
    if test.n:
        before = score_run(test, replicates=replicates, seed=seed)
        after = score_run(apply_thresholds(test, thresholds), replicates=replicates, seed=seed)
        effect = {"documents": test.n, "before": before, "after": after}
    report = {
        "run": {"dir": str(run.dir), "name": run.name, "label": run.label, "fingerprint": run.run.get("fingerprint")},
        "objective": objective,
        "target_sensitivity": target_sensitivity if objective == "sensitivity" else None,
        "task": {"name": tuned.name, "version": tuned.version, "file": str(out) if out else None},
        "dev_documents": dev.n,
        "thresholds": {k: asdict(c) for k, c in choices.items()},
        "test": effect,
        "notes": notes,
    }
    return CalibrationOutcome(task=tuned, choices=choices, report=report)


def render_calibration(report: dict[str, Any]) -> str:
    """Markdown of a calibration report: thresholds per feature with test figures before → after."""
    out = [
        f"# Calibration ({report['objective']}"
        + (f", target sensitivity {report['target_sensitivity']:g}" if report["target_sensitivity"] else "")
        + f") of {report['run']['label']}",
        "",
        f"Fitted on {report['dev_documents']} development-split documents only"
        + (f"; task file: `{report['task']['file']}`" if report["task"]["file"] else "") + ".",
        "",
    ]
    test = report["test"]
    out += ["| feature | threshold | dev pos/n | note | test sensitivity before → after | test specificity | test MCC |",
            "|---|---|---|---|---|---|---|"]
    for k, c in report["thresholds"].items():
        if test:
            b, a = test["before"]["features"][k]["extracted"], test["after"]["features"][k]["extracted"]
            cells = [f"{fmt(b[m]['value'])} → {fmt(a[m]['value'])}" for m in ("sensitivity", "specificity", "mcc")]
        else:
            cells = ["–"] * 3
        out.append(f"| {k} | {c['previous']:.3f} → {c['threshold']:.3f} | {c['dev_positives']}/{c['dev_documents']} | "
                   f"{c['note']} | " + " | ".join(cells) + " |")
    out.append("")
    if test:
        out += [f"## Effect on the test split ({test['documents']} documents): median over defined features", "",
                "| | macro-F1 | MCC | sensitivity | specificity |", "|---|---|---|---|---|"]
        for name in ("before", "after"):
            block = test[name]["summary"]["median"].get("extracted") or {}
            out.append(f"| {name} | " + " | ".join(fmt_stat(block.get(m)) for m in ("macro_f1", "mcc", "sensitivity", "specificity")) + " |")
        out.append("")
    else:
        out += ["No test-split documents in this run: evaluate with `--split all` to measure the effect.", ""]
    out += [f"Note: {n}" for n in report.get("notes") or []]
    return "\n".join(out)
