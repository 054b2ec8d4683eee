"""Ids, names and idempotency against the real daemon (`appliance run`, rules pipeline): issue #12.

* The id-collision matrix: inputs whose ids shorten to the same slug (`ward 3` / `ward_3` / `ward:3`,
  two long ids sharing their first 80 characters, ids of non-Latin letters only, an id that spells
  another's key, ids of 255-byte names) with the same bytes each get their own result; a true
  duplicate (same id, same bytes) gets none. One result per distinct input, whatever the names.
* `appliance requeue` puts `ward~3.txt` back as `ward~3.txt` (it used to become `3.txt`).
* An upgraded box: a ledger, work/ and outbox left by the previous layout keep working: old ledger
  entries still prevent reprocessing, inputs claimed under the old layout are recovered (and not
  processed twice when their results were already written).
"""

from __future__ import annotations

import hashlib
import json
import os

from appliance.resultkey import id_sha256, legacy_key, result_key
from tests.support.reliability import Box, validate_result, wait_for

SAME = b"The patient has pain and a fever."


def _all_handled(box: Box, n_results: int):
    return lambda: (
        len(box.entries("outbox")) >= n_results and not box.entries("inbox") and not box.entries("work")
    )


def test_id_collision_matrix_gives_one_result_per_distinct_input(tmp_path):
    box = Box(tmp_path)
    long = "x" * 80
    crafted = result_key("ward 3", hashlib.sha256(SAME).hexdigest()).rsplit(".", 1)[0]
    same_bytes = [
        "ward 3.txt",
        "ward_3.txt",
        "ward:3.txt",
        "ward~3.txt",
        "Ward_3.txt",
        "ward__3.txt",
        f"{long}A.txt",
        f"{long}B.txt",
        f"{long}.txt",
        "تماس-۱.txt",
        "تماس-۲.txt",
        "input.txt",
        f"{crafted}.txt",
        "m" * 251 + ".txt",
        "m" * 250 + "n.txt",
    ]
    doc = json.dumps({"id": "ward 3", "text": SAME.decode()}).encode()
    inputs: dict[str, bytes] = {name: SAME for name in same_bytes}
    inputs["j1.json"] = doc  # id `ward 3` as the .txt above, other bytes: its own result
    inputs["j2.json"] = json.dumps({"id": "ward_3", "text": SAME.decode()}).encode()
    proc = box.start()
    proc.wait_event("ready", timeout=120)
    for name, raw in inputs.items():
        box.drop(name, raw)
    wait_for(_all_handled(box, len(inputs)), timeout=120, what="every input handled")
    box.drop("j3.json", doc)  # the same id and the same bytes as j1.json: a true duplicate
    proc.wait_event("duplicate", timeout=30)
    wait_for(_all_handled(box, len(inputs)), timeout=30, what="the duplicate handled")
    assert proc.stop() == 0

    results = box.results()
    assert len(results) == len(inputs), sorted(results)
    by_source = {doc["source_name"]: (fname, doc) for fname, doc in results.items()}
    assert sorted(by_source) == sorted(inputs)
    for name, (fname, r) in by_source.items():
        validate_result(r)
        expected_id = json.loads(inputs[name])["id"] if name.endswith(".json") else name[:-4]
        assert r["input_id"] == expected_id
        sha = hashlib.sha256(inputs[name]).hexdigest()
        assert fname == f"{result_key(expected_id, sha)}.json.age"
        assert fname.endswith(f".{sha[:16]}.json.age") and len(fname.encode()) <= 255
    assert by_source["ward_3.txt"][0].startswith("ward_3.") and by_source["ward 3.txt"][0].startswith(
        "ward_3."
    )
    assert box.failures() == {}
    assert [e["file"] for e in proc.events("duplicate")] == ["j3.json"]
    ledger = [p for p in (box.state / "ledger").rglob("*.json")]
    assert len(ledger) == len(inputs)
    for p in ledger:  # keys and hashes only: the exact id is recorded as its sha256
        entry = json.loads(p.read_text())
        assert set(entry) == {"key", "done_at", "bytes_sha256", "id_sha256", "id_slug"}


def test_requeue_restores_a_name_with_a_tilde(tmp_path):
    box = Box(tmp_path)
    proc = box.start()
    proc.wait_event("ready", timeout=120)
    box.drop("ward~3.txt", "hello".encode("utf-16"))
    wait_for(lambda: "ward~3.txt" in box.failures(), timeout=30, what="ward~3.txt failed")
    r = box.cli("requeue", "ward~3.txt")
    assert r.returncode == 0 and "-> ward~3.txt" in r.stdout, r.stdout + r.stderr
    proc.wait_event("failed", count=2, timeout=30)
    assert box.failures()["ward~3.txt"]["input_name"] == "ward~3.txt"
    assert proc.stop() == 0
    assert sorted(box.entries("failed")) == ["ward~3.txt", "ward~3.txt.error.json"]


def test_an_upgraded_box_keeps_its_ledger_work_and_outbox(tmp_path):
    """State written by the previous layout: ledger entries keyed `<slug>.<hash>` without the id's
    hash, inputs claimed as `work/<claim>~<name>` with the old attempt counter, and one whose result
    was written just before the crash (no ledger entry yet)."""
    box = Box(tmp_path)
    ledger = box.state / "ledger"

    def old_entry(doc_id: str, raw: bytes) -> None:
        sha = hashlib.sha256(raw).hexdigest()
        key = legacy_key(doc_id, sha)
        (ledger / sha[:2]).mkdir(parents=True, exist_ok=True)
        entry = {
            "key": key,
            "done_at": "2025-01-01T00:00:00+00:00",
            "bytes_sha256": sha,
            "id_slug": key[:-17],
        }
        (ledger / sha[:2] / f"{key}.json").write_text(json.dumps(entry))

    done_plain, done_spaced = b"Processed before the upgrade.", b"Also processed before."
    old_entry("call-1", done_plain)
    old_entry("ward 9", done_spaced)
    (box.work / "18a2b3c4d5e6f7a8b9c0~ward~7.txt").write_bytes(b"Claimed before the upgrade: pain.")
    (box.state / "attempts").mkdir(parents=True, exist_ok=True)
    (box.state / "attempts" / "18a2b3c4d5e6f7a8b9c0.json").write_text('{"attempts": 1, "name": "ward~7.txt"}')
    half = b"Result written, ledger not: fever."
    (box.work / "18a2b3c4d5e6f7a8b9c1~half done.txt").write_bytes(half)
    old_result = box.outbox / f"{legacy_key('half done', hashlib.sha256(half).hexdigest())}.json.age"
    old_result.write_bytes(b"(the encrypted result the old version wrote)")

    proc = box.start()
    proc.wait_event("ready", timeout=120)
    box.drop("call-1.txt", done_plain)  # re-sent after the upgrade: still a duplicate
    box.drop("ward 9.txt", done_spaced)
    wait_for(lambda: not box.entries("inbox") and not box.entries("work"), timeout=120, what="all handled")
    assert proc.stop() == 0
    assert sorted(e["file"] for e in proc.events("duplicate")) == ["call-1.txt", "ward 9.txt"]
    assert [e["file"] for e in proc.events("recovered")] == ["half done.txt"]
    (processed,) = proc.events("processed")
    assert processed["file"] == "ward~7.txt" and processed.get("isolated")  # (in flight at the old crash)
    outbox = box.entries("outbox")
    assert len(outbox) == 2 and old_result.name in outbox  # no second result for `half done`
    (new,) = [n for n in outbox if n != old_result.name]
    assert new.startswith("ward_7.")
    assert box.failures() == {} and os.listdir(box.work) == [] and os.listdir(box.state / "attempts") == []
    sha = hashlib.sha256(half).hexdigest()
    entry = json.loads((ledger / sha[:2] / f"{legacy_key('half done', sha)}.json").read_text())
    assert entry["id_sha256"] == id_sha256("half done") and entry["recovered"] is True
