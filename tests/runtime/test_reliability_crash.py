"""Crash safety of the real daemon: ≥100 inputs while it is SIGKILLed at random moments ≥10 times.

The real `appliance run` (subprocess) with the real rules pipeline. Files keep arriving (renamed in,
and written in place) while the daemon is killed at seeded random moments: during start-up and
recovery, and in the middle of the queue (right after its k-th finished input, k random, so the kill
lands inside the next one: claim, extraction, encryption, the durable result write, the ledger or the
clean-up). After a final clean run every input must have exactly one result, each result must
decrypt, validate and carry its input's hash, and work/, failed/ and the inbox must be empty.

Reproduce a failure with ``RELIABILITY_SEED=<seed printed in the message>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time

from tests.support.reliability import Box, validate_result, wait_for

SEED = int(os.environ.get("RELIABILITY_SEED", "61017"))
KILLS = 10
PER_ROUND = 11  # 10 rounds x 11 = 110 inputs (≥ 100)

SYMPTOMS = [
    "severe pain in the back",
    "a fever since Monday",
    "trouble sleeping at night",
    "no appetite",
    "shortness of breath",
    "vomiting after meals",
    "weakness and fatigue",
    "worries about the cost of treatment",
    "burning when passing urine",
    "a seizure yesterday",
]


def make_input(rng: random.Random, i: int) -> tuple[str, bytes]:
    said = rng.sample(SYMPTOMS, rng.randint(1, 3))
    text = f"Call {i}. The daughter says her mother has {', '.join(said)}. Nurse asked about medication."
    if i % 6 == 5:  # some JSON inputs, with metadata
        doc = {"id": f"call-{i:03d}", "language": "en", "text": text, "metadata": {"n": i, "site": "north"}}
        return f"call-{i:03d}.json", json.dumps(doc).encode()
    return f"call-{i:03d}.txt", text.encode()


def source_text(name: str, raw: bytes) -> str:
    return json.loads(raw)["text"] if name.endswith(".json") else raw.decode("utf-8")


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path):
    rng = random.Random(SEED)
    # A short settle time: files found by the start-up scan are taken almost at once, so the daemon is
    # busy without pause while a batch lasts (the kill moments below rely on that).
    box = Box(tmp_path, watch={"settle_seconds": 0.02})
    inputs: dict[str, bytes] = {}
    log: list[str] = []  # what each round did, for the failure message
    interrupted = 0  # kills that landed inside the processing of an input

    def note() -> str:
        return f"seed={SEED}; rounds: " + "; ".join(log)

    # when each kill comes: 2 blind during start-up, 2 at "ready" (recovery, first claims), 6 in the
    # middle of the queue; in random order
    modes = rng.sample(["early"] * 2 + ["ready"] * 2 + ["queue"] * (KILLS - 4), KILLS)
    for r, mode in enumerate(modes):
        batch = [make_input(rng, len(inputs) + j) for j in range(PER_ROUND)]
        inputs.update(batch)
        before, after = batch[: PER_ROUND - 3], batch[PER_ROUND - 3 :]
        for name, raw in before:  # waiting when the daemon starts (scan + settle path)
            box.drop(name, raw)
        work_before = set(box.entries("work"))
        proc = box.start()
        if mode != "queue":
            if mode == "early":
                delay = rng.uniform(0.3, 2.5)
                time.sleep(delay)
                what = f"start+{delay:.2f}s"
            else:
                proc.wait_event("ready", timeout=120)
                time.sleep(rng.uniform(0, 0.01))
                what = "at ready"
            proc.kill()
            for name, raw in after:  # they arrive while it is down
                box.drop(name, raw)
        else:
            proc.wait_event("ready", timeout=120)
            for name, raw in after:  # arriving while it runs: renamed in, or written and closed in place
                box.drop(name, raw, rename=rng.random() < 0.5)
            k = rng.randint(1, 6)

            def started() -> bool:
                n = len(proc.events("processing"))
                return n >= k or (not box.entries("inbox") and not box.entries("work"))

            wait_for(started, timeout=60, interval=0.005, what=f"{k} inputs started ({note()})")
            delay = rng.uniform(0, 0.015)  # an input takes ~20 ms here: mostly inside this one
            time.sleep(delay)
            proc.kill()
            what = f"{k}th input+{delay * 1000:.0f}ms"
        started = {e["file"] for e in proc.events("processing")}
        ended = {e["file"] for e in proc.events() if e.get("event") in ("processed", "failed")}
        cut = started - ended  # read and being processed when the kill came
        claimed = set(box.entries("work")) - work_before  # claimed in this run and left unfinished
        interrupted += bool(cut or claimed)
        log.append(f"{r}: {what}, cut={len(cut)}, claimed={len(claimed)}")

    proc = box.start()
    wait_for(
        lambda: len(box.entries("outbox")) >= len(inputs)
        and not box.entries("inbox")
        and not box.entries("work"),
        timeout=120,
        what=f"all {len(inputs)} results ({note()})",
    )
    assert proc.stop() == 0, proc.text()[-3000:]

    assert len(log) >= 10 and len(inputs) >= 100
    # the kills were not all harmless: several landed while an input was claimed and unfinished (the
    # other kinds of moment, between the result and the ledger or the clean-up, are covered by chance
    # and by test_daemon.py's recovery test)
    assert interrupted >= 3, note()

    results = box.results()
    assert len(results) == len(inputs), note()
    by_source: dict[str, list[str]] = {}
    for fname, doc in results.items():
        by_source.setdefault(doc["source_name"], []).append(fname)
    assert sorted(by_source) == sorted(inputs), note()
    assert all(len(v) == 1 for v in by_source.values()), note()  # exactly one result per input
    for fname, doc in results.items():
        validate_result(doc)
        raw = inputs[doc["source_name"]]
        sha = hashlib.sha256(raw).hexdigest()
        # the name carries the hash of the bytes dropped; the document the hash of the text it read
        assert fname.endswith(f".{sha[:16]}.json.age"), (fname, note())
        text_sha = hashlib.sha256(source_text(doc["source_name"], raw).encode()).hexdigest()
        assert doc["input_sha256"] == text_sha
        assert doc["input_id"] == os.path.splitext(doc["source_name"])[0]
        ledger = box.state / "ledger" / sha[:2] / f"{fname[: -len('.json.age')]}.json"
        assert json.loads(ledger.read_text())["bytes_sha256"] == sha, note()
        if doc["source_name"].endswith(".json"):
            assert doc["metadata"]["site"] == "north"

    assert os.listdir(box.work) == [], note()  # empty, not even a hidden leftover
    assert os.listdir(box.failed) == [], note()
    assert box.entries("inbox") == []
    assert os.listdir(box.state / "attempts") == []  # no counter left behind
    leftovers = [p for p in box.root.rglob(".tmp-*")]
    assert leftovers == [], leftovers



def _gone(pid: int) -> bool:
    try:
        return "State:\tZ" in open(f"/proc/{pid}/status").read()  # (a zombie is dead)
    except FileNotFoundError:
        return True


def test_kills_timed_during_extraction_never_set_a_valid_transcript_aside(tmp_path):
    """Issue #12: kills that land *during* the extraction, again and again, with the README's
    `max_attempts` (3). Long transcripts (about a second of rules each) make the extraction the bulk
    of the time; each kill comes a random moment after an input started, in the daemon or in the
    child process of a suspect. Nothing may be lost, duplicated or quarantined; no child outlives its
    daemon; work/ and the attempt records end empty."""
    rng = random.Random(SEED + 1)
    box = Box(tmp_path, watch={"settle_seconds": 0.02})
    inputs: dict[str, bytes] = {}
    for i in range(8):
        said = ", ".join(rng.sample(SYMPTOMS, 3))
        line = f"Call {i}. The daughter says her mother has {said}. The nurse asked about medication. "
        inputs[f"long-{i}.txt"] = (line * rng.randint(1500, 2000)).encode()  # 170-230 KB
    for i in range(8):
        inputs[f"short-{i}.txt"] = f"Short call {i}: {rng.choice(SYMPTOMS)}.".encode()
    for name, raw in inputs.items():
        box.drop(name, raw)
    log: list[str] = []
    in_flight_kills = 0
    workers: list[int] = []
    for r in range(7):
        proc = box.start()
        proc.wait_event("ready", timeout=120)
        k = rng.randint(1, 2)

        def started() -> bool:
            n = len(proc.events("processing")) + len(proc.events("worker_started"))
            return n >= k or (not box.entries("inbox") and not box.entries("work"))

        wait_for(started, timeout=120, interval=0.005, what=f"round {r}: {k} inputs started")
        delay = rng.uniform(0.05, 1.2)
        time.sleep(delay)
        proc.kill()
        workers += [e["pid"] for e in proc.events("worker_started")]
        began = {e["file"] for e in proc.events() if e.get("event") in ("processing", "isolating")}
        ended = {e["file"] for e in proc.events() if e.get("event") in ("processed", "failed")}
        in_flight_kills += bool(began - ended)
        log.append(f"{r}: k={k} +{delay:.2f}s cut={sorted(began - ended)}")
        for pid in workers:
            wait_for(lambda: _gone(pid), timeout=10, what=f"worker {pid} gone with its daemon")
    note = f"seed={SEED + 1}; " + "; ".join(log)
    assert in_flight_kills >= 4, note
    proc = box.start()
    wait_for(
        lambda: len(box.entries("outbox")) >= len(inputs) and not box.entries("inbox") and not box.entries("work"),
        timeout=240,
        what=f"all {len(inputs)} results ({note})",
    )
    assert proc.stop() == 0
    results = box.results()
    sources = sorted(doc["source_name"] for doc in results.values())
    assert sources == sorted(inputs), note  # exactly one result per input
    for fname, doc in results.items():
        sha = hashlib.sha256(inputs[doc["source_name"]]).hexdigest()
        assert fname.endswith(f".{sha[:16]}.json.age"), note
    assert box.failures() == {} and os.listdir(box.failed) == [], note
    assert os.listdir(box.work) == [] and os.listdir(box.state / "attempts") == [], note
    isolated = [e for run in box.runs for e in run.events("processed") if e.get("isolated")]
    assert isolated, f"no suspect was extracted in a child process ({note})"
