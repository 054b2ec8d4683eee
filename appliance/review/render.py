"""The agreement report as Markdown (``report.md``) and as short terminal lines; figures only, no text.

Reads the dictionary of :func:`appliance.review.agreement.agreement_report`; number formats come from
``appliance.evaluate.report`` (``0.812 [0.750, 0.870]``; an en dash where a figure is undefined).
"""

from __future__ import annotations

from typing import Any

from ..evaluate.report import fmt, fmt_stat

METRIC_TITLES = {"macro_f1": "macro-F1", "mcc": "MCC", "sensitivity": "sensitivity", "specificity": "specificity"}
STATUS_TEXT = {
    "ok": "ok", "below": "**below threshold**", "clearly_below": "**clearly below threshold**",
    "too_few": "too few reviews", "undefined": "undefined",
}
POPULATION_TITLES = {"audit": "audit sample (random: unbiased)", "all": "all reviewed calls (uncertain first)"}


def warning_lines(report: dict[str, Any]) -> list[str]:
    """One line per warning: ``WARNING: pain: macro-F1 0.61 [0.48, 0.74] < 0.70 on 40 calls (audit
    sample)``."""
    out = []
    for w in report["warnings"]:
        v = fmt(w["value"], 2)
        ci = f" [{fmt(w['ci'][0], 2)}, {fmt(w['ci'][1], 2)}]" if w.get("ci") else ""
        out.append(
            f"WARNING: {w['feature']}: {METRIC_TITLES[w['metric']]} {v}{ci} < {w['below']:.2f} on {w['n']} calls "
            f"({POPULATION_TITLES[w['population']].split(' (')[0]})"
            + (" — the whole interval is below" if w["status"] == "clearly_below" else "")
        )
    return out


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A few lines for the terminal: calls, the medians per population, then the warnings."""
    c = report["calls"]
    rule = report["rule"]
    lines = [f"{c['reviewed']} reviewed calls ({c['audit']} in the audit sample), "
             f"{len(report['features']['keys'])} features; warn when {METRIC_TITLES[rule['metric']]} < "
             f"{rule['below']:.2f} (at least {rule['min_reviews']} reviews)"]
    for name, pop in report["populations"].items():
        med = (pop["summary"].get("median") or {}).get(report["view"]) or {}
        if med:
            lines.append(f"  {POPULATION_TITLES[name]}: median macro-F1 {fmt_stat(med.get('macro_f1'))}, "
                         f"MCC {fmt_stat(med.get('mcc'))}")
    return lines + (warning_lines(report) or ["no warnings"])


def _feature_rows(report: dict[str, Any], name: str) -> list[str]:
    pop = report["populations"][name]
    view = report["view"]
    rows = [
        "| feature | reviewed (pos/neg) | agreement | sensitivity | specificity | macro-F1 | MCC | missing rate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in report["features"]["keys"]:
        fe = pop["features"][k]
        v = fe[view]
        agree = (v["tp"] + v["tn"]) / v["n"] if v["n"] else None
        rows.append(
            f"| {report['features']['labels'].get(k, k)} (`{k}`) | {fe['n']} ({fe['positives']}/{fe['negatives']}) | "
            f"{fmt(agree)} | " + " | ".join(fmt_stat(v[m]) for m in ("sensitivity", "specificity", "macro_f1", "mcc"))
            + f" | {fmt_stat(fe['missing']['rate'], False)} |"
        )
    return rows


def render_markdown(report: dict[str, Any]) -> str:
    """``report.md`` of an agreement report: calls, checks and warnings, per-feature tables per
    population, agreement over time, definitions."""
    c, rule = report["calls"], report["rule"]
    metric = METRIC_TITLES[rule["metric"]]
    out = [
        "# Accuracy in use: the appliance against its reviewers",
        "",
        f"Generated {report['generated']}. {c['reviewed']} reviewed calls ({c['audit']} in the random audit sample), "
        f"results made {c['first_created'] or '–'} to {c['last_created'] or '–'}; reviewers: "
        + (", ".join(f"{r or '(unnamed)'} ({n})" for r, n in sorted(c["reviewers"].items())) or "–")
        + (f"; median {c['median_seconds']:.0f} s per call on the page." if c["median_seconds"] is not None else "."),
        "",
        f"Rule set by the clinic (`review.json`): warn when a feature's {metric} is below {rule['below']:.2f}, "
        f"checked on the audit sample when it has at least {rule['min_reviews']} reviews of the feature, else on all "
        "reviewed calls. Missing values are scored False.",
        "",
    ]
    if not report["populations"]:
        return "\n".join(out + ["No reviewed calls yet.", ""])
    out += ["## Checks", "", f"| feature | {metric} [95 % CI] | calls | population | status |", "|---|---|---|---|---|"]
    for k, ch in report["checks"].items():
        figure = fmt_stat({"value": ch["value"], "ci": ch["ci"]})
        out.append(f"| {report['features']['labels'].get(k, k)} (`{k}`) | {figure} "
                   f"| {ch['n']} | {ch['population']} | {STATUS_TEXT[ch['status']]} |")
    out += [""] + [f"- {w}" for w in warning_lines(report)] + [""]
    for name in ("audit", "all"):
        if name in report["populations"]:
            out += [f"## Per feature: {POPULATION_TITLES[name]}", "", *_feature_rows(report, name), ""]
    out += [f"## Over time (median {metric} over features, by month or week the result was made)", "",
            "| period | calls | audit calls | all calls | audit sample | models |", "|---|---|---|---|---|---|"]
    for row in report["over_time"]:
        cells = [fmt_stat((row[p] or {}).get("median")) if row[p] else "–" for p in ("all", "audit")]
        out.append(f"| {row['period']} | {row['calls']} | {row['audit_calls']} | {cells[0]} | {cells[1]} | "
                   f"{'; '.join(row['models'])} |")
    out += [
        "",
        "## Definitions",
        "",
        ("Each reviewed call's label (present → True; absent or not mentioned → False) against the appliance's "
         "value for it. Agreement = share of calls where they match. Sensitivity, specificity, macro-F1 and MCC "
         "as in `docs/evaluation.md` (`appliance.evaluate`), 95 % percentile bootstrap intervals over calls "
         f"({report['bootstrap']['replicates']} replicates, seed {report['bootstrap']['seed']})."),
        "",
    ]
    return "\n".join(out)
