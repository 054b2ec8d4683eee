"""Hostile and broken inputs against the real daemon (`appliance run`, rules pipeline).

What a mature drop-folder tool does with each, decided here and asserted:

* A file it cannot use ends in ``failed/`` (unchanged, under its own name) with an ``.error.json``
  sidecar that names a stable reason code and holds no document text; the daemon stays up and the
  good files dropped *after* the bad ones are processed.
* Empty (0 bytes) → ``empty``; whitespace only → ``whitespace_only`` (the text has nothing to read: a
  distinct code, so an integrator can tell "sent nothing" from "sent blanks").
* A name with spaces, non-ASCII letters, an upper-case extension, a UTF-8 BOM, CRLF, a very long
  line, thousands of turns: processed normally.
* A name with a newline: refused as ``bad_id`` for ``.txt`` (the id is the name, and ids carry no
  control characters); a ``.json`` with such a name is fine (its id is inside).
* A name that is not UTF-8: ``bad_name``. Every name Linux allows (up to 255 bytes, ``~`` included)
  is taken under its own name: a 230- or 255-byte ``.txt`` name gives its result (issue #12).
* Symbolic links (to a file outside the inbox, or dangling), folders, named pipes: never followed,
  opened or read; moved aside as they are with ``not_regular_file``. (A named pipe used to hang the
  daemon in ``open()``; a link was followed and its target processed.)
* 100 MB (sparse): ``too_large``, decided from its size: the daemon's read counter shows it was not
  read (it used to be hashed in full for the sidecar).
* Hidden and temporary names (``.x``, ``*.part``, ``*.tmp``, ``*~`` ...): left alone, not failed.
* Storage failures are real, not mocked, and never set an input aside (issue #12): a read-only bind
  mount over the outbox (``EROFS``; running as root, permission bits would not stop the daemon), a
  full file system (a small tmpfs holding every data folder, or only the outbox), a read-only
  ``failed/``. The input stays in ``work/``, nothing new is claimed meanwhile, the write is retried
  with capped backoff and logged once (not a line per retry), and everything flows once the disk
  works again.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from appliance.store import FailureRecord
from tests.support.reliability import Box, find_planted, validate_result, wait_for

SECRET = "PATIENT-TEXT-Q7ZK"  # stands in for patient text: must not appear in any sidecar or log
SECRET_FA = "بیمار-درد-شدید-۴۲"
MB = 1 << 20
BYTES = bytes(range(256))


def j(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def bad_corpus(outside: Path) -> dict[bytes, tuple[str, object]]:
    """name → (expected reason, bytes or a callable that creates the entry at its path)."""
    t = f"The patient has pain. {SECRET} {SECRET_FA}"
    deep: object = SECRET
    for _ in range(40):
        deep = {"a": deep}

    def sparse(size: int):
        def make(path: bytes) -> None:
            tmp = path + b".part"
            with open(tmp, "wb") as f:
                f.truncate(size)  # a hole: instant, takes no disk space
            os.rename(tmp, path)

        return make

    def symlink(target: str):
        return lambda path: os.symlink(target, path)

    def folder(path: bytes) -> None:
        tmp = path + b".tmp"
        os.mkdir(tmp)
        with open(os.path.join(tmp, b"inside.txt"), "w") as f:
            f.write(t)
        os.rename(tmp, path)

    return {
        b"binary.txt": ("binary", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + SECRET.encode() + bytes(256) + BYTES),
        b"nul.txt": ("binary", f"pain {SECRET}\x00 fever".encode()),
        b"controls.txt": ("binary", ("\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" * 20 + t).encode()),
        b"latin1.txt": ("invalid_utf8", f"Patient: douleur très forte {SECRET}".encode("latin-1")),
        b"utf16-bom.txt": ("utf16", t.encode("utf-16")),
        b"utf16-nobom.txt": ("utf16", f"The patient has pain {SECRET}".encode("utf-16-le")),
        b"utf32.txt": ("utf16", t.encode("utf-32")),
        b"empty.txt": ("empty", b""),
        b"blank.txt": ("whitespace_only", b" \n\t\r\n  \n"),
        b"huge.txt": ("too_large", sparse(100 * MB)),
        b"notes.docx": ("unsupported_type", b"PK\x03\x04" + SECRET.encode()),
        b"README": ("unsupported_type", t.encode()),
        b"call\n17.txt": ("bad_id", t.encode()),
        b"\xff\xfecall.txt": ("bad_name", t.encode()),
        b"\xff" * 240 + b".txt": ("bad_name", t.encode()),  # long, and not UTF-8: still set aside
        b"link.txt": ("not_regular_file", symlink(str(outside))),
        b"dangling.txt": ("not_regular_file", symlink("/nonexistent/appliance-test")),
        b"folder.txt": ("not_regular_file", folder),
        b"batch": ("not_regular_file", folder),
        b"pipe.txt": ("not_regular_file", lambda path: os.mkfifo(path)),
        b"empty.json": ("empty", b""),
        b"no-text.json": ("json_field", j({"id": "a", "metadata": {"note": SECRET}})),
        b"id-number.json": ("json_field", j({"id": 17, "text": t})),
        b"text-null.json": ("json_field", j({"id": "a", "text": None})),
        b"meta-list.json": ("json_field", j({"id": "a", "text": t, "metadata": [SECRET]})),
        b"array.json": ("json_not_object", j([{"id": "a", "text": t}])),
        b"string.json": ("json_not_object", j(t)),
        b"trailing.json": ("invalid_json", j({"id": "a", "text": t}) + b" {} " + SECRET.encode()),
        b"truncated.json": ("invalid_json", j({"id": "a", "text": t})[:-7]),
        b"nan.json": ("invalid_json", b'{"id": "a", "text": "pain", "metadata": {"x": NaN}}'),
        b"dup-key.json": ("json_duplicate_key", b'{"id": "a", "text": "pain", ' + j({"text": t})[1:]),
        b"unknown.json": ("json_unknown_field", j({"id": "a", "text": t, SECRET: "x", "Text": "y"})),
        b"deep.json": ("json_too_deep", j({"id": "a", "text": t, "metadata": deep})),
        b"very-deep.json": ("json_too_deep", b"[" * 200_000 + b"]" * 200_000),
        b"bad-id.json": ("bad_id", j({"id": f"{SECRET}\n", "text": t})),
        b"bad-language.json": ("bad_language", j({"id": "a", "text": t, "language": SECRET})),
        b"big-metadata.json": ("metadata_too_large", j({"id": "a", "text": t, "metadata": {"n": t * 2000}})),
        b"blank-text.json": ("whitespace_only", j({"id": "a", "text": " \n "})),
        b"utf16.json": ("utf16", j({"id": "a", "text": t}).decode().encode("utf-16")),
        b"latin1.json": ("invalid_utf8", '{"id": "a", "text": "très"}'.encode("latin-1")),
    }


def dialogue(n: int) -> str:
    """2n turns of a call, each exchange with a question, a symptom and a negation."""
    return "".join(
        f"Nurse: How is she today?\nDaughter: She has pain and cannot sleep, call {i}.\n" for i in range(n)
    )


def good_corpus() -> dict[bytes, tuple[str, bytes]]:
    """name → (expected input_id, bytes)."""
    turns = dialogue(300)  # not more: see test_many_turns_cost_grows_linearly
    return {
        b"name with spaces.txt": ("name with spaces", b"The patient has pain in the chest."),
        "تماس-۱۷.txt".encode(): ("تماس-۱۷", "بیمار درد دارد و تب دارد.".encode()),
        "Café über.TXT".encode(): ("Café über", b"She has a fever."),
        b"bom.txt": ("bom", b"\xef\xbb\xbfHe feels weak and tired."),
        b"crlf.txt": ("crlf", b"Shortness of breath.\r\nNo appetite.\r\n"),
        b"long-line.txt": ("long-line", b"the patient has pain and fever " * 8000),  # 248 KB, one line
        b"many-turns.txt": ("many-turns", turns.encode()),  # 600 turns
        b"good.json": ("G-1", j({"id": "G-1", "text": "Vomiting.", "metadata": META})),
        b"nulls.json": ("G-2", j({"id": "G-2", "text": "Seizure.", "language": None, "metadata": None})),
        b"call\n18.json": ("G-3", j({"id": "G-3", "language": "EN", "text": "Cough."})),
        b"n" * 230 + b".txt": ("n" * 230, b"She has a fever."),  # were `bad_name` before issue #12
        b"m" * 251 + b".txt": ("m" * 251, b"She has a fever."),  # 255 bytes: the longest name Linux allows
        b"ward~3.txt": ("ward~3", b"She has a fever."),
    }


META = {"site": "n", "x": [1, {"y": None}]}
IGNORED = [b".hidden.txt", b"report.txt.part", b"report.txt.tmp", b"report.txt~", b"x.TXT.PART", b".tmp-x"]


def test_bad_input_corpus_fails_clearly_and_the_daemon_keeps_going(tmp_path):
    box = Box(tmp_path, retries={"max_attempts": 2, "backoff_seconds": 0.05, "backoff_max_seconds": 0.1})
    outside = tmp_path / "outside.txt"
    outside.write_text(f"OUTSIDE-FILE-{SECRET} pain fever")
    bad = bad_corpus(outside)
    good = good_corpus()
    assert len(bad) >= 25
    inbox = os.fsencode(box.inbox)

    proc = box.start()
    proc.wait_event("ready", timeout=120)
    read_before = proc.rchar()
    for name in IGNORED:
        with open(os.path.join(inbox, name), "wb") as f:
            f.write(SECRET.encode())
    t0 = time.monotonic()
    for name, (_, content) in bad.items():
        if callable(content):
            content(os.path.join(inbox, name))
        else:
            box.drop(name, content)
    wait_for(lambda: len(box.failures()) >= len(bad), timeout=90, what="every bad input in failed/")
    assert proc.alive()
    for name, (_, content) in good.items():  # dropped after the bad ones
        box.drop(name, content)
    wait_for(lambda: len(box.entries("outbox")) >= len(good), timeout=90, what="the good inputs' results")
    elapsed = time.monotonic() - t0
    read_after = proc.rchar()
    time.sleep(0.5)  # anything late (a second failure, a retry) would show now
    assert proc.alive(), proc.text()[-3000:]
    st = json.loads(box.cli("status", "--json").stdout)
    assert st["running"] and st["failed"]["since_start"] == len(bad)
    assert proc.stop() == 0
    log = proc.text()

    # -- every bad input: in failed/ as it was, with a sidecar naming the reason and nothing more
    failures = box.failures()
    by_input = {rec["input_name"]: (name, rec) for name, rec in failures.items()}
    assert len(by_input) == len(bad), sorted(by_input)
    for raw_name, (reason, content) in bad.items():
        label = raw_name.decode("utf-8", "backslashreplace")
        assert label in by_input, (label, sorted(by_input))
        failed_name, rec = by_input[label]
        FailureRecord.model_validate(rec)
        assert rec["reason"] == reason, (label, rec)
        assert rec["detail"], label  # a sentence for the operator
        assert not find_planted(json.dumps(rec, ensure_ascii=False).encode(), [SECRET, SECRET_FA]), label
        assert not find_planted((box.failed / f"{failed_name}.error.json").read_bytes(), [SECRET, SECRET_FA])
        kept = os.path.join(os.fsencode(box.failed), os.fsencode(failed_name))
        if isinstance(content, bytes):
            assert open(kept, "rb").read() == content, label  # the input is kept byte for byte
            if reason != "too_large":  # read, so hashed
                assert rec["input_bytes"] == len(content) and rec["input_sha256"], label
    # (a long name is kept when its sidecar's name fits, else shortened; the sidecar keeps the full one)
    long_bad = by_input[("\\xff" * 240) + ".txt"][0]
    assert len(os.fsencode(long_bad + ".error.json")) <= 255
    # links, folders and pipes are moved aside as they are, never followed
    assert os.readlink(box.failed / by_input["link.txt"][0]) == str(outside)
    assert os.path.islink(box.failed / by_input["dangling.txt"][0])
    assert (box.failed / by_input["folder.txt"][0] / "inside.txt").is_file()
    assert stat.S_ISFIFO(os.lstat(box.failed / by_input["pipe.txt"][0]).st_mode)
    assert outside.read_text().startswith("OUTSIDE-FILE-")  # untouched
    for name in ("link.txt", "dangling.txt", "folder.txt", "batch", "pipe.txt"):
        rec = by_input[name][1]
        assert rec["input_sha256"] is None and rec["input_bytes"] is None, rec
    # 100 MB refused from its size alone: not read (nor hashed), whatever the file holds
    huge = by_input["huge.txt"][1]
    assert huge["input_bytes"] == 100 * MB and huge["input_sha256"] is None
    good_bytes = sum(len(c) for _, c in good.values())
    assert read_after - read_before < good_bytes + 40 * MB, (read_after - read_before, "bytes read")
    assert elapsed < 80

    # -- the unknown-field error helps without quoting the document
    unknown = by_input["unknown.json"][1]["detail"]
    assert "did you mean 'text'" in unknown and SECRET not in unknown

    # -- hidden and temporary names: untouched, not failed
    for name in IGNORED:
        assert open(os.path.join(inbox, name), "rb").read() == SECRET.encode()
    assert sorted(os.listdir(inbox)) == sorted(IGNORED)

    # -- the good ones, dropped after all that, were processed
    results = box.results()
    assert len(results) == len(good)
    by_source = {r["source_name"]: r for r in results.values()}
    for raw_name, (doc_id, _) in good.items():
        r = by_source[raw_name.decode()]
        validate_result(r)
        assert r["input_id"] == doc_id
    assert by_source["bom.txt"]["input_sha256"] == hashlib.sha256(b"He feels weak and tired.").hexdigest()
    assert by_source["good.json"]["metadata"] == META
    assert by_source["nulls.json"]["metadata"] == {} and by_source["call\n18.json"]["language"] == "en"
    assert any(n.startswith("name_with_spaces.") for n in results)

    assert box.entries("work") == []
    assert not find_planted(log.encode(), [SECRET, SECRET_FA, "OUTSIDE-FILE"]), "document text in the log"
    assert "Traceback" not in log
    assert {e["reason"] for e in proc.events("failed")} == {r for r, _ in bad.values()}


# ------------------------------------------------------------------------------------------ storage


def _mount(*args: str) -> None:
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount here (needs root with CAP_SYS_ADMIN): {r.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


def _lines(proc, name: str, **match) -> list[dict]:
    return [e for e in proc.events(name) if all(e.get(k) == v for k, v in match.items())]


@pytest.mark.skipif(not _can_mount(), reason="needs root and mount(8) to make a real read-only outbox")
def test_read_only_outbox_keeps_the_input_queued_and_finishes_it_when_writable(tmp_path):
    """Issue #12: a read-only outbox (a bind mount, EROFS) used to send inputs to failed/ as
    `storage_error`, where they stayed. Now the input stays in work/, is retried with backoff (capped)
    and logged once; nothing new is claimed meanwhile; once the outbox is writable both flow, with
    no requeue."""
    box = Box(tmp_path, retries={"max_attempts": 2, "backoff_seconds": 0.05, "backoff_max_seconds": 0.2})
    proc = box.start()
    proc.wait_event("ready", timeout=120)
    _mount("--bind", str(box.outbox), str(box.outbox))
    try:
        _mount("-o", "remount,bind,ro", str(box.outbox))
        box.drop("a.txt", f"The patient has pain. {SECRET}")
        retry = proc.wait_event("retry_scheduled", timeout=30)
        assert retry["reason"] == "storage_error" and retry["errno"] == "EROFS"
        box.drop("b.txt", "She has a fever.")
        time.sleep(2.0)  # ~10 retries at the 0.2 s cap
        assert proc.alive() and box.failures() == {}
        assert [os.listdir(box.work / c) for c in box.entries("work")] == [["a.txt"]]
        assert box.entries("inbox") == ["b.txt"]  # held: not claimed while writing fails
        assert len(_lines(proc, "retry_scheduled")) == 1  # one line, not one per retry
    finally:
        _umount(box.outbox)
    proc.wait_event("processed", file="a.txt", timeout=30)
    proc.wait_event("processed", file="b.txt", timeout=30)
    recovered = proc.wait_event("storage_recovered", timeout=10)
    assert recovered["failures"] >= 5
    assert proc.stop() == 0
    assert sorted(r["source_name"] for r in box.results().values()) == ["a.txt", "b.txt"]
    assert box.entries("failed") == [] and box.entries("work") == []
    assert list(box.outbox.glob(".tmp-*")) == []
    assert SECRET not in proc.text()


@pytest.mark.skipif(not _can_mount(), reason="needs root and mount(8) to make a small file system")
def test_full_disk_keeps_the_input_and_finishes_it_when_space_returns(tmp_path):
    """Every data folder on a 2 MiB tmpfs, filled up: the result, the attempt record, even a sidecar
    or the status file cannot be written (ENOSPC). The daemon must stay up, keep the input in work/
    (not lose it, not quarantine it), claim nothing new, log the condition once per kind (not a line
    per retry or per heartbeat), and finish everything once space is freed."""
    data = tmp_path / "data"
    data.mkdir()
    _mount("-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(data))
    try:
        box = Box(tmp_path, root=data)
        proc = box.start()
        proc.wait_event("ready", timeout=120)
        pending = box.inbox / ".x.txt.part"
        pending.write_text(f"The patient has pain. {SECRET}")
        later = box.inbox / ".y.txt.part"  # (written before the disk fills: dropped while it is full)
        later.write_text("She has a fever.")
        filler = data / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError as e:
            assert e.errno == errno.ENOSPC
        finally:
            os.close(fd)
        os.rename(pending, box.inbox / "x.txt")
        wait_for(
            lambda: [e for e in proc.events() if e.get("errno") == "ENOSPC"],
            timeout=30,
            what="an ENOSPC in the log",
        )
        os.rename(later, box.inbox / "y.txt")
        time.sleep(2.0)  # many retries and heartbeats while full
        assert proc.alive()
        assert box.entries("outbox") == [] and box.failures() == {}
        assert [os.listdir(box.work / c) for c in box.entries("work")] == [["x.txt"]]  # kept, not lost
        assert "y.txt" in box.entries("inbox")  # nothing new claimed while full
        enospc = [e for e in proc.events() if e.get("errno") == "ENOSPC"]
        per_event = {n: sum(e["event"] == n for e in enospc) for n in {e["event"] for e in enospc}}
        assert all(n == 1 for n in per_event.values()), per_event
        filler.unlink()
        proc.wait_event("processed", file="x.txt", timeout=30)
        proc.wait_event("processed", file="y.txt", timeout=30)
        assert proc.stop() == 0
        results = box.results()
        assert sorted(r["source_name"] for r in results.values()) == ["x.txt", "y.txt"]
        assert box.entries("work") == [] and box.entries("failed") == []
        assert list(data.rglob(".tmp-*")) == []
        assert SECRET not in proc.text()
    finally:
        _umount(data)


@pytest.mark.skipif(not _can_mount(), reason="needs root and mount(8) to make a small file system")
def test_an_outbox_that_fills_and_frees_during_a_batch_loses_and_sets_aside_nothing(tmp_path):
    """The outbox alone on a small tmpfs that the batch fills: the daemon waits (one line per episode)
    while the integrator collects results, and every input ends with exactly one result, none in
    failed/."""
    box = Box(tmp_path, retries={"max_attempts": 3, "backoff_seconds": 0.05, "backoff_max_seconds": 0.3})
    _mount("-t", "tmpfs", "-o", "size=48k,mode=0755", "tmpfs", str(box.outbox))
    collected = tmp_path / "collected"
    collected.mkdir()
    try:
        proc = box.start()
        proc.wait_event("ready", timeout=120)
        names = [f"call-{i:02d}.txt" for i in range(24)]
        for name in names:
            box.drop(name, f"Call {name}: the patient has pain and a fever. {SECRET} " * 8)
        proc.wait_event("retry_scheduled", reason="storage_error", timeout=60)  # the outbox is full
        time.sleep(1.0)
        assert box.failures() == {} and proc.alive()

        def collect() -> bool:  # the integrator takes results out, as it should
            for p in box.outbox.glob("*.json.age"):
                shutil.move(str(p), collected / p.name)
            return len(list(collected.iterdir())) >= len(names) and not box.entries("work")

        wait_for(collect, timeout=120, interval=0.5, what="every result collected")
        assert proc.stop() == 0
    finally:
        _umount(box.outbox)
    assert box.failures() == {} and box.entries("work") == [] and box.entries("inbox") == []
    from appliance import crypto

    sources = sorted(
        json.loads(crypto.decrypt(p.read_bytes(), box.identities))["source_name"] for p in collected.iterdir()
    )
    assert sources == names  # one result per input, none lost, none twice
    episodes = len(proc.events("storage_recovered"))
    assert 1 <= len(_lines(proc, "retry_scheduled", reason="storage_error")) <= episodes + 1
    assert SECRET not in proc.text()


@pytest.mark.skipif(not _can_mount(), reason="needs root and mount(8) to make a read-only folder")
def test_an_unwritable_failed_folder_keeps_the_bad_input_and_lets_good_ones_flow(tmp_path):
    """Decided for issue #12: when failed/ cannot be written, a bad input stays in work/ and its
    quarantine is retried with backoff (logged once); good inputs keep flowing; once failed/ is
    writable the bad input is set aside with its own reason."""
    box = Box(tmp_path, retries={"max_attempts": 3, "backoff_seconds": 0.05, "backoff_max_seconds": 0.2})
    proc = box.start()
    proc.wait_event("ready", timeout=120)
    _mount("--bind", str(box.failed), str(box.failed))
    try:
        _mount("-o", "remount,bind,ro", str(box.failed))
        box.drop("bad.txt", "hello".encode("utf-16"))
        proc.wait_event("quarantine_failed", timeout=30)
        box.drop("good.txt", "She has a fever.")
        proc.wait_event("processed", file="good.txt", timeout=30)
        time.sleep(1.0)
        assert [os.listdir(box.work / c) for c in box.entries("work")] == [["bad.txt"]]
        assert len(proc.events("quarantine_failed")) == 1
    finally:
        _umount(box.failed)
    wait_for(lambda: "bad.txt" in box.failures(), timeout=30, what="bad.txt in failed/")
    assert box.failures()["bad.txt"]["reason"] == "utf16"
    assert proc.stop() == 0
    assert box.entries("work") == [] and len(box.results()) == 1


def test_input_removed_while_being_processed(tmp_path):
    """Deleted from work/ while the pipeline runs on it (an operator cleaning up): the daemon already
    holds the bytes, so the result is still written; nothing crashes and the next input flows."""
    box = Box(tmp_path)
    proc = box.start()
    proc.wait_event("ready", timeout=120)
    big = "the patient has pain and fever " * 16000  # 496 KB: a few seconds of rules
    box.drop("big.txt", big)
    proc.wait_event("processing", file="big.txt", timeout=30)
    claimed = list(box.work.glob("*/big.txt"))
    assert claimed and not proc.events("processed"), "processing ended before the file could be removed"
    claimed[0].unlink()
    proc.wait_event("processed", file="big.txt", timeout=60)
    box.drop("next.txt", "Vomiting.")
    proc.wait_event("processed", file="next.txt", timeout=30)
    assert proc.stop() == 0
    assert sorted(r["source_name"] for r in box.results().values()) == ["big.txt", "next.txt"]
    assert box.entries("work") == [] and box.failures() == {}
    assert os.listdir(box.state / "attempts") == []


def test_many_turns_cost_grows_linearly():
    """A transcript with 4x the turns must cost about 4x the time, not 16x: medspaCy's ConText pairs
    every modifier with every target of a doc, so the rules run it per block of whole sentences
    (appliance/rules/extractor.py, ``_Pipeline.run_blocks``); a 600 KB call must not take minutes.
    CPU time of this process (not wall time), best of two, so other load on the machine matters less."""
    from appliance.document import Document
    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings

    pipe = Pipeline.load(PipelineSettings(strategy="rules", languages=["en"]))
    pipe.process(Document(id="warm", text=dialogue(20)))

    def cost(n: int) -> float:
        best = float("inf")
        for rep in range(2):
            t0 = time.process_time()
            pipe.process(Document(id=f"d{n}-{rep}", text=dialogue(n) + f"\nrep {rep}"))
            best = min(best, time.process_time() - t0)
        return best

    small, large = cost(100), cost(400)
    assert large / small < 8, f"100 turns: {small:.2f} s, 400 turns: {large:.2f} s"
