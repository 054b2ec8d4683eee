#!/usr/bin/env python
"""Speed benchmark (issue 6): the appliance against llama.cpp and HF transformers, same model, same task,
same prompts, same documents, same machine, one run.

    bench/run.sh                          # == .venv/bin/python bench/speed.py (everything, ~1 h on 2 cores)
    python bench/speed.py --limit 1       # smoke run
    python bench/speed.py --engines appliance-json,llamacpp --limit 5

Writes bench/results/speed.json and bench/results/speed.md (--out DIR for elsewhere). Needs the default
bundle (``appliance-export default --models-dir .cache/models``) and, for the other engines, bench/setup.sh
(llama-cpp-python) and the export extras (torch, transformers). Each engine runs in its own process,
one after the other; this process imports nothing heavy, so its own memory does not disturb the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _speed_engines import APPLIANCE_ENGINES, ENGINES, QUIET_CORES  # noqa: E402

DEFAULT_DATA = Path("/work/shared/data/acibench_en_dev.jsonl")
DEFAULT_BUNDLE = "smollm2-135m-instruct"
TARGET_SPEEDUP = 2.0          # appliance documents/hour >= 2x llama.cpp's
TARGET_RSS_MARGIN_MB = 400    # appliance peak RSS <= bundle size + 400 MB
MB = 1_000_000

LABELS = {
    "appliance-json": "appliance, json (prefix reuse + fast-forward on)",
    "appliance-evidence": "appliance, evidence",
    "appliance-hybrid": "appliance, hybrid (evidence + rules)",
    "appliance-rules": "appliance, rules (the default strategy: no model)",
    "appliance-json-noreuse": "appliance, json, prefix reuse off",
    "appliance-json-noff": "appliance, json, fast-forward off",
    "llamacpp": "llama.cpp, JSON-schema grammar, no prompt cache",
    "llamacpp-cache": "llama.cpp, JSON-schema grammar, prefix state cached",
    "hf": "transformers fp32 (torch CPU), constrained greedy",
}


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for dist in ("clinical-appliance", "onnxruntime", "onnxruntime-genai", "llama_cpp_python", "torch",
                 "transformers", "numpy", "tokenizers"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _machine() -> dict:
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "mem_total_bytes": mem,
        "platform": platform.platform(),
    }


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _machine_cpu_s() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine since boot, all CPUs (/proc/stat). Stolen time is
    time the hypervisor gave to other virtual machines."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    hz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / hz, steal / hz


def _wait_quiet(max_wait_s: float, threshold_cores: float = 0.3, window_s: float = 10.0) -> dict:
    """Wait (at most max_wait_s) until the other processes on the machine use under threshold_cores for
    window_s seconds. Nothing is changed or stopped; the wait and what was seen are recorded."""
    t0 = time.perf_counter()
    seen = None
    while True:
        b0, s0 = _machine_cpu_s(), time.process_time()
        time.sleep(window_s)
        b1 = _machine_cpu_s()
        seen = max(0.0, (b1[0] - b0[0] - (time.process_time() - s0)) / window_s)
        waited = time.perf_counter() - t0
        if seen < threshold_cores or waited >= max_wait_s:
            return {"waited_s": waited, "other_cores_last_window": seen, "quiet": seen < threshold_cores}


def _spawn(mode: str, spec: dict, work: Path, log: Path) -> tuple[dict | None, dict]:
    """Run one child; return (its JSON or None, process facts from wait4)."""
    spec = {**spec, "t_spawn": time.time()}
    spec_path = work / f"spec-{mode}.json"
    out_path = work / f"out-{mode}.json"
    out_path.unlink(missing_ok=True)
    spec_path.write_text(json.dumps(spec))
    load_before = os.getloadavg()
    (busy0, steal0), self0 = _machine_cpu_s(), time.process_time()
    loads: list[float] = []
    t0 = time.perf_counter()
    with open(log, "a") as lf:
        lf.write(f"\n==== {mode} {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        lf.flush()
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parent / "_speed_engines.py"),
                                 mode, str(spec_path), str(out_path)], stdout=lf, stderr=lf, cwd=REPO,
                                env=os.environ.copy())
        while True:  # wait4 gives this child's own rusage (peak RSS, CPU), not the max over all children
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            loads.append(os.getloadavg()[0])
            time.sleep(1.0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    busy1, steal1 = _machine_cpu_s()
    busy, steal = busy1 - busy0, steal1 - steal0
    child_cpu = ru.ru_utime + ru.ru_stime
    facts = {
        "returncode": proc.returncode,
        "wall_s": wall,
        "ru_maxrss_bytes": ru.ru_maxrss * 1024,
        "cpu_user_s": ru.ru_utime,
        "cpu_sys_s": ru.ru_stime,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "loadavg_1min_mean_during": statistics.fmean(loads) if loads else None,
        # CPU time all other processes on the machine used meanwhile, in cores (0 = the machine was ours)
        "other_processes_cores": max(0.0, (busy - child_cpu - (time.process_time() - self0)) / wall) if wall else None,
        "stolen_cores": steal / wall if wall else None,
    }
    data = json.loads(out_path.read_text()) if proc.returncode == 0 and out_path.is_file() else None
    return data, facts


def _summary(engine: str, data: dict, facts: dict) -> dict:
    docs = data["documents"]
    n = len(docs)
    total = sum(d["seconds"] for d in docs)
    pre_tok = sum(d["prefill_tokens"] for d in docs)
    pre_s = sum(d["prefill_s"] for d in docs)
    ans_tok = sum(d["answer_tokens"] for d in docs)
    dec_s = sum(d["decode_s"] for d in docs)
    steps = sum(d["steps"] for d in docs)
    hwm = data.get("vm_hwm_kb")
    quiet = [d for d in docs if d.get("others_cores") is not None and d["others_cores"] < QUIET_CORES]
    quiet_s = sum(d["seconds"] for d in quiet)
    return {
        "engine": engine,
        "label": LABELS.get(engine, engine),
        "documents": n,
        "valid_documents": sum(1 for d in docs if d["valid"]),
        "seconds_total": total,
        "seconds_per_document_mean": total / n if n else None,
        "seconds_per_document_median": statistics.median(d["seconds"] for d in docs) if n else None,
        "documents_per_hour": 3600 * n / total if total else None,
        "contended_documents": sum(1 for d in docs if (d.get("others_cores") or 0.0) >= QUIET_CORES),
        "documents_per_hour_quiet_only": 3600 * len(quiet) / quiet_s if quiet_s else None,
        "waited_for_quiet_s": sum(d.get("waited_s") or 0.0 for d in docs),
        "prefill_tokens_per_document": pre_tok / n if n else None,
        "prefill_tokens_per_s": pre_tok / pre_s if pre_s else None,
        "answer_tokens_per_document": ans_tok / n if n else None,
        "model_steps_per_document": steps / n if n else None,
        "decode_tokens_per_s": ans_tok / dec_s if dec_s else None,
        "decode_steps_per_s": steps / dec_s if dec_s else None,
        "calls_per_document": sum(d["calls"] for d in docs) / n if n else None,
        "load_s": data["t_loaded"] - data["t_spawn"],
        "time_to_first_result_s": (data["t_first_result"] - data["t_spawn"]) if data.get("t_first_result") else None,
        "warm_prefill_tokens": data.get("warm_prefill_tokens"),
        "warm_prefill_s": data.get("warm_prefill_s"),
        "peak_rss_bytes": facts["ru_maxrss_bytes"],
        "vm_hwm_bytes": hwm * 1024 if hwm else None,
        "cpu_s": facts["cpu_user_s"] + facts["cpu_sys_s"],
        "process_wall_s": facts["wall_s"],
        "cpu_utilisation": (facts["cpu_user_s"] + facts["cpu_sys_s"]) / facts["wall_s"] if facts["wall_s"] else None,
        "loadavg_before": facts["loadavg_before"],
        "loadavg_after": facts["loadavg_after"],
        "loadavg_1min_mean_during": facts["loadavg_1min_mean_during"],
        "other_processes_cores": facts["other_processes_cores"],
        "stolen_cores": facts["stolen_cores"],
        "wait_quiet": facts.get("wait_quiet"),
    }


def _agreement(runs: dict, reference: str = "appliance-json") -> dict:
    """Fraction of (document, feature) values equal to the reference engine's (a sanity check that every
    engine answered the same question, not an accuracy figure)."""
    ref = runs.get(reference)
    if not ref:
        return {}
    ref_vals = {d["id"]: d["values"] for d in ref["documents"]}
    out = {}
    for engine, data in runs.items():
        same = total = 0
        for d in data["documents"]:
            a, b = d.get("values"), ref_vals.get(d["id"])
            if not a or not b:
                continue
            for k in b:
                total += 1
                same += a.get(k) == b[k]
        out[engine] = same / total if total else None
    return out


def _fmt(x, nd=1, unit=""):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{nd}f}{unit}"
    return f"{x}{unit}"


def _markdown(result: dict) -> str:
    rows = result["engines"]
    m = result["machine"]
    lines = [
        "# Speed benchmark results",
        "",
        f"Run {result['started']} → {result['finished']} on {m['cpu_model']}, {m['cpus_usable']} usable CPUs "
        f"(os.cpu_count() = {m['cpu_count']}), {result['threads']} inference threads per engine. "
        f"Model SmolLM2-135M-Instruct (appliance: {result['bundle']['precision']} ONNX bundle, "
        f"{result['bundle']['size_bytes'] / MB:.0f} MB; llama.cpp: the Q4_1 GGUF it was exported from; "
        "transformers: that GGUF dequantized to fp32). "
        f"Task `{result['task']}`, {result['documents']} documents ({result['document_choice']}).",
        "",
        "| engine | docs/h | s/doc (mean) | prefill tok/doc | prefill tok/s | answer tok/doc | model steps/doc "
        "| decode tok/s | load s | first result s | peak RSS MB | CPU use | other procs (cores) | contended docs "
        "| docs/h quiet docs | load avg | agree |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    agree = result.get("agreement_with_appliance_json", {})
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['label']} | failed: {r['error']} |" + " |" * 16)
            continue
        lb, la = r["loadavg_before"], r["loadavg_after"]
        lines.append(
            f"| {r['label']} | {_fmt(r['documents_per_hour'], 0)} | {_fmt(r['seconds_per_document_mean'], 2)} "
            f"| {_fmt(r['prefill_tokens_per_document'], 0)} | {_fmt(r['prefill_tokens_per_s'], 0)} "
            f"| {_fmt(r['answer_tokens_per_document'], 1)} | {_fmt(r['model_steps_per_document'], 1)} "
            f"| {_fmt(r['decode_tokens_per_s'], 0)} | {_fmt(r['load_s'], 1)} "
            f"| {_fmt(r['time_to_first_result_s'], 1)} | {_fmt(r['peak_rss_bytes'] / MB, 0)} "
            f"| {_fmt(r['cpu_utilisation'], 2)} | {_fmt(r['other_processes_cores'], 2)} "
            f"| {r['contended_documents']} | {_fmt(r['documents_per_hour_quiet_only'], 0)} "
            f"| {lb[0]:.1f} / {_fmt(r['loadavg_1min_mean_during'], 1)} / {la[0]:.1f} "
            f"| {_fmt(agree.get(r['engine']) * 100 if agree.get(r['engine']) is not None else None, 0, ' %')} |"
        )
    lines += ["", "## Targets", ""]
    for t in result.get("targets", []):
        lines.append(f"* {t}")
    lines += [
        "",
        "Columns: *docs/h* = 3600 × documents / summed per-document wall time (model load excluded); "
        "*prefill* = prompt tokens the engine computed per document (a reused prefix is not counted) and "
        "their rate; *answer tok* = tokens of the JSON answer (forced structure included); *model steps* = "
        "forward passes for the answer (fast-forward appends several forced tokens in one step; the "
        "evidence strategy reads one decision per question and has no answer phase); *load* and *first "
        "result* are measured from process start (imports, model load, warm-up included); *peak RSS* is the "
        "child's ru_maxrss from wait4; *CPU use* = CPU seconds / wall seconds of the process (2.0 = both "
        "cores busy); *other procs* = CPU time every other process on the machine used during the engine's "
        "run, in cores (from /proc/stat; 0 = the machine was the benchmark's alone); *load avg* = 1-minute "
        "load average before / mean during / after; *contended docs* = documents during which other "
        f"processes used ≥ {QUIET_CORES} cores (measured per document), *docs/h quiet docs* = docs/h over the "
        "other documents only; *agree* = share of the 13 × N answers equal to the appliance's json run (a sanity "
        "check that all engines did the same task, not accuracy).",
    ]
    return "\n".join(lines) + "\n"


def _targets(result: dict) -> list[str]:
    by = {r["engine"]: r for r in result["engines"] if "error" not in r}
    out = []
    bundle = result["bundle"]["size_bytes"]
    # json: the same prompt and answer as the baselines (like for like); hybrid: the default strategy.
    for mine in ("appliance-json", "appliance-hybrid"):
        for ref in ("llamacpp", "llamacpp-cache"):
            if mine in by and ref in by and by[ref]["documents_per_hour"]:
                ratio = by[mine]["documents_per_hour"] / by[ref]["documents_per_hour"]
                ok = "met" if ratio >= TARGET_SPEEDUP else "NOT met"
                out.append(f"documents/hour, {LABELS[mine]} ÷ {LABELS[ref]}: {ratio:.2f}× "
                           f"(target ≥ {TARGET_SPEEDUP:.0f}×: {ok}, {ratio / TARGET_SPEEDUP * 100:.0f} % of target)")
    if any(eng in by for eng in APPLIANCE_ENGINES):
        limit = bundle + TARGET_RSS_MARGIN_MB * MB
        for eng in APPLIANCE_ENGINES:
            if eng in by:
                rss = by[eng]["peak_rss_bytes"]
                ok = "met" if rss <= limit else "NOT met"
                out.append(f"peak RSS, {LABELS[eng]}: {rss / MB:.0f} MB vs bundle {bundle / MB:.0f} MB + "
                           f"{TARGET_RSS_MARGIN_MB} MB = {limit / MB:.0f} MB ({ok}, "
                           f"{(limit - rss) / MB:+.0f} MB headroom)")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring); returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=50, help="documents (first N of the 'test' split; default 50)")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="inference threads for every engine (default: usable CPUs)")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("BENCH_DATA", DEFAULT_DATA)))
    ap.add_argument("--task", default="symptoms13")
    ap.add_argument("--models-dir", type=Path,
                    default=Path(os.environ.get("APPLIANCE_MODELS_DIR", REPO / ".cache" / "models")))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="before each engine and between documents, wait up to SECONDS for other processes to use "
                         "< 0.3 cores (waiting is recorded, never timed; default 0: do not wait)")
    ap.add_argument("--wait-budget", type=float, default=None, metavar="SECONDS",
                    help="total waiting between documents per engine (default 4 x --wait-quiet)")
    ap.add_argument("--work", type=Path, default=REPO / ".cache" / "bench",
                    help="git-ignored work folder (prepared prompts hold document text; fp32 checkpoint)")
    args = ap.parse_args(argv)

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    bad = [e for e in engines if e not in ENGINES]
    if bad:
        ap.error(f"unknown engine(s) {bad}; choose from {ENGINES}")
    bundle_dir = args.models_dir / DEFAULT_BUNDLE
    if not (bundle_dir / "manifest.json").is_file():
        print(f"no bundle at {bundle_dir}: run  .venv/bin/appliance-export default --models-dir {args.models_dir}",
              file=sys.stderr)
        return 2
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.work / "speed.log"

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    spec = {
        "data": str(args.data), "task": args.task, "limit": args.limit, "models_dir": str(args.models_dir),
        "threads": args.threads, "work_dir": str(args.work), "wait_quiet": args.wait_quiet,
        "wait_budget": args.wait_budget,
        "need_gguf": any(e.startswith("llamacpp") or e == "hf" for e in engines),
        "need_hf": "hf" in engines,
    }
    print(f"preparing prompts for {args.limit} documents (log: {log})", file=sys.stderr)
    prep, facts = _spawn("prepare", spec, args.work, log)
    if prep is None:
        print(f"preparation failed (rc {facts['returncode']}); see {log}", file=sys.stderr)
        return 1
    prepared_path = args.work / "prepared.json"
    os.replace(args.work / "out-prepare.json", prepared_path)
    spec["prepared"] = str(prepared_path)

    runs: dict[str, dict] = {}
    rows: list[dict] = []
    for engine in engines:
        quiet = _wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
        print(f"[{time.strftime('%H:%M:%S')}] {engine} ... (load avg {os.getloadavg()[0]:.2f}"
              + (f", waited {quiet['waited_s']:.0f} s, others {quiet['other_cores_last_window']:.2f} cores" if quiet else "")
              + ")", file=sys.stderr)
        data, facts = _spawn(engine, spec, args.work, log)
        facts["wait_quiet"] = quiet
        if data is None:
            print(f"  failed (rc {facts['returncode']}); see {log}", file=sys.stderr)
            rows.append({"engine": engine, "label": LABELS[engine], "error": f"rc {facts['returncode']}", **facts})
            continue
        runs[engine] = data
        row = _summary(engine, data, facts)
        rows.append(row)
        print(f"  {row['documents_per_hour']:.0f} docs/h, {row['seconds_per_document_mean']:.2f} s/doc, "
              f"first result {row['time_to_first_result_s']:.1f} s, peak RSS {row['peak_rss_bytes'] / MB:.0f} MB",
              file=sys.stderr)

    result = {
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.executable).name, "bench/speed.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": _machine(),
        "versions": _versions(),
        "threads": args.threads,
        "task": args.task,
        "data": str(args.data),
        "documents": len(prep["documents"]),
        "document_choice": f"the first {len(prep['documents'])} ids, in file order, of the fixed 'test' split "
                           "(appliance.evaluate.split.split_of) of " + args.data.name,
        "document_ids": [d["id"] for d in prep["documents"]],
        "windows_per_document": [len(d["windows"]) for d in prep["documents"]],
        "prompt_hash": prep["prompt_hash"],
        "prefix_tokens": prep["prefix_tokens_appliance"],
        "answer_budget_tokens": prep["answer_budget"],
        "max_context_tokens": prep["max_length"],
        "bundle": {"path": str(bundle_dir), "name": manifest.get("name"), "precision": manifest.get("precision"),
                   "size_bytes": _dir_size(bundle_dir)},
        "gguf": {"path": prep.get("gguf"), "size_bytes": Path(prep["gguf"]).stat().st_size} if prep.get("gguf") else None,
        "engines": rows,
        "agreement_with_appliance_json": _agreement(runs),
        "per_document": {e: d["documents"] for e, d in runs.items()},
        "engine_details": {e: {k: v for k, v in d.items() if k != "documents"} for e, d in runs.items()},
    }
    result["targets"] = _targets(result)
    (args.out / "speed.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "speed.md").write_text(_markdown(result))
    print((args.out / "speed.md").read_text())
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
