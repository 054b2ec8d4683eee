"""Time per document of each extraction strategy through the daemon's own Pipeline (docs/accuracy.md).

    python scripts/strategy_speed.py --data LABELLED.jsonl --task symptoms13 --split test --limit 20 \
        --threads 1 --model smollm2-135m-instruct rules evidence hybrid json

Per strategy: the pipeline is loaded (not timed), then the first ``--limit`` documents of the split are
processed one at a time. Reported: wall seconds and *process CPU* seconds per document (median, mean).
On a machine shared with other work the wall time grows with the load while the CPU time barely does,
so with ``--threads 1`` the CPU time is a load-independent estimate of one core's cost:
documents/hour on one core ≈ 3600 / CPU s, and a 2-core box runs two documents at once (or two threads).
Prints a JSON line per strategy; no patient text is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    """Command line (see the module docstring); prints one JSON line per strategy, returns 0."""
    ap = argparse.ArgumentParser()
    ap.add_argument("strategies", nargs="+")
    ap.add_argument("--data", required=True)
    ap.add_argument("--task", default="symptoms13")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default=None, help="Extractor bundle (default: the pipeline's default).")
    args = ap.parse_args()

    from appliance.document import Document
    from appliance.evaluate.data import load_labelled, select
    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings

    docs = select(load_labelled(args.data), args.split)[: args.limit]
    for strategy in args.strategies:
        kw = {"task": args.task, "strategy": strategy, "threads": args.threads}
        if args.model:
            kw["extractor"] = args.model
        pipe = Pipeline.load(PipelineSettings(**kw))
        wall, cpu = [], []
        for d in docs:
            w0, c0 = time.perf_counter(), time.process_time()
            pipe.process(Document(id=d.id, text=d.text, language=d.language))
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        pipe.close()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        print(json.dumps({
            "strategy": strategy, "model": args.model, "threads": args.threads, "documents": len(docs),
            "wall_s": {"median": round(statistics.median(wall), 3), "mean": round(statistics.mean(wall), 3)},
            "cpu_s": {"median": round(statistics.median(cpu), 3), "mean": round(statistics.mean(cpu), 3)},
            "docs_per_hour_one_core_cpu": round(3600 / statistics.mean(cpu)) if statistics.mean(cpu) else None,
            "load_average_1min": round(load, 2) if load is not None else None,
        }), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
