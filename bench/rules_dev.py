#!/usr/bin/env python
"""Rule baseline on the ACI-Bench development set, on a fixed split by id.

    .venv/bin/python bench/rules_dev.py                       # both splits, writes JSON + Markdown
    .venv/bin/python bench/rules_dev.py --errors dev fever    # list dev-split FP/FN for tuning

Split (fixed, by id): ``int(sha256(id).hexdigest(), 16) % 10 < 7`` -> 'dev' (tune here), else 'test'
(held out: reported, never tuned on; ``--errors`` refuses it).

Metrics per feature, as in the study: TP/FP/TN/FN, sensitivity, specificity, two-class macro-F1 (mean
of the F1 of the positive and of the negative class), MCC; the headline is the median over features.
A feature whose split has no positive (or no negative) document still gets its counts; metrics that
are undefined there are reported as null and left out of the median.

Outputs: ``bench/results/rules_dev.json`` and the generated table section of ``docs/rules-baseline.md``
(between the ``<!-- rules-dev:begin -->`` / ``<!-- rules-dev:end -->`` markers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance.rules import RuleExtractor
from appliance.tasks import load_task

DATA = ROOT.parent / "shared" / "data" / "acibench_en_dev.jsonl"
OUT_JSON = ROOT / "bench" / "results" / "rules_dev.json"
DOC = ROOT / "docs" / "rules-baseline.md"
BEGIN, END = "<!-- rules-dev:begin -->", "<!-- rules-dev:end -->"


def split_of(doc_id: str) -> str:
    """'dev' or 'test' by the rule in the module docstring (the same as ``appliance.evaluate.split``)."""
    return "dev" if int(hashlib.sha256(doc_id.encode()).hexdigest(), 16) % 10 < 7 else "test"


def _div(a: float, b: float) -> float | None:
    return a / b if b else None


def metrics(tp: int, fp: int, tn: int, fn: int) -> dict:
    """The counts plus sensitivity, specificity, macro-F1 and MCC; a rate is None when its denominator is
    0, and macro-F1 and MCC are None when either gold class is absent (kept out of medians)."""
    sens = _div(tp, tp + fn)
    spec = _div(tn, tn + fp)
    f1_pos = _div(2 * tp, 2 * tp + fp + fn)
    f1_neg = _div(2 * tn, 2 * tn + fn + fp)
    macro = (f1_pos + f1_neg) / 2 if f1_pos is not None and f1_neg is not None else None
    den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = (tp * tn - fp * fn) / den if den else (0.0 if (tp + fn) and (tn + fp) else None)
    if not (tp + fn) or not (tn + fp):
        macro = None  # one class absent from the gold labels: not comparable, left out of medians
        mcc = None
    return {
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "sensitivity": sens,
        "specificity": spec,
        "macro_f1": macro,
        "mcc": mcc,
    }


def evaluate(rows: list[dict], preds: list[dict], keys: list[str]) -> dict:
    """Per-feature metrics of ``preds`` (feature → rule finding) against ``rows``' labels, and the median
    of each headline metric over the features where it is defined. A null label counts as False."""
    per = {}
    for k in keys:
        tp = fp = tn = fn = 0
        for r, p in zip(rows, preds):
            g, y = bool(r["labels"][k]), bool(p[k].value)
            tp += g and y
            fp += (not g) and y
            tn += (not g) and (not y)
            fn += g and (not y)
        per[k] = metrics(tp, fp, tn, fn)
    med = {}
    for m in ("macro_f1", "mcc", "sensitivity", "specificity"):
        vals = [v[m] for v in per.values() if v[m] is not None]
        med[m] = statistics.median(vals) if vals else None
    return {"n": len(rows), "features": per, "median": med}


def bootstrap_median_f1(
    rows: list[dict], preds: list[dict], keys: list[str], n: int = 1000, seed: int = 0
) -> tuple[float | None, float | None]:
    """95% percentile interval of the median macro-F1 over documents resampled with replacement:
    how much of a difference between two figures is noise on a set this small."""
    import random

    rng = random.Random(seed)
    gold = [[bool(r["labels"][k]) for k in keys] for r in rows]
    pred = [[bool(p[k].value) for k in keys] for p in preds]
    meds = []
    for _ in range(n):
        idx = [rng.randrange(len(rows)) for _ in rows]
        f1s = []
        for j in range(len(keys)):
            tp = fp = tn = fn = 0
            for i in idx:
                g, y = gold[i][j], pred[i][j]
                tp += g and y
                fp += (not g) and y
                tn += (not g) and (not y)
                fn += g and (not y)
            m = metrics(tp, fp, tn, fn)["macro_f1"]
            if m is not None:
                f1s.append(m)
        if f1s:
            meds.append(statistics.median(f1s))
    if not meds:
        return None, None
    meds.sort()
    return meds[int(0.025 * len(meds))], meds[min(len(meds) - 1, int(0.975 * len(meds)))]


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def markdown(result: dict) -> str:
    """The block between the ``rules-dev`` markers of docs/rules-baseline.md: split summary and per-feature
    tables."""
    lines = [
        BEGIN,
        "",
        (
            f"Generated by `bench/rules_dev.py` ({result['generated']}); task `{result['task']}`, "
            f"data `{result['data']}`."
        ),
        "",
    ]
    lines.append(
        "| split | documents | median macro-F1 | median MCC | median sensitivity | median specificity "
        "| 95% CI of median macro-F1 | wall ms/document (median, p95) | CPU ms/document (median) |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for name in ("dev", "test", "all"):
        s = result["splits"][name]
        m = s["median"]
        lo, hi = s["median_macro_f1_ci95"]
        lines.append(
            f"| {name} | {s['n']} | {_f(m['macro_f1'])} | {_f(m['mcc'])} | {_f(m['sensitivity'])} | "
            f"{_f(m['specificity'])} | {_f(lo)}–{_f(hi)} | {s['ms_median']:.1f}, {s['ms_p95']:.1f} | "
            f"{s['cpu_ms_median']:.1f} |"
        )
    if result.get("subsets"):
        before = result.get("before") or {}
        lines += ["", "Median macro-F1 per split and `source_subset`"
                  + (f" (before: `{before['label']}`)" if before else "") + ":", "",
                  "| split / subset | documents | median macro-F1 | median MCC |"
                  + (" before: macro-F1 | before: MCC |" if before else ""),
                  "|---|---|---|---|" + ("---|---|" if before else "")]
        rows = [(n, result["splits"][n]) for n in ("dev", "test", "all")] + sorted(result["subsets"].items())
        for name, s in rows:
            b = (before.get("subsets", {}) | before.get("splits", {})).get(name)
            extra = f" {_f(b['median']['macro_f1'])} | {_f(b['median']['mcc'])} |" if b else ""
            lines.append(f"| {name} | {s['n']} | {_f(s['median']['macro_f1'])} | {_f(s['median']['mcc'])} |{extra}")
    lines += [
        "",
        (
            f"Median document length: {result['splits']['all']['chars_median']:.0f} characters. "
            "Timings exclude the one-off pipeline build; wall time depends on the load of the machine "
            f"({result['machine']}), CPU time much less."
        ),
    ]
    for name in ("dev", "test"):
        s = result["splits"][name]
        lines += [
            "",
            f"**{name} split**, per feature:",
            "",
            "| feature | TP | FP | TN | FN | sensitivity | specificity | macro-F1 | MCC |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for k, v in s["features"].items():
            lines.append(
                f"| {k} | {v['tp']} | {v['fp']} | {v['tn']} | {v['fn']} | {_f(v['sensitivity'])} | "
                f"{_f(v['specificity'])} | {_f(v['macro_f1'])} | {_f(v['mcc'])} |"
            )
    lines += ["", END]
    return "\n".join(lines)


def write_doc(md: str) -> None:
    """Replace the marked block of docs/rules-baseline.md with ``md`` (appended when the markers are
    missing; the file is created when absent)."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Rule baseline\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + md + tail
    else:
        text = text.rstrip() + "\n\n" + md + "\n"
    DOC.write_text(text, encoding="utf-8")


def main() -> int:
    """Command line (see the module docstring); returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--task", default="symptoms13")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write JSON / Markdown")
    ap.add_argument("--before", type=Path, default=None,
                    help="an earlier run's JSON (--out): its figures go next to these in the per-subset table")
    ap.add_argument("--out", type=Path, default=None,
                    help="write the JSON here (and nothing else), e.g. for a before/after comparison")
    ap.add_argument(
        "--errors",
        nargs="+",
        metavar=("SPLIT", "FEATURE"),
        help="print the dev split's false positives/negatives (optionally for some features)",
    )
    args = ap.parse_args()

    task = load_task(args.task)
    rx = RuleExtractor(task)
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    keys = [f.key for f in task.features if f.type == "boolean" and all(f.key in r["labels"] for r in rows)]

    import os as _os

    load0 = _os.getloadavg()[0]
    rx.extract("warm up", "en")  # build the pipeline outside the timings
    preds, ms, cpu = [], [], []
    for r in rows:
        t0, c0 = time.perf_counter(), time.process_time()
        preds.append(rx.extract(r["text"], r.get("language") or "en"))
        ms.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)

    if args.errors:
        split = args.errors[0]
        if split != "dev":
            print("--errors is for the dev split only: the test split is held out.", file=sys.stderr)
            return 2
        want = set(args.errors[1:]) or set(keys)
        for r, p in zip(rows, preds):
            if split_of(r["id"]) != "dev":
                continue
            for k in keys:
                if k not in want:
                    continue
                g, f = bool(r["labels"][k]), p[k]
                if g != f.value:
                    kind = "FN" if g else "FP"
                    print(f"== {kind} {k} {r['id']} gold={r['label_status'][k]} pred={f.status}")
                    for e in f.evidence[:6]:
                        ans = f"  -> {e.answer!r}" if e.answer is not None else ""
                        print(
                            f"   [{e.assertion}/{e.speaker}{'/Q' if e.question else ''}] {e.sentence[:200]!r}{ans[:120]}"
                        )
                    if kind == "FN":
                        for ev in (r.get("label_evidence") or {}).get(k, [])[:2]:
                            print(f"   note: {str(ev)[:200]!r}")
        return 0

    import os
    import platform

    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load0:.1f} at the start"
    result = {
        "task": task.name,
        "data": args.data.name,
        "generated": time.strftime("%Y-%m-%d"),
        "machine": machine,
        "split_rule": "int(sha256(id).hexdigest(), 16) % 10 < 7 -> dev, else test",
        "splits": {},
    }
    for name in ("dev", "test", "all"):
        idx = [i for i, r in enumerate(rows) if name == "all" or split_of(r["id"]) == name]
        s = evaluate([rows[i] for i in idx], [preds[i] for i in idx], keys)
        t = sorted(ms[i] for i in idx)
        s["ms_median"] = statistics.median(t)
        s["ms_p95"] = t[min(len(t) - 1, round(0.95 * (len(t) - 1)))]
        s["ms_mean"] = statistics.fmean(t)
        s["median_macro_f1_ci95"] = bootstrap_median_f1([rows[i] for i in idx], [preds[i] for i in idx], keys)
        s["cpu_ms_median"] = statistics.median(cpu[i] for i in idx)
        s["chars_median"] = statistics.median(len(rows[i]["text"]) for i in idx)
        result["splits"][name] = s
    result["subsets"] = {}
    for name in ("dev", "test", "all"):
        for sub in sorted({r.get("source_subset") or "-" for r in rows}):
            idx = [i for i, r in enumerate(rows) if (name == "all" or split_of(r["id"]) == name)
                   and (r.get("source_subset") or "-") == sub]
            if idx:
                result["subsets"][f"{name}/{sub}"] = evaluate([rows[i] for i in idx], [preds[i] for i in idx], keys)
    for name, s in result["subsets"].items():
        print(f"  {name:18s} n={s['n']:3d}  macro-F1 {_f(s['median']['macro_f1'])}  MCC {_f(s['median']['mcc'])}")
    for name in ("dev", "test", "all"):
        s = result["splits"][name]
        m = s["median"]
        print(
            f"{name:5s} n={s['n']:3d}  macro-F1 {_f(m['macro_f1'])}  MCC {_f(m['mcc'])}  "
            f"sens {_f(m['sensitivity'])}  spec {_f(m['specificity'])}  {s['ms_median']:.1f} ms/doc (CPU {s['cpu_ms_median']:.1f})  "
            f"95% CI of median macro-F1 {_f(s['median_macro_f1_ci95'][0])}-{_f(s['median_macro_f1_ci95'][1])}"
        )
    if args.before is not None:
        b = json.loads(args.before.read_text(encoding="utf-8"))
        result["before"] = {"label": args.before.name, "generated": b.get("generated"),
                            "splits": {k: {"n": v["n"], "median": v["median"]} for k, v in b["splits"].items()},
                            "subsets": {k: {"n": v["n"], "median": v["median"]}
                                        for k, v in b.get("subsets", {}).items()}}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    elif not args.no_write:
        OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
        OUT_JSON.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        write_doc(markdown(result))
    else:
        for k, v in result["splits"]["dev"]["features"].items():
            print(
                f"  {k:16s} TP{v['tp']:4d} FP{v['fp']:4d} TN{v['tn']:4d} FN{v['fn']:4d}  F1 {_f(v['macro_f1'])}  MCC {_f(v['mcc'])}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
