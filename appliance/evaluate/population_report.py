"""Markdown of a populations report (``population_run.populations``): the gate, every held-out part and
rewrite with intervals and paired differences from the rules, what the model added and removed, the
fitted combiners, and the in-population (test split) figures."""

from __future__ import annotations

from typing import Any

from .report import fmt, fmt_stat

FIGS = ("macro_f1", "sensitivity", "specificity", "mcc")


def _delta(d: dict[str, Any] | None) -> str:
    if not d or d["delta"]["value"] is None:
        return "–"
    s = f"{d['delta']['value']:+.3f}"
    if d["delta"]["ci"]:
        s += f" [{d['delta']['ci'][0]:+.3f}, {d['delta']['ci'][1]:+.3f}]"
    return s


def _table(rows: list[dict[str, Any]], title: str) -> list[str]:
    out = [f"## {title}", "",
           "Medians over the features defined in the part (both classes labelled), missing scored False; "
           "95 % bootstrap intervals over documents; Δ = configuration − rules, paired (same resamples).", "",
           "| held-out part | text | docs | rules macro-F1 | config macro-F1 | Δ macro-F1 | rules sensitivity | "
           "config sensitivity | Δ sensitivity | Δ specificity | Δ MCC | gate |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rm = (r["rules"].get("median") or {}).get("missing_false") or {}
        cm = (r["config"].get("median") or {}).get("missing_false") or {}
        pm = r["paired"]["summary"]["median"]
        gate = {True: "pass", False: "**FAIL**", None: "n/a (no feature with both classes)"}[r["gate"]["passed"]]
        out.append(
            f"| {r['part']} | {r['variant']} | {r['documents']} | {fmt_stat(rm.get('macro_f1'))} | "
            f"{fmt_stat(cm.get('macro_f1'))} | {_delta(pm.get('missing_false.macro_f1'))} | "
            f"{fmt_stat(rm.get('sensitivity'))} | {fmt_stat(cm.get('sensitivity'))} | "
            f"{_delta(pm.get('missing_false.sensitivity'))} | {_delta(pm.get('missing_false.specificity'))} | "
            f"{_delta(pm.get('missing_false.mcc'))} | {gate} |")
    return out + [""]


def _changes(rows: list[dict[str, Any]]) -> list[str]:
    out = ["## What the configuration changed against the rules", "",
           "Labelled (document, feature) pairs of the held-out part. *added*: True where the rules said False "
           "(right = labelled True); *removed*: False where the rules said True (right = labelled False); "
           "*by question*: additions by the kind of passage the model was asked about (near_miss = a passage "
           "the rules found no mention in; undecided = mentions the rules could not decide, e.g. unanswered "
           "questions; denied = a negated, past, hypothetical or someone else's mention); *sure*: rule "
           "decisions with P(true) ≥ 0.85 or ≤ 0.15, how many were overturned and how many of those rightly.", "",
           "| held-out part | text | added (right) | removed (right) | added by question: bucket added/right | "
           "sure decisions: overturned (right) |", "|---|---|---|---|---|---|"]
    for r in rows:
        c = r["changes"]
        by = ", ".join(f"{k} {v['added']}/{v['right']}" for k, v in (c.get("added_by_bucket") or {}).items()) or "–"
        sure = c.get("sure") or {}
        out.append(f"| {r['part']} | {r['variant']} | {c['added']} ({c['added_right']}) | {c['removed']} "
                   f"({c['removed_right']}) | {by} | {sure.get('overturned', '–')} ({sure.get('overturned_right', '–')}) "
                   f"of {sure.get('decisions', '–')} |")
    return out + [""]


def _combiners(folds: list[dict[str, Any]], final: dict[str, Any] | None) -> list[str]:
    items = [(f"fold {f['part']} (fitted on {', '.join(f['fit_parts'])}, {f['fit_documents']} documents)", f["combiner"])
             for f in folds if f.get("combiner")]
    if final:
        items.append(("final (every part)", final))
    if not items:
        return []
    out = ["## Fitted combiners", "",
           "Model weight per question bucket (0 = the model has no vote there; at most 1); penalty chosen by "
           "leave-one-part-out log loss within the fitting parts; rows = (document, feature) pairs fitted.", "",
           "| combiner | penalty | rows (positives) | β present | β denied | β undecided | β near_miss | "
           "train log loss rules → fitted |", "|---|---|---|---|---|---|---|---|"]
    for name, c in items:
        fit = c.get("fitting") or {}
        b = c["model_weights"]
        ll = fit.get("train_log_loss") or {}
        out.append(f"| {name} | {(fit.get('penalty') or {}).get('penalty', '–')} | {fit.get('rows', '–')} "
                   f"({fit.get('positives', '–')}) | " + " | ".join(fmt(b[k]) for k in ("present", "denied", "undecided",
                                                                                       "near_miss"))
                   + f" | {fmt(ll.get('rules_only'))} → {fmt(ll.get('fitted'))} |")
    return out + [""]


def render_populations(report: dict[str, Any]) -> str:
    """Markdown of a populations report."""
    g = report["gate"]
    conf = report["configuration"]
    md = report["gate"].get("mean_delta_macro_f1_clean")
    out = [f"# Populations: {conf['label']} against the rules, leave one `{report['data']['by']}` out", "",
           f"- data: `{report['data']['path']}` (sha256 {report['data']['sha256'][:12]}…), parts "
           + ", ".join(report["data"]["parts"]) + "; texts: "
           + ", ".join(f"{k} ({n})" for k, n in report["data"]["variants"].items()),
           f"- task `{report['task']['name']}`; a fold fits on the other parts' `{report['fit_split']}` documents; "
           f"extractor `{conf.get('extractor')}`, rules `{(conf.get('rules_sha256') or '')[:12]}…`",
           f"- **gate ({g['rule']}): {'PASSED' if g['passed'] else 'FAILED'}**"
           + (f" — fails on {', '.join(g['failed'])}" if g["failed"] else ""),
           f"- mean Δ median macro-F1 over the clean held-out parts: {fmt(md, 3) if md is None else f'{md:+.3f}'}",
           ""]
    out += _table(report["held_out"], "Held-out parts (fitted without them)")
    out += _changes(report["held_out"])
    out += _combiners(report["folds"], report.get("final_combiner"))
    if report.get("in_population"):
        out += _table(report["in_population"],
                      "In-population: the final combiner on the test split of every part (fitted on the dev "
                      "split of every part), each text")
    return "\n".join(out)
