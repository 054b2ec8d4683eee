"""Folder lifecycle: claims, durable writes, idempotency keys, quarantine, requeue."""

from __future__ import annotations

import json
import os
import stat

import pytest

from appliance.config import PathsConfig
from appliance.store import FailureRecord, Store, StoreError, durable_write, result_key, slug


@pytest.fixture
def store(tmp_path):
    s = Store(PathsConfig(root=tmp_path / "data"), result_suffixes=(".json",))
    s.prepare()
    return s


def test_prepare_creates_folders(store, tmp_path):
    for name in ("inbox", "work", "outbox", "failed", "archive", "state"):
        assert (tmp_path / "data" / name).is_dir()
    assert store.ledger.is_dir() and store.attempts_dir.is_dir()


def test_prepare_refuses_unwritable(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(StoreError, match="paths.inbox"):
        Store(PathsConfig(root=tmp_path / "data", inbox=ro)).prepare()


def test_prepare_refuses_non_folder(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="paths.inbox"):
        Store(PathsConfig(root=tmp_path / "data", inbox=f)).prepare()


def test_durable_write_mode_and_no_temp_left(tmp_path):
    p = durable_write(tmp_path / "x.bin", b"abc", 0o640)
    assert p.read_bytes() == b"abc" and stat.S_IMODE(p.stat().st_mode) == 0o640
    durable_write(p, b"new", 0o640)
    assert p.read_bytes() == b"new"
    assert [q.name for q in tmp_path.iterdir()] == ["x.bin"]


def test_slug_and_key():
    assert slug("call 12/3") == "call_12_3"
    assert slug("../../etc") == "etc"
    assert slug("تماس") == "input"
    assert slug("x" * 300) == "x" * 80
    assert result_key("a b", "0123456789abcdef" * 4) == "a_b.0123456789abcdef"


def test_inbox_candidates_skip_hidden_temp_and_folders(store):
    (store.inbox / "b.txt").write_text("x")
    (store.inbox / ".hidden.txt").write_text("x")
    (store.inbox / "c.txt.part").write_text("x")
    (store.inbox / "sub").mkdir()
    (store.inbox / "d.pdf").write_text("x")
    os.utime(store.inbox / "b.txt", ns=(1, 1))
    assert [p.name for p in store.inbox_candidates()] == ["b.txt", "d.pdf"]


def test_claim_and_work_items(store):
    (store.inbox / "a.txt").write_text("x")
    item = store.claim(store.inbox / "a.txt")
    assert item is not None and item.name == "a.txt" and item.path.parent == store.work
    assert not (store.inbox / "a.txt").exists()
    assert store.claim(store.inbox / "a.txt") is None  # already gone
    (store.work / "manual.txt").write_text("y")  # placed by hand: adopted with a claim id
    items = store.work_items()
    assert sorted(i.name for i in items) == ["a.txt", "manual.txt"]
    assert all("~" in i.path.name for i in items)


def test_results_ledger_and_idempotency(store):
    key = result_key("a", "ab" * 32)
    assert not store.is_done(key)
    store.write_result(key, ".json", b"age...")
    assert store.is_done(key)
    assert stat.S_IMODE(store.result_path(key, ".json").stat().st_mode) == 0o640
    store.mark_done(key, {"bytes_sha256": "ab" * 32})
    store.result_path(key, ".json").unlink()  # the integrator collected it
    assert store.is_done(key)  # the ledger remembers
    assert json.loads(store.ledger_path(key).read_text())["key"] == key


def test_attempts_persist(store):
    (store.inbox / "a.txt").write_text("x")
    item = store.claim(store.inbox / "a.txt")
    assert store.attempts(item) == 0
    assert store.bump_attempts(item) == 1
    assert Store(store.paths).attempts(item) == 1
    assert store.bump_attempts(item) == 2
    store.remove_work(item)
    assert store.attempts(item) == 0 and not item.path.exists()


def test_fail_and_requeue(store):
    for _ in range(2):
        (store.inbox / "a.txt").write_text("secret text")
        item = store.claim(store.inbox / "a.txt")
        store.fail(item, FailureRecord(input_name="a.txt", reason="utf16", attempts=1))
    names = sorted(p.name for p in store.failed.iterdir())
    assert len(names) == 4 and "a.txt" in names and "a.txt.error.json" in names
    other = next(n for n in names if n.endswith("~a.txt"))
    failures = store.failures()
    assert len(failures) == 2 and all(r.reason == "utf16" for _, r in failures)
    for side in store.failed.glob("*.error.json"):
        assert "secret" not in side.read_text()
    assert store.requeue("a.txt") == store.inbox / "a.txt"
    with pytest.raises(StoreError, match="already in the inbox"):
        store.requeue(other)
    (store.inbox / "a.txt").unlink()
    assert store.requeue(other) == store.inbox / "a.txt"
    assert list(store.failed.iterdir()) == []
    with pytest.raises(StoreError, match="not in"):
        store.requeue("zzz.txt")


def test_stale_temp_files_removed(store):
    (store.outbox / ".tmp-abc-x.json.age").write_bytes(b"half")
    (store.inbox / ".tmp-writer").write_bytes(b"integrator's")
    store.prepare()
    assert not (store.outbox / ".tmp-abc-x.json.age").exists()
    assert (store.inbox / ".tmp-writer").exists()  # never touch the integrator's temp files


def test_counts(store):
    (store.inbox / "a.txt").write_text("x")
    (store.inbox / "b.txt").write_text("x")
    store.claim(store.inbox / "b.txt")
    c = store.counts()
    assert (c["inbox"], c["work"], c["failed"], c["processed"]) == (1, 1, 0, 0)


def test_orphan_sidecar_is_replaced(store):
    # a quarantine interrupted after its sidecar was written: the input is still in work/
    (store.failed / "a.txt.error.json").write_text("{}")
    (store.inbox / "a.txt").write_text("x")
    item = store.claim(store.inbox / "a.txt")
    target = store.fail(item, FailureRecord(input_name="a.txt", reason="binary", attempts=1))
    assert target == store.failed / "a.txt"
    assert json.loads((store.failed / "a.txt.error.json").read_text())["reason"] == "binary"
