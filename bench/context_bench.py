#!/usr/bin/env python
"""Sentence-level assertion benchmark (issue #17): is each finding present now, for the patient?

    .venv/bin/python bench/context_bench.py                          # rules + hybrid, writes JSON, table, docs
    .venv/bin/python bench/context_bench.py --strategies rules       # rules only (seconds)
    .venv/bin/python bench/context_bench.py --errors                 # the tuning part's errors (rules)

Data: ``bench/context/sentences.{en,fa}.txt``, one item per line, ``feature=label ... | text`` (labels:
present, negated, historical, hypothetical, other = another person, uncertain). Written for this project,
English lines marked ``@acibench:<id>`` derived from the ACI-Bench development transcripts (development
split only; CC BY 4.0) and labelled by hand. Every (sentence, feature) pair is one case.

Parts: **held-out** = ``sha256(lang + "\\0" + text) % 10 < 3``: never looked at while the rules were
tuned (``--errors`` refuses it); **tuning** = the rest. Figures are given for both and for all.

Each sentence runs on its own through the real ``Pipeline`` (``Pipeline.load``; task ``symptoms13``, the
document's language given), once with strategy ``rules`` and once with the default ``hybrid`` (the
SmolLM2 bundle under ``APPLIANCE_MODELS_DIR`` or ``--models``). Metrics:

* **accuracy**: the feature's value is True exactly when the label is ``present`` ("present now, for the
  patient"), with sensitivity and specificity of that;
* **per modifier** precision / recall: the predicted class is the rule pre-pass's status (absent ->
  negated, history_only -> historical, hypothetical, family -> other, uncertain, present); for ``hybrid``
  a True value is ``present`` and a False one the rule status, where a rule ``present`` turned False by the
  model counts as no class ("dropped"). A feature the rules did not find at all is "missed".

Outputs: ``bench/results/context_bench.json``, ``bench/results/context_bench.md`` and the block between
the ``<!-- context-bench:begin -->`` / ``<!-- context-bench:end -->`` markers of docs/rules-baseline.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

DATA = ROOT / "bench" / "context"
OUT = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "rules-baseline.md"
BEGIN, END = "<!-- context-bench:begin -->", "<!-- context-bench:end -->"
LABELS = ("present", "negated", "historical", "hypothetical", "other", "uncertain")
MODIFIERS = ("negated", "historical", "hypothetical", "other", "uncertain")
STATUS_CLASS = {"present": "present", "absent": "negated", "history_only": "historical",
                "hypothetical": "hypothetical", "family": "other", "uncertain": "uncertain",
                "not_mentioned": "missed"}
_LINE = re.compile(r"^((?:\w+=\w+\s*)+)\|\s*(.+?)\s*$")
_SOURCE = re.compile(r"\s*@(acibench:\S+)\s*$")


def heldout(lang: str, text: str) -> bool:
    """The held-out part: ``sha256(lang + NUL + text) % 10 < 3``."""
    return int(hashlib.sha256(f"{lang}\0{text}".encode()).hexdigest(), 16) % 10 < 3


def load_items(langs: tuple[str, ...] = ("en", "fa")) -> list[dict]:
    """Sentences as dicts: id, lang, text (``\\n`` decoded), labels {feature: label}, section, source,
    part ('heldout' / 'tuning'). Raises ValueError on a malformed line or an unknown label."""
    items = []
    for lang in langs:
        section = ""
        for n, raw in enumerate((DATA / f"sentences.{lang}.txt").read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            if line.startswith("## "):
                section = line[3:].split(":")[0].strip()
            if not line or line.startswith("#"):
                continue
            m = _LINE.match(line)
            if not m:
                raise ValueError(f"sentences.{lang}.txt:{n}: not 'feature=label ... | text'")
            text, source = m.group(2), "written"
            s = _SOURCE.search(text)
            if s:
                text, source = text[: s.start()], s.group(1)
            labels = dict(p.split("=") for p in m.group(1).split())
            bad = [v for v in labels.values() if v not in LABELS]
            if bad:
                raise ValueError(f"sentences.{lang}.txt:{n}: unknown label {bad}")
            text = text.replace("\\n", "\n")
            items.append({"id": f"{lang}-{n}", "lang": lang, "text": text, "labels": labels, "section": section,
                          "source": source, "part": "heldout" if heldout(lang, text) else "tuning"})
    return items


def run_rules_status(items: list[dict]) -> list[dict[str, str]]:
    """The rule pre-pass's status per feature of every item (``RuleExtractor``, as the strategies run it)."""
    from appliance.rules import RuleExtractor
    from appliance.tasks import load_task

    rx = RuleExtractor(load_task("symptoms13"))
    return [{k: f.status for k, f in rx.extract(it["text"], it["lang"]).items()} for it in items]


def run_pipeline(items: list[dict], strategy: str, models: Path | None) -> tuple[list[dict[str, tuple]], dict]:
    """(value, score) per feature of every item through ``Pipeline.load(...).process``; and run facts."""
    from appliance.document import Document
    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings

    kw = {"models_dir": models} if models else {}
    pipe = Pipeline.load(PipelineSettings(task="symptoms13", strategy=strategy, **kw))
    out, t0 = [], time.perf_counter()
    for it in items:
        res = pipe.process(Document(id=it["id"], text=it["text"], language=it["lang"]))
        out.append({k: (bool(f.value), f.score) for k, f in res.features.items() if isinstance(f.value, bool)})
    facts = {"seconds": round(time.perf_counter() - t0, 1), "models": [m.model_dump() for m in pipe.models]}
    pipe.close()
    return out, facts


def score(cases: list[dict]) -> dict:
    """Accuracy, sensitivity, specificity of 'present now' and per-class precision/recall over ``cases``
    (each: gold label, value, predicted class)."""
    n = len(cases)
    ok = sum(c["value"] == (c["gold"] == "present") for c in cases)
    pos = [c for c in cases if c["gold"] == "present"]
    neg = [c for c in cases if c["gold"] != "present"]
    res: dict = {"n": n, "accuracy": ok / n if n else None,
                 "sensitivity": sum(c["value"] for c in pos) / len(pos) if pos else None,
                 "specificity": sum(not c["value"] for c in neg) / len(neg) if neg else None, "classes": {}}
    for cls in ("present",) + MODIFIERS:
        gold = sum(c["gold"] == cls for c in cases)
        pred = sum(c["pred"] == cls for c in cases)
        tp = sum(c["gold"] == cls and c["pred"] == cls for c in cases)
        res["classes"][cls] = {"gold": gold, "predicted": pred, "tp": tp,
                               "precision": tp / pred if pred else None, "recall": tp / gold if gold else None}
    res["confusion"] = dict(Counter(f"{c['gold']}->{c['pred']}" for c in cases))
    return res


def cases_for(items: list[dict], statuses: list[dict], values: list[dict] | None) -> list[dict]:
    """One case per (item, labelled feature): gold, value, predicted class (module docstring)."""
    cases = []
    for it, st, val in zip(items, statuses, values or [None] * len(items)):
        for k, gold in it["labels"].items():
            rule_cls = STATUS_CLASS[st[k]]
            score = None
            if val is None:
                value, pred = rule_cls == "present", rule_cls
            else:
                value, score = val[k]
                pred = "present" if value else ("dropped" if rule_cls == "present" else rule_cls)
            cases.append({"id": it["id"], "lang": it["lang"], "part": it["part"], "feature": k, "gold": gold,
                          "value": value, "pred": pred, "score": score, "text": it["text"]})
    return cases


def report(cases: list[dict]) -> dict:
    """``score`` for all cases and per part, language and part x language."""
    groups = {"all": cases}
    for part in ("tuning", "heldout"):
        groups[part] = [c for c in cases if c["part"] == part]
        for lang in ("en", "fa"):
            groups[f"{part}/{lang}"] = [c for c in cases if c["part"] == part and c["lang"] == lang]
    for lang in ("en", "fa"):
        groups[lang] = [c for c in cases if c["lang"] == lang]
    return {g: score(cs) for g, cs in groups.items() if cs}


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def markdown(result: dict) -> str:
    """The generated block: headline per strategy and part, then per-modifier precision / recall."""
    intro = (f"Generated by `bench/context_bench.py` ({result['generated']}); {result['sentences']} sentences, "
             f"{result['cases']} (sentence, feature) cases; held-out part: {result['heldout_cases']} cases never "
             "used for tuning.")
    header = ("| strategy | part | cases | accuracy (present now) | sensitivity | specificity | negation P "
              "| negation R |")
    lines = [BEGIN, "", intro, "", header, "|---|---|---|---|---|---|---|---|"]
    for strat, rep in result["strategies"].items():
        for g in ("all", "tuning", "heldout", "en", "fa", "heldout/en", "heldout/fa"):
            if g not in rep:
                continue
            s = rep[g]
            ng = s["classes"]["negated"]
            lines.append(f"| {strat} | {g} | {s['n']} | {_f(s['accuracy'])} | {_f(s['sensitivity'])} | "
                         f"{_f(s['specificity'])} | {_f(ng['precision'])} | {_f(ng['recall'])} |")
    before = result.get("before")
    if before:
        intro = (f"Before: `{before['label']}`, the same sentences and script run on "
                 f"{before.get('code') or 'an earlier checkout'}:")
        header = ("| strategy | accuracy all | accuracy held-out | negation P | negation R | now: accuracy all "
                  "| now: held-out |")
        lines += ["", intro, "", header, "|---|---|---|---|---|---|---|"]
        for strat, rep in before["strategies"].items():
            now = result["strategies"].get(strat)
            ng = rep["all"]["classes"]["negated"]
            lines.append(f"| {strat} | {_f(rep['all']['accuracy'])} | {_f(rep['heldout']['accuracy'])} | "
                         f"{_f(ng['precision'])} | {_f(ng['recall'])} | "
                         f"{_f(now['all']['accuracy']) if now else '–'} | {_f(now['heldout']['accuracy']) if now else '–'} |")
    for strat, rep in result["strategies"].items():
        lines += ["", f"**{strat}**, per class (precision / recall; gold count), all / held-out:", "",
                  "| class | all P | all R | all n | held-out P | held-out R | held-out n |", "|---|---|---|---|---|---|---|"]
        for cls in ("present",) + MODIFIERS:
            a, h = rep["all"]["classes"][cls], rep.get("heldout", rep["all"])["classes"][cls]
            lines.append(f"| {cls} | {_f(a['precision'])} | {_f(a['recall'])} | {a['gold']} | "
                         f"{_f(h['precision'])} | {_f(h['recall'])} | {h['gold']} |")
    lines += ["", END]
    return "\n".join(lines)


def write_doc(md: str) -> None:
    """Replace the marked block of docs/rules-baseline.md (appended when the markers are missing)."""
    text = DOC.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + md + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + md + "\n"
    DOC.write_text(text, encoding="utf-8")


def main() -> int:
    """Command line (module docstring); returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategies", default="rules,hybrid")
    ap.add_argument("--models", type=Path, default=None, help="models folder (default: APPLIANCE_MODELS_DIR)")
    ap.add_argument("--errors", action="store_true", help="print the tuning part's rule errors and stop")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON here only (no table, no docs)")
    ap.add_argument("--before", type=Path, default=OUT / "context_bench_before.json",
                    help="an earlier run's JSON (--out), shown next to this one")
    ap.add_argument("--render", action="store_true",
                    help="only re-render the table and docs from bench/results/context_bench.json")
    args = ap.parse_args()

    if args.render:
        result = json.loads((OUT / "context_bench.json").read_text(encoding="utf-8"))
        _add_before(result, args.before)
        _write(result)
        return 0
    items = load_items()
    statuses = run_rules_status(items)
    if args.errors:
        for c in cases_for(items, statuses, None):
            if c["part"] == "tuning" and (c["pred"] != c["gold"]):
                flag = "VALUE" if c["value"] != (c["gold"] == "present") else "class"
                print(f"{flag:5s} {c['id']:7s} {c['feature']:16s} gold={c['gold']:12s} pred={c['pred']:12s} "
                      f"{c['text'][:150]!r}")
        return 0
    result = {"generated": time.strftime("%Y-%m-%d"), "task": "symptoms13", "sentences": len(items),
              "cases": sum(len(i["labels"]) for i in items),
              "heldout_cases": sum(len(i["labels"]) for i in items if i["part"] == "heldout"),
              "heldout_rule": "sha256(lang + NUL + text) % 10 < 3", "strategies": {}, "runs": {}, "errors": {}}
    for strat in [s.strip() for s in args.strategies.split(",") if s.strip()]:
        values, facts = run_pipeline(items, strat, args.models)
        if strat == "rules":  # the pipeline's rules values are the rule statuses' values, or the bench is wrong
            assert all(v[k][0] == (st[k] == "present") for v, st in zip(values, statuses) for k in st)
        cases = cases_for(items, statuses, values)
        result["strategies"][strat] = report(cases)
        result["runs"][strat] = facts
        result["scores"] = result.get("scores", {})
        result["scores"][strat] = [[c["id"], c["feature"], c["gold"], c["pred"], c["score"]] for c in cases]
        result["errors"][strat] = [{k: c[k] for k in ("id", "part", "feature", "gold", "pred", "score")}
                                   for c in cases if c["value"] != (c["gold"] == "present")]
        a = result["strategies"][strat]
        print(f"{strat:7s} accuracy all {_f(a['all']['accuracy'])}  tuning {_f(a['tuning']['accuracy'])}  "
              f"held-out {_f(a['heldout']['accuracy'])}  negation P {_f(a['all']['classes']['negated']['precision'])}"
              f" R {_f(a['all']['classes']['negated']['recall'])}  ({facts['seconds']} s)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return 0
    _add_before(result, args.before)
    _write(result)
    return 0


def _add_before(result: dict, path: Path | None) -> None:
    """Attach the headline figures of an earlier run (``--before``), when its file exists."""
    if path is None or not path.is_file():
        return
    b = json.loads(path.read_text(encoding="utf-8"))
    result["before"] = {"label": path.name, "generated": b.get("generated"), "code": b.get("code"),
                        "strategies": {s: {g: r[g] for g in ("all", "tuning", "heldout") if g in r}
                                       for s, r in b["strategies"].items()}}


def _write(result: dict) -> None:
    """bench/results/context_bench.json and .md, and the block in docs/rules-baseline.md."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "context_bench.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    md = markdown(result)
    (OUT / "context_bench.md").write_text(md.replace(BEGIN, "").replace(END, "").strip() + "\n", encoding="utf-8")
    write_doc(md)


if __name__ == "__main__":
    raise SystemExit(main())
