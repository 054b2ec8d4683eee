"""Rendering an evaluation report: Markdown (next to the published table) and a PNG of the figures.

Everything here reads ``report.json``'s dictionary (plus the arrays, for ROC curves), so a report can be
re-rendered without re-running a model. matplotlib is optional (the 'evaluate' extra) and imported only
when a plot is drawn, with the Agg backend (no display on the box).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .metrics import roc_curve
from .scoring import RunArrays

HEADLINE = ("macro_f1", "mcc", "sensitivity", "specificity")
VIEW_TITLES = {
    "extracted": "missing reported apart (scored on extracted)",
    "missing_false": "missing scored False (study convention)",
}


def fmt(x: float | None, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals; an en dash for None (undefined)."""
    return "–" if x is None else f"{x:.{digits}f}"


def fmt_stat(stat: dict[str, Any] | None, ci: bool = True) -> str:
    """A ``{"value", "ci"}`` figure as ``0.812 [0.750, 0.870]`` (interval only with ``ci`` and when
    present); an en dash when undefined."""
    if not stat or stat.get("value") is None:
        return "–"
    s = fmt(stat["value"])
    if ci and stat.get("ci"):
        s += f" [{fmt(stat['ci'][0])}, {fmt(stat['ci'][1])}]"
    return s


def _headline_rows(report: dict[str, Any], how: str, ci: bool = True) -> list[str]:
    rows = []
    for name, run in report["runs"].items():
        block = run["summary"].get(how) or {}
        if not block:
            rows.append(f"| {run['label']} | no defined features | | | | | |")
            continue
        for view in ("extracted", "missing_false"):
            cells = [fmt_stat(block[view].get(m), ci) for m in HEADLINE]
            label = f"**{run['label']}**" if name == "run" else run["label"]
            rows.append(
                f"| {label} — {VIEW_TITLES[view]} | " + " | ".join(cells)
                + f" | {fmt_stat(block.get('missing_rate'), ci)} | {fmt_stat(block.get('auc'), ci)} |"
            )
    return rows


def _feature_table(run: dict[str, Any]) -> list[str]:
    lines = [
        ("| feature | pos/neg | TP | FP | TN | FN | missing | sensitivity | specificity | precision | F1 | "
         "macro-F1 | MCC | ROC AUC | macro-F1, missing→False | MCC, missing→False |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, fe in run["features"].items():
        e, s = fe["extracted"], fe["missing_false"]
        mark = "" if fe["defined"] else " †"
        lines.append(
            f"| {key}{mark} | {fe['positives']}/{fe['negatives']} | {e['tp']} | {e['fp']} | {e['tn']} | {e['fn']} | "
            f"{fe['missing']['count']} | "
            + " | ".join(fmt_stat(e[m], False) for m in ("sensitivity", "specificity", "precision", "f1", "macro_f1", "mcc"))
            + f" | {fmt_stat(fe['auc'], False)} | {fmt_stat(s['macro_f1'], False)} | {fmt_stat(s['mcc'], False)} |"
        )
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """``report.md`` from a ``report.json`` dict: median and mean tables next to the published study's,
    one per-feature table per run, and the metric definitions. KeyError on a dict of another shape."""
    task, docs, data = report["task"], report["documents"], report["data"]
    first = next(iter(report["runs"].values()))
    boot = first["bootstrap"]
    summary = first["summary"]
    data_name = Path(data["path"]).name if data.get("path") else "(in-memory documents)"
    out = [
        f"# Evaluation: task `{task['name']}` on `{data_name}`, split `{report['split']}`",
        "",
        f"{docs['evaluated']} documents (dev {docs['dev']}, test {docs['test']})"
        + (f", first {report['limit']} only" if report.get("limit") is not None else "")
        + f". Split rule: `{report['split_rule']}`.",
        "",
        f"Headline = **median over the {len(summary['features'])} defined features** (at least one positive "
        "and one negative label)"
        + (
            "; not summarised: " + ", ".join(f"{k} ({why})" for k, why in summary["excluded"].items())
            if summary["excluded"] else ""
        )
        + f". Brackets: {int(boot['confidence'] * 100)} % percentile bootstrap interval, {boot['replicates']} "
        f"replicates of the documents (seed {boot['seed']}), median recomputed in each.",
        "",
        "## Median over features, next to the published study",
        "",
        "| run | macro-F1 | MCC | sensitivity | specificity | missing rate | ROC AUC |",
        "|---|---|---|---|---|---|---|",
        *_headline_rows(report, "median"),
        *(
            f"| *published:* {m} | {fmt(f1)} | {fmt(mc)} | {fmt(se)} | {fmt(sp)} | (scored False) | – |"
            for m, f1, mc, se, sp in report["study"]["table"]
        ),
        "",
        (f"Published rows: {report['study']['reference']}. Different language, population and features: for "
         "orientation, not a like-for-like comparison."),
        "",
        "## Mean over features",
        "",
        "| run | macro-F1 | MCC | sensitivity | specificity | missing rate | ROC AUC |",
        "|---|---|---|---|---|---|---|",
        *_headline_rows(report, "mean"),
        "",
    ]
    for run in report["runs"].values():
        t = run.get("timing") or {}
        timing = (
            f" Time per document: median {fmt(t.get('median_s'), 2)} s, mean {fmt(t.get('mean_s'), 2)} s."
            if t.get("documents") else ""
        )
        out += [
            f"## Per feature: {run['label']}",
            "",
            f"Counts and rates on the documents where the feature was extracted; `missing` = not extracted; "
            f"the last two columns score missing as False. † = not in the median. Errors: {run['errors']}."
            + timing,
            "",
            *_feature_table(run),
            "",
        ]
    out += [
        "## Definitions",
        "",
        ("Sensitivity TP/(TP+FN); specificity TN/(TN+FP); precision TP/(TP+FP) (– when undefined); F1 of the "
         "positive class; macro-F1 = mean F1 of the positive and the negative class (0 for an empty class, as "
         "scikit-learn); MCC (0 when every document is predicted one class); ROC AUC from `score` = P(true), "
         "– without both classes or without scores. See `docs/evaluation.md`."),
        "",
    ]
    return "\n".join(out)


def write_plot(report: dict[str, Any], arrays: dict[str, RunArrays], path: Path) -> None:
    """Per run: grouped per-feature bars (sensitivity, specificity, macro-F1, MCC, missing rate) and ROC.

    Writes a PNG at 110 dpi, 18 × 5.2 inches per run, to ``path``; ROC curves need ``arrays[run name]``
    with scores. Raises ModuleNotFoundError without matplotlib (the 'evaluate' extra).
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    runs = list(report["runs"].items())
    fig, axes = plt.subplots(
        len(runs), 2, figsize=(18, 5.2 * len(runs)), gridspec_kw={"width_ratios": [3, 1]}, squeeze=False
    )
    metrics = [("sensitivity", "sensitivity"), ("specificity", "specificity"), ("macro_f1", "macro-F1"),
               ("mcc", "MCC")]
    for row, (name, run) in enumerate(runs):
        ax, roc_ax = axes[row]
        keys = list(run["features"])
        x = np.arange(len(keys))
        width = 0.8 / (len(metrics) + 1)
        for i, (m, title) in enumerate(metrics):
            vals = [run["features"][k]["extracted"][m]["value"] for k in keys]
            ax.bar(x + i * width, [np.nan if v is None else v for v in vals], width, label=title)
        miss = [run["features"][k]["missing"]["rate"]["value"] for k in keys]
        ax.bar(x + len(metrics) * width, [np.nan if v is None else v for v in miss], width, label="missing rate",
               color="0.6")
        ax.set_xticks(x + 0.4 - width / 2)
        ax.set_xticklabels([k + ("" if run["features"][k]["defined"] else " †") for k in keys], rotation=35,
                           ha="right", fontsize=8)
        ax.set_ylim(-0.25, 1.05)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(f"{run['label']} — per feature (missing reported apart)", fontsize=10)
        ax.legend(fontsize=7, ncol=5, loc="lower left")
        a = arrays.get(name)
        plotted = 0
        if a is not None:
            for j, k in enumerate(a.keys):
                m = a.labelled[:, j] & np.isfinite(a.score[:, j])
                auc = run["features"][k]["auc"]["value"]
                if auc is None or not m.any():
                    continue
                fpr, tpr, _ = roc_curve(a.y[m, j], a.score[m, j])
                roc_ax.plot(fpr, tpr, linewidth=1, label=f"{k} {auc:.2f}", color=plt.cm.tab20(j % 20))
                plotted += 1
        roc_ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=0.8)
        roc_ax.set_xlabel("1 − specificity", fontsize=8)
        roc_ax.set_ylabel("sensitivity", fontsize=8)
        roc_ax.set_title("ROC from score = P(true)" if plotted else "ROC: no scores", fontsize=10)
        if plotted:
            roc_ax.legend(fontsize=6, loc="lower right")
    fig.suptitle(f"task {report['task']['name']} · split {report['split']} · {report['documents']['evaluated']} documents",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
