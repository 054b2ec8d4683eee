"""Decrypted-result snapshot of every strategy, to check that a refactoring changes no result.

    python scripts/result_snapshot.py --out /tmp/before.jsonl [--data LABELLED.jsonl --split test]
    python scripts/result_snapshot.py --out /tmp/after.jsonl ...
    python scripts/result_snapshot.py --compare /tmp/before.jsonl /tmp/after.jsonl

Runs the daemon's own ``Pipeline`` on the built-in samples (``appliance/samples/``, through the same
input parsers the daemon uses) and, when ``--data`` is given, on one split of a labelled set, with each
strategy in ``--strategies``; writes one line per (strategy, document): the result document without
its timings and creation time. ``--compare`` prints the differences (feature by feature) and exits 1
when there are any. Results stay on this machine; nothing is printed but ids, keys and values.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

VOLATILE = ("timings", "created")


def _strip(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in VOLATILE}


def _documents(data: str | None, split: str, limit: int | None):
    from importlib import resources

    from appliance.document import Document

    try:
        from appliance.inputs import parse_input
    except ImportError:  # before the input-format registry existed
        from appliance.reader import parse_input

    samples = resources.files("appliance").joinpath("samples")
    for ref in sorted(samples.iterdir(), key=lambda r: r.name):
        if ref.name.startswith(".") or not ref.is_file():
            continue
        try:
            yield "sample", parse_input(ref.read_bytes(), ref.name)
        except Exception as e:  # a sample format this version does not read
            print(f"skipped sample {ref.name}: {e.__class__.__name__}", file=sys.stderr)
    if data:
        from appliance.evaluate.data import load_labelled, select

        docs = select(load_labelled(data), split)
        for d in docs[:limit] if limit else docs:
            yield split, Document(id=d.id, text=d.text, language=d.language)


def snapshot(args) -> int:
    """Write one JSONL line per (strategy, task, document) to ``args.out``; returns the exit code (0)."""
    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings

    docs = list(_documents(args.data, args.split, args.limit))
    with open(args.out, "w", encoding="utf-8") as out:
        for strategy in args.strategies:
            for task in args.tasks:
                kw = {"task": task, "strategy": strategy, "threads": args.threads}
                if args.model:
                    kw["extractor"] = args.model
                pipe = Pipeline.load(PipelineSettings(**kw))
                for part, doc in docs:
                    result = json.loads(pipe.process(doc).model_dump_json())
                    out.write(json.dumps({"strategy": strategy, "task": task, "part": part, "id": doc.id,
                                          "result": _strip(result)}, sort_keys=True) + "\n")
                pipe.close()
                print(f"{strategy} {task}: {len(docs)} documents", file=sys.stderr, flush=True)
    return 0


def _diff(a, b, path: str, out: list[str], ignore: set[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in ignore:
                continue
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'after' if k not in a else 'before'}")
            else:
                _diff(a[k], b[k], f"{path}.{k}", out, ignore)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", out, ignore)
    elif isinstance(a, float) and isinstance(b, float):
        if abs(a - b) > 1e-9:
            out.append(f"{path}: {a} -> {b}")
    elif a != b:
        shown = (lambda v: v if not isinstance(v, str) or len(v) < 40 else f"<{len(v)} chars>")
        out.append(f"{path}: {shown(a)} -> {shown(b)}")


def compare(before: str, after: str, ignore: set[str]) -> int:
    """Print every difference between two snapshots (floats equal within 1e-9; keys in ``ignore`` left
    out); returns 1 when there is any, else 0."""
    def load(p):
        rows = {}
        for line in open(p, encoding="utf-8"):
            r = json.loads(line)
            rows[(r["strategy"], r["task"], r["part"], r["id"])] = r["result"]
        return rows

    a, b = load(before), load(after)
    diffs: list[str] = []
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            diffs.append(f"{key}: only in {'after' if key not in a else 'before'}")
            continue
        _diff(a[key], b[key], "/".join(key), diffs, ignore)
    for d in diffs:
        print(d)
    print(f"{len(set(a) & set(b))} results compared, {len(diffs)} differences", file=sys.stderr)
    return 1 if diffs else 0


def main() -> int:
    """Command line (see the module docstring); returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out")
    ap.add_argument("--data")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--strategies", nargs="+", default=["rules", "hybrid", "evidence", "json"])
    ap.add_argument("--tasks", nargs="+", default=["symptoms13", "palliative13"])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--model", default=None)
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    ap.add_argument("--ignore", nargs="*", default=[], help="Keys to leave out of the comparison.")
    args = ap.parse_args()
    if args.compare:
        return compare(*args.compare, set(args.ignore))
    if not args.out:
        ap.error("--out or --compare is needed")
    return snapshot(args)


if __name__ == "__main__":
    raise SystemExit(main())
