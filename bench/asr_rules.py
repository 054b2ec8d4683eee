#!/usr/bin/env python
"""The rule system on speech-recognition-shaped text against the same documents' clean text.

    .venv/bin/python bench/asr_rules.py                          # every plain-text variant, JSON + table
    .venv/bin/python bench/asr_rules.py --variants nopunct flat  # some variants only
    .venv/bin/python bench/asr_rules.py --errors flat fever      # dev-split FP/FN of one variant (tuning)
    .venv/bin/python bench/asr_rules.py --before OLD.json        # add a "before" column from an older run

Rewrites come from ``bench/asr_rewrite.py`` (same ids and labels, seeded by id; made in memory, never
written to the repository). Each rewrite is read the way ``appliance evaluate --data <variant>.jsonl``
reads it: ``LabelledDocument.document()`` (the daemon's input parser for its ``input_format``), then
``prepare_text`` and one ``RuleExtractor.analyse`` (what the ``rules`` strategy runs). Variants whose
format has no registered parser yet, or whose parser refuses them (``vtt``, ``srt``, ``whisper_json``
before their parsers exist), are skipped with a note.

Figures (task ``symptoms13``, the study's metrics, ``bench/rules_dev.evaluate``): median macro-F1,
MCC, sensitivity and specificity over the features, per split (``dev`` tuned on, ``test`` held out,
``all``) and per ``source_subset``; the difference against clean text of the same documents is the
figure issue #13 sets a target for (within 0.02). Writes ``bench/results/asr_rules.json`` and
``bench/results/asr_rules.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from asr_rewrite import SUFFIX, rewrite, rng_for
from rules_dev import evaluate, split_of

from appliance.errors import InputError
from appliance.evaluate.data import LabelledDocument
from appliance.inputs import is_supported
from appliance.prepared import prepare_text
from appliance.rules import RuleExtractor
from appliance.tasks import load_task

DATA = ROOT.parent / "shared" / "data" / "acibench_en_dev.jsonl"
OUT = ROOT / "bench" / "results"
VARIANTS = ("nopunct", "flat", "diarized", "diarized_roles", "vtt", "srt", "whisper_json")
GROUPS = ("dev", "test", "all")


def _text_of(row: dict, variant: str) -> str | None:
    """The text the rules read for ``row`` rewritten as ``variant`` ('clean': the source text), parsed
    by the input format of its suffix; None when that format has no parser (yet)."""
    if variant == "clean":
        return row["text"]
    fmt = SUFFIX.get(variant, ".txt")
    if not is_supported(f"document{fmt}"):
        return None
    text = rewrite(row["text"], variant, rng_for(variant, row["id"]))
    try:
        doc = LabelledDocument(id=row["id"], text=text, language=row.get("language"), labels={},
                               input_format=fmt).document()
    except InputError:  # e.g. Whisper JSON read as the appliance's own JSON before its parser exists
        return None
    return doc.text


def _predict(rx: RuleExtractor, rows: list[dict], variant: str) -> tuple[list[dict] | None, list[float]]:
    preds, ms = [], []
    for r in rows:
        text = _text_of(r, variant)
        if text is None:
            return None, []
        t0 = time.perf_counter()
        preds.append(rx.analyse(prepare_text(text, r.get("language"))).findings())
        ms.append(1000 * (time.perf_counter() - t0))
    return preds, ms


def _groups(rows: list[dict]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {g: [] for g in GROUPS}
    for i, r in enumerate(rows):
        out[split_of(r["id"])].append(i)
        out["all"].append(i)
        out.setdefault(f"subset:{r.get('source_subset') or '-'}", []).append(i)
    return out


def run(rows: list[dict], variants: list[str], task_name: str) -> dict:
    """Every variant's metrics per group (split and subset), with the clean text's as ``clean``."""
    task = load_task(task_name)
    rx = RuleExtractor(task)
    rx.warm("en")
    keys = [f.key for f in task.features if f.type == "boolean"]
    groups = _groups(rows)
    result: dict = {"generated": date.today().isoformat(), "task": task_name, "rules_hash": rx.content_hash,
                    "machine": f"{platform.machine()}, load average {_load()}", "variants": {}, "skipped": []}
    for v in ["clean", *variants]:
        preds, ms = _predict(rx, rows, v)
        if preds is None:
            result["skipped"].append(v)
            continue
        entry = {"ms_median": statistics.median(ms), "groups": {}}
        for g, idx in groups.items():
            ev = evaluate([rows[i] for i in idx], [preds[i] for i in idx], keys)
            entry["groups"][g] = ev
        result["variants"][v] = entry
    return result


def _load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def _f(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def markdown(result: dict, before: dict | None = None) -> str:
    """Tables: median macro-F1 per variant and group, the change against clean text, and (with
    ``before``) the same figures of an older run."""
    vs = result["variants"]
    groups = list(vs["clean"]["groups"])
    lines = [f"# Rules on speech-recognition-shaped text ({result['generated']})", "",
             (f"Generated by `bench/asr_rules.py`; task `{result['task']}`, rules hash "
              f"`{result['rules_hash'][:12]}`; machine {result['machine']}."), ""]
    if result["skipped"]:
        lines += [f"Skipped (no input parser for the format yet): {', '.join(result['skipped'])}.", ""]
    head = "| variant | " + " | ".join(f"{g} (n={vs['clean']['groups'][g]['n']})" for g in groups) + " |"
    for title, key in (("median macro-F1", "macro_f1"), ("median sensitivity", "sensitivity"),
                       ("median specificity", "specificity")):
        lines += [f"**{title}** (change against clean text in brackets)", "", head,
                  "|---|" + "---|" * len(groups)]
        for v, e in vs.items():
            cells = []
            for g in groups:
                x = e["groups"][g]["median"][key]
                c = vs["clean"]["groups"][g]["median"][key]
                cell = _f(x)
                if v != "clean" and x is not None and c is not None:
                    cell += f" ({_f(x - c, True)})"
                if before and v in before["variants"] and g in before["variants"][v]["groups"]:
                    b = before["variants"][v]["groups"][g]["median"][key]
                    cell += f"; before {_f(b)}"
                cells.append(cell)
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Rule time per document (median ms, wall): "
              + ", ".join(f"{v} {e['ms_median']:.1f}" for v, e in vs.items()) + ".", ""]
    return "\n".join(lines)


def errors(rows: list[dict], variant: str, key: str, task_name: str) -> None:
    """Print the dev-split documents where ``variant`` is wrong on ``key`` and the clean text is not, or
    the other way round, with the rules' evidence sentences (tuning aid; never the test split)."""
    task = load_task(task_name)
    rx = RuleExtractor(task)
    dev = [r for r in rows if split_of(r["id"]) == "dev"]
    for r in dev:
        gold = bool(r["labels"].get(key))
        got = {}
        for v in ("clean", variant):
            text = _text_of(r, v)
            got[v] = (rx.analyse(prepare_text(text, r.get("language"))).findings()[key], text)
        if (got["clean"][0].value == gold) == (got[variant][0].value == gold):
            continue
        print(f"== {r['id']} gold={gold} clean={got['clean'][0].status} {variant}={got[variant][0].status}")
        for v in ("clean", variant):
            for s in got[v][0].evidence[:4]:
                print(f"  [{v}] {s.assertion} q={s.question} {s.speaker}: {s.sentence[:200]!r}"
                      + (f" -> {s.answer[:80]!r}" if s.answer else ""))


def main() -> int:
    """Command line (see the module docstring); returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--task", default="symptoms13")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--out", type=Path, default=OUT, help="Folder for asr_rules.json / asr_rules.md.")
    ap.add_argument("--before", type=Path, help="An older asr_rules.json to show next to this run.")
    ap.add_argument("--errors", nargs=2, metavar=("VARIANT", "FEATURE"))
    args = ap.parse_args()
    with open(args.data, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if args.errors:
        errors(rows, args.errors[0], args.errors[1], args.task)
        return 0
    result = run(rows, args.variants, args.task)
    before = json.loads(args.before.read_text(encoding="utf-8")) if args.before else None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "asr_rules.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    md = markdown(result, before)
    (args.out / "asr_rules.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
