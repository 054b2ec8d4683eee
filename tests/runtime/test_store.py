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
    sha = "0123456789abcdef" * 4
    assert result_key("call-17", sha) == "call-17.0123456789abcdef"  # a plain id: as before issue #12
    key = result_key("a b", sha)
    assert key.startswith("a_b.") and key.endswith(".0123456789abcdef") and len(key.split(".")) == 3


def test_keys_of_ids_that_share_a_slug_differ():
    """Issue #12: `ward 3`, `ward_3`, `ward:3`, two long ids sharing their first 80 characters: one key
    each (a non-plain id's key carries a hash of the exact id, in a form no plain id's key has)."""
    sha = "ab" * 32
    crafted = result_key("ward 3", sha).rsplit(".", 1)[0]  # a plain-looking id equal to another's key part
    ids = ["ward 3", "ward_3", "ward:3", "ward~3", "Ward_3", "x" * 80 + "1", "x" * 80 + "2", "x" * 80,
           "تماس-۱", "تماس-۲", "input", "_ward_3", "ward_3.", crafted, crafted.upper(), "a.0123456789abcdef"]
    keys = [result_key(i, sha) for i in ids]
    assert len(set(keys)) == len(ids), keys
    assert all(len(k.encode()) <= 114 for k in keys)


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
    assert item is not None and item.name == "a.txt" and item.path == store.work / item.claim / "a.txt"
    assert not (store.inbox / "a.txt").exists()
    assert store.claim(store.inbox / "a.txt") is None  # already gone
    assert os.listdir(store.work) == [item.claim]  # (no empty claim folder left by the failed claim)
    (store.work / "manual.txt").write_text("y")  # placed by hand: adopted with a claim id
    items = store.work_items()
    assert sorted(i.name for i in items) == ["a.txt", "manual.txt"]
    assert all(i.path.parent.parent == store.work and i.path.parent.name == i.claim for i in items)
    store.remove_work(item)
    assert not (store.work / item.claim).exists()


def test_names_linux_allows_are_claimed_and_kept_exactly(store):
    """Issue #12: every name up to NAME_MAX (255 bytes), `~` included, is claimed under its own name
    and read back exactly; a quarantine name (and its sidecar's) fits too."""
    names = ["ward~3.txt", "1a~x.txt", "m" * 251 + ".txt", "ت" * 125 + ".txt", "a" * 244, "b" * 245]
    for name in names:
        (store.inbox / name).write_text("x")
        item = store.claim(store.inbox / name)
        assert item.name == name and item.path.name == name
    assert sorted(i.name for i in store.work_items()) == sorted(names)
    for item in store.work_items():
        target = store.fail(item, FailureRecord(input_name=item.label, reason="binary", attempts=1))
        assert len(os.fsencode(target.name + ".error.json")) <= 255
    for path, rec in store.failures():
        assert store.requeue(path.name).name == rec.input_name  # back under its full, exact name
    assert sorted(os.listdir(store.inbox)) == sorted(names)


def test_old_work_layout_is_recovered_after_an_upgrade(store):
    """A box upgraded with inputs in work/ under the pre-#12 layout (`<claim>~<name>`): recovered under
    their own names, their attempt records kept; an empty claim folder left by a crash is removed."""
    (store.work / "18a2b3c4d5e6f7a8b9c0~call~7.txt").write_text("x")
    (store.work / "1c~poison.txt").write_text("y")
    (store.attempts_dir / "1c.json").write_text('{"attempts": 2, "name": "poison.txt"}')
    (store.work / "18a2b3c4d5e6f7a8ffff").mkdir()  # a crash between the claim folder and the rename
    items = {i.name: i for i in store.work_items()}
    assert sorted(items) == ["call~7.txt", "poison.txt"] and all(i.legacy for i in items.values())
    assert items["poison.txt"].claim == "1c" and items["poison.txt"].path.read_text() == "y"
    rec = store.attempt_record(items["poison.txt"])
    assert rec.in_flight and rec.attempts == 1  # (an old counter: its last attempt may have died)
    assert sorted(os.listdir(store.work)) == sorted(i.claim for i in items.values())


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


def test_ledger_compares_the_exact_id_and_bytes_and_honours_old_entries(store):
    from appliance.resultkey import id_sha256, legacy_key
    from appliance.store import KeyCollision

    sha = "cd" * 32
    key = result_key("a", sha)
    store.mark_done(key, {"bytes_sha256": sha, "id_sha256": id_sha256("a")})
    assert store.in_ledger(key, id_sha256=id_sha256("a"), bytes_sha256=sha)
    with pytest.raises(KeyCollision):  # never taken for done: another input under the same name
        store.in_ledger(key, id_sha256=id_sha256("b"), bytes_sha256=sha)
    # an entry written before issue #12 under the old, ambiguous key (`ward_3.<hash>`, no id recorded)
    old = legacy_key("ward 3", sha)
    store.mark_done(old, {"bytes_sha256": sha, "id_slug": "ward_3"})
    new = result_key("ward 3", sha)
    assert new != old and store.in_ledger(new, id_sha256=id_sha256("ward 3"), bytes_sha256=sha, legacy_key=old)
    assert not store.in_ledger(new, bytes_sha256="ef" * 32, legacy_key=legacy_key("ward 3", "ef" * 32))
    # a new entry of the plain id `ward_3` under that same name is not taken for `ward 3`'s
    other = "ee" * 32
    store.mark_done(result_key("ward_3", other), {"bytes_sha256": other, "id_sha256": id_sha256("ward_3")})
    assert not store.in_ledger(result_key("ward 3", other), legacy_key=legacy_key("ward 3", other))


def test_attempts_persist(store):
    (store.inbox / "a.txt").write_text("x")
    item = store.claim(store.inbox / "a.txt")
    rec = store.attempt_record(item)
    assert rec.attempts == 0 and not rec.in_flight
    rec.attempts, rec.in_flight = 1, True
    store.save_attempts(item, rec)
    again = Store(store.paths).attempt_record(item)
    assert again.attempts == 1 and again.in_flight and again.name == "a.txt"
    store.remove_work(item)
    assert store.attempt_record(item).attempts == 0 and not item.path.exists()


def test_fail_and_requeue(store):
    for _ in range(2):
        (store.inbox / "a.txt").write_text("secret text")
        item = store.claim(store.inbox / "a.txt")
        store.fail(item, FailureRecord(input_name="a.txt", reason="utf16", attempts=1))
    names = sorted(p.name for p in store.failed.iterdir())
    assert len(names) == 4 and "a.txt" in names and "a.txt.error.json" in names
    other = next(n for n in names if n.endswith("~a.txt"))  # (the name was taken: the claim id prefixed)
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


def test_requeue_keeps_a_tilde_in_the_name(store):
    """Issue #12: `appliance requeue` turned `ward~3.txt` into `3.txt` (the first `~` taken as a
    claim prefix); the sidecar's name is what is restored."""
    for name in ("ward~3.txt", "ward~3.txt"):  # the second one gets a prefixed name in failed/
        (store.inbox / name).write_text("x")
        store.fail(store.claim(store.inbox / name), FailureRecord(input_name=name, reason="binary", attempts=1))
    first, second = sorted(p.name for p, _ in store.failures())
    assert store.requeue("ward~3.txt") == store.inbox / "ward~3.txt"
    (store.inbox / "ward~3.txt").unlink()
    prefixed = first if first != "ward~3.txt" else second
    assert store.requeue(prefixed) == store.inbox / "ward~3.txt"


def test_an_input_named_like_a_sidecar_is_never_replaced_and_can_be_requeued(store):
    """An input `visit.error.json` (a legal `.json` name) quarantined under its own name was listed as the
    sidecar of a phantom `visit`, could not be requeued, and the sidecar of a later failed input `visit`
    replaced it: a transcript lost."""
    for name, content in (("visit.error.json", "transcript one"), ("visit", "transcript two")):
        (store.inbox / name).write_text(content)
        record = FailureRecord(input_name=name, reason="binary", attempts=1)
        store.fail(store.claim(store.inbox / name), record)
    assert sorted(r.input_name for _, r in store.failures()) == ["visit", "visit.error.json"]
    assert store.counts()["failed"] == 2
    kept = sorted(p.read_text() for p, _ in store.failures())
    assert kept == ["transcript one", "transcript two"]
    for path, _ in store.failures():
        store.requeue(path.name)
    assert sorted(os.listdir(store.inbox)) == ["visit", "visit.error.json"]
    assert (store.inbox / "visit.error.json").read_text() == "transcript one"
    assert list(store.failed.iterdir()) == []


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
