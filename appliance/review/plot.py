"""The agreement report as one PNG: per feature (with intervals and the clinic's threshold) and over
time. matplotlib (the ``review`` and ``evaluate`` extras) is imported only here, with the Agg backend.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from .render import METRIC_TITLES


def plot_png(report: dict[str, Any]) -> bytes:
    """The PNG bytes (110 dpi, 14 × 9 inches) of an agreement report: top, the rule's metric per feature
    for each population, with 95 % intervals, the threshold line, and warned features in red; bottom, the
    median over features per period for all calls and for the audit sample. Raises ModuleNotFoundError
    without matplotlib."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    rule, view = report["rule"], report["view"]
    metric, below = rule["metric"], rule["below"]
    title = METRIC_TITLES[metric]
    keys = report["features"]["keys"]
    fig, (ax, tax) = plt.subplots(2, 1, figsize=(14, 9), gridspec_kw={"height_ratios": [3, 2]})
    x = np.arange(len(keys))
    styles = {"audit": ("tab:blue", -0.15), "all": ("tab:gray", 0.15)}
    for name, (color, dx) in styles.items():
        pop = report["populations"].get(name)
        if not pop:
            continue
        vals = np.array([np.nan if pop["features"][k][view][metric]["value"] is None
                         else pop["features"][k][view][metric]["value"] for k in keys], dtype=float)
        lo = np.array([(pop["features"][k][view][metric]["ci"] or [np.nan, np.nan])[0] for k in keys], dtype=float)
        hi = np.array([(pop["features"][k][view][metric]["ci"] or [np.nan, np.nan])[1] for k in keys], dtype=float)
        err = np.vstack([np.nan_to_num(vals - lo), np.nan_to_num(hi - vals)])
        n = report["calls"]["audit" if name == "audit" else "reviewed"]
        ax.errorbar(x + dx, vals, yerr=err, fmt="o", color=color, capsize=3, label=f"{name} ({n} calls)")
    warned = {w["feature"] for w in report["warnings"]}
    ax.axhline(below, color="tab:red", linestyle="--", linewidth=1, label=f"clinic threshold {below:.2f}")
    ax.set_xticks(x)
    ax.set_xticklabels(keys, rotation=30, ha="right", fontsize=8)
    for tick, k in zip(ax.get_xticklabels(), keys):
        if k in warned:
            tick.set_color("tab:red")
    ax.set_ylim(-1.05 if metric == "mcc" else -0.05, 1.05)
    ax.set_ylabel(title)
    ax.set_title(f"{title} per feature, appliance vs reviewers (missing scored False; 95 % bootstrap intervals)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    rows = report["over_time"]
    for name, color in (("all", "tab:gray"), ("audit", "tab:blue")):
        pts = [(i, r[name]["median"]) for i, r in enumerate(rows) if r.get(name) and r[name].get("median")
               and r[name]["median"]["value"] is not None]
        if not pts:
            continue
        idx = np.array([i for i, _ in pts])
        med = np.array([m["value"] for _, m in pts], dtype=float)
        tax.plot(idx, med, marker="o", color=color, label=f"{name}: median {title}")
        cis = [m["ci"] for _, m in pts]
        if all(cis):
            tax.fill_between(idx, [c[0] for c in cis], [c[1] for c in cis], color=color, alpha=0.15)
    tax.axhline(below, color="tab:red", linestyle="--", linewidth=1)
    tax.set_xticks(np.arange(len(rows)))
    tax.set_xticklabels([f"{r['period']}\n{r['calls']} calls" for r in rows], fontsize=8)
    tax.set_ylim(-1.05 if metric == "mcc" else -0.05, 1.05)
    tax.set_ylabel(f"median {title}")
    tax.set_title("over time (by when the box made the result)", fontsize=10)
    if rows:
        tax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
