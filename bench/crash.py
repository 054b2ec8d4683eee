"""Crash benchmark (issue #12): N transcripts, K SIGKILLs of the real daemon at random moments.

The real `appliance run` (a subprocess) with the README's demo settings (`scripts/demo.sh`:
settle 1 s, rescan 5 s, tick 0.2 s, backoff 1 s, `max_attempts` 3; strategy `hybrid` with the
embedded SmolLM2 unless ``--strategy`` says otherwise) on scratch folders. Transcripts keep arriving
(renamed in, or written in place) while the daemon is killed K times: blind during start-up and
model loading (a fifth of the kills), else after a random number of inputs of the round have
started plus a random delay, so kills land inside extractions, in a suspect's child process, in the
durable writes, the ledger and the clean-up. After the last kill a clean run finishes the queue.

Figures (the target: 0 lost, 0 duplicated, 0 valid transcripts quarantined, work/ empty):

* ``lost``: inputs with no result; ``duplicated``: inputs with more than one result;
  ``quarantined``: inputs in failed/ (every input here is valid); ``work_left``: entries in work/;
* ``kills``, ``kills_in_flight`` (an input had started and not ended), ``isolated`` (suspects
  extracted in a child process), ``child_crashes``; wall time, and the time of the final run.

Writes ``bench/results/crash.json`` and ``bench/results/crash.md`` (``--out`` for another stem).

    .venv/bin/python bench/crash.py --files 200 --kills 20                  # a short run
    .venv/bin/python bench/crash.py --files 1000 --kills 100                # the issue's target size
    .venv/bin/python bench/crash.py --files 200 --kills 20 --strategy rules # no model: faster
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from appliance import crypto

SYMPTOMS = [
    "severe pain in the back",
    "a fever since Monday",
    "trouble sleeping at night",
    "no appetite",
    "shortness of breath",
    "vomiting after meals",
    "weakness and fatigue",
    "a seizure yesterday",
    "worries about the cost of treatment",
    "burning when passing urine",
    "constipation for a week",
]
EVENT_END = ("processed", "failed", "duplicate", "recovered")


def make_input(rng: random.Random, i: int) -> tuple[str, bytes]:
    """One synthetic call (written for this benchmark; no patient data): mostly short, some long, a
    sixth JSON with metadata."""
    said = ", ".join(rng.sample(SYMPTOMS, rng.randint(1, 3)))
    line = f"Call {i}. The daughter says her mother has {said}. The nurse asked about medication. "
    text = line * (rng.choice([1, 2, 4, 8, 40]) if rng.random() < 0.9 else 200)
    if i % 6 == 5:
        doc = {"id": f"call-{i:05d}", "language": "en", "text": text, "metadata": {"n": i}}
        return f"call-{i:05d}.json", json.dumps(doc).encode()
    return f"call-{i:05d}.txt", text.encode()


class Daemon:
    """One `appliance run` subprocess, its JSON log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self._fh = open(log, "wb")
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        env.update(ORT_DISABLE_TELEMETRY="1", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        exe = Path(sys.executable).parent / "appliance"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from appliance.cli import main; main()"]
        self.p = subprocess.Popen(
            cmd + ["run", "--config", str(config)], stdout=self._fh, stderr=subprocess.STDOUT, env=env
        )

    def events(self, name: str | None = None) -> list[dict]:
        out = []
        for line in self.log.read_bytes().decode("utf-8", "replace").splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if isinstance(e, dict) and (name is None or e.get("event") == name):
                out.append(e)
        return out

    def kill(self) -> None:
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(60)
        self._fh.close()

    def stop(self) -> int:
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(600)
        finally:
            self._fh.close()


def wait_until(pred, timeout: float, proc: Daemon | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        if proc is not None and proc.p.poll() is not None:
            raise SystemExit(f"daemon exited ({proc.p.returncode}); log: {proc.log}")
        time.sleep(0.02)
    return False


def drop(inbox: Path, name: str, raw: bytes, rng: random.Random) -> None:
    if rng.random() < 0.7:  # temp name then rename (recommended)
        tmp = inbox / f".{name}.part"
        tmp.write_bytes(raw)
        os.rename(tmp, inbox / name)
    else:  # written and closed in place
        (inbox / name).write_bytes(raw)


def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    scratch = Path(tempfile.mkdtemp(prefix="crash-bench-"))
    root = scratch / "data"
    secret, public = crypto.generate_identity()
    import tomli_w

    conf = {  # scripts/demo.sh's settings
        "paths": {"root": str(root)},
        "pipeline": {
            "task": "palliative13",
            "strategy": args.strategy,
            "extractor": "smollm2-135m-instruct",
            "models_dir": str(args.models_dir),
            "languages": ["en"],
        },
        "recipients": {"keys": [public]},
        "watch": {"settle_seconds": 1.0, "rescan_seconds": 5.0, "tick_seconds": 0.2},
        "retries": {"backoff_seconds": 1.0},
        "service": {"log_format": "json"},
    }
    config = scratch / "appliance.toml"
    config.write_text(tomli_w.dumps(conf))
    for d in ("inbox", "work", "outbox", "failed", "archive", "state"):
        (root / d).mkdir(parents=True)
    inbox = root / "inbox"
    inputs = dict(make_input(rng, i) for i in range(args.files))
    names = list(inputs)
    per_round = -(-len(names) // (args.kills + 1))
    t_start = time.monotonic()
    kills = in_flight = 0
    runs: list[Daemon] = []
    rounds: list[str] = []
    for r in range(args.kills):
        batch, names = names[:per_round], names[per_round:]
        early = batch[: len(batch) // 2]
        for name in early:
            drop(inbox, name, inputs[name], rng)
        proc = Daemon(config, scratch / f"daemon-{r:03d}.log")
        runs.append(proc)
        if rng.random() < 0.2:  # blind: during start-up, model loading, recovery
            time.sleep(rng.uniform(0.2, args.startup_seconds))
            what = "blind"
        else:
            wait_until(lambda: proc.events("ready"), 600, proc)
            for name in batch[len(early) :]:
                drop(inbox, name, inputs[name], rng)
            k = rng.randint(1, max(1, 2 * per_round))
            wait_until(
                lambda: (
                    len(proc.events("processing")) + len(proc.events("isolating")) >= k
                    or not any(os.scandir(inbox))
                    and not any(os.scandir(root / "work"))
                ),
                600,
                proc,
            )
            time.sleep(rng.uniform(0, args.max_delay))
            what = f"after {k} started"
        proc.kill()
        kills += 1
        if what == "blind":  # the rest of the round's files arrive while it is down
            for name in batch[len(early) :]:
                drop(inbox, name, inputs[name], rng)
        began = {e["file"] for e in proc.events() if e.get("event") in ("processing", "isolating")}
        ended = {e["file"] for e in proc.events() if e.get("event") in EVENT_END}
        in_flight += bool(began - ended)
        rounds.append(f"{r}: {what}, cut={len(began - ended)}")
        print(f"kill {r + 1}/{args.kills}: {what}, in flight: {sorted(began - ended)}", flush=True)
    for name in names:
        drop(inbox, name, inputs[name], rng)
    t_final = time.monotonic()
    proc = Daemon(config, scratch / "daemon-final.log")
    runs.append(proc)
    done = wait_until(
        lambda: (
            len([p for p in (root / "outbox").iterdir() if not p.name.startswith(".")])
            + len(list((root / "failed").glob("*.error.json")))
            >= len(inputs)
            and not any(os.scandir(inbox))
            and not any(os.scandir(root / "work"))
        ),
        args.timeout,
        proc,
    )
    final_seconds = time.monotonic() - t_final
    rc = proc.stop()
    key_file = scratch / "identity.txt"
    crypto.write_identity_file(key_file, crypto.identity_file_text(secret, public))
    identities = crypto.load_identities(key_file)
    by_source: dict[str, int] = {}
    bad_hash = 0
    for p in (root / "outbox").glob("*.json.age"):
        doc = json.loads(crypto.decrypt(p.read_bytes(), identities))
        by_source[doc["source_name"]] = by_source.get(doc["source_name"], 0) + 1
        sha = hashlib.sha256(inputs[doc["source_name"]]).hexdigest()
        bad_hash += not p.name.endswith(f".{sha[:16]}.json.age")
    events = [e for d in runs for e in d.events()]
    figures = {
        "files": len(inputs),
        "kills": kills,
        "kills_in_flight": in_flight,
        "lost": sum(1 for n in inputs if n not in by_source),
        "duplicated": sum(1 for n, c in by_source.items() if c > 1),
        "quarantined": len(list((root / "failed").glob("*.error.json"))),
        "work_left": len(os.listdir(root / "work")),
        "results": sum(by_source.values()),
        "wrong_hash_in_name": bad_hash,
        "isolated": sum(1 for e in events if e.get("event") == "processed" and e.get("isolated")),
        "suspects_started": sum(1 for e in events if e.get("event") == "isolating"),
        "child_crashes": sum(1 for e in events if e.get("event") == "retry_scheduled" and e.get("crash")),
        "completed": done,
        "final_run_exit": rc,
        "wall_seconds": round(time.monotonic() - t_start, 1),
        "final_run_seconds": round(final_seconds, 1),
    }
    result = {
        "settings": {
            "strategy": args.strategy,
            "seed": args.seed,
            "max_attempts": 3,
            "demo_watch": conf["watch"],
            "backoff_seconds": 1.0,
            "startup_seconds": args.startup_seconds,
            "max_delay": args.max_delay,
        },
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "figures": figures,
        "rounds": rounds,
    }
    if args.keep:
        result["scratch"] = str(scratch)
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def table(result: dict) -> str:
    f, s = result["figures"], result["settings"]
    rows = [
        ("transcripts", f["files"]),
        ("SIGKILLs", f["kills"]),
        ("kills with an input in flight", f["kills_in_flight"]),
        ("**lost**", f["lost"]),
        ("**duplicated**", f["duplicated"]),
        ("**valid transcripts quarantined**", f["quarantined"]),
        ("**entries left in work/**", f["work_left"]),
        ("results", f["results"]),
        ("suspects extracted in a child process", f["isolated"]),
        ("child processes that crashed", f["child_crashes"]),
        ("wall time (s)", f["wall_seconds"]),
        ("final clean run (s)", f["final_run_seconds"]),
    ]
    head = (
        f"# Crash benchmark (bench/crash.py)\n\nStrategy `{s['strategy']}`, seed {s['seed']}, demo settings "
        f"(max_attempts 3), {result['machine']['cpus']} CPUs.\n\n| figure | value |\n|---|---|\n"
    )
    return head + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--strategy", default="hybrid", choices=["hybrid", "evidence", "json", "rules"])
    ap.add_argument(
        "--models-dir",
        type=Path,
        default=Path(os.environ.get("APPLIANCE_MODELS_DIR", REPO / ".cache" / "models")),
    )
    ap.add_argument("--seed", type=int, default=12012)
    ap.add_argument(
        "--startup-seconds", type=float, default=8.0, help="blind kills land in [0.2, this] after a start"
    )
    ap.add_argument(
        "--max-delay", type=float, default=1.5, help="extra random delay after the k-th start (s)"
    )
    ap.add_argument("--timeout", type=float, default=7200, help="limit of the final run (s)")
    ap.add_argument(
        "--out", default=str(REPO / "bench" / "results" / "crash"), help="stem of the .json/.md written"
    )
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, data)")
    args = ap.parse_args()
    result = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(table(result))
    print(table(result))
    f = result["figures"]
    ok = f["completed"] and not (f["lost"] or f["duplicated"] or f["quarantined"] or f["work_left"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
