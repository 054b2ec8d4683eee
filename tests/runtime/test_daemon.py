"""The drop-folder daemon.

* In-process tests drive ``Daemon.step()`` with a fake pipeline (tests/support/fakepipe.py): fast and exact.
* Subprocess tests run the real CLI (``python tests/support/fakepipe.py run`` = ``appliance run`` with the fake
  pipeline swapped in) for signals and SIGKILL crash recovery.
* End-to-end tests run ``appliance run`` itself on the real tiny INT4 bundle (``tiny_bundle``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from appliance import crypto
from appliance.config import load_config
from appliance.daemon import Daemon
from appliance.docsync import result_schema
from appliance.result import Result
from appliance.state import read_status
from tests.support.fakepipe import FakePipeline
from tests.support.paths import FAKEPIPE, REPO
from tests.support.reliability import APPLIANCE, Proc, child_env, wait_for

SECRET = "PATIENT-SECRET-7f3a"  # stands in for patient text: must never leave the encrypted files


# ------------------------------------------------------------------------------------------ helpers


class Env:
    def __init__(self, tmp_path: Path, **sections) -> None:
        self.root = tmp_path / "data"
        self.secret, self.public = crypto.generate_identity()
        self.key = tmp_path / "identity.txt"
        crypto.write_identity_file(self.key, crypto.identity_file_text(self.secret, self.public))
        self.identities = crypto.load_identities(self.key)
        conf = {
            "paths": {"root": str(self.root)},
            "recipients": {"keys": [self.public]},
            "watch": {
                "settle_seconds": 0.3,
                "write_settle_seconds": 3.0,
                "rescan_seconds": 0.5,
                "tick_seconds": 0.05,
            },
            "retries": {"max_attempts": 3, "backoff_seconds": 0.05, "backoff_max_seconds": 0.2},
            "service": {"status_interval_seconds": 0.2, "log_format": "json"},
        }
        for name, values in sections.items():
            conf.setdefault(name, {}).update(values)
        import tomli_w

        self.config = tmp_path / "config.toml"
        self.config.write_text(tomli_w.dumps(conf))
        for d in ("inbox", "work", "outbox", "failed", "archive", "state"):
            (self.root / d).mkdir(parents=True, exist_ok=True)

    def __getattr__(self, name: str) -> Path:
        if name in ("inbox", "work", "outbox", "failed", "archive", "state"):
            return self.root / name
        raise AttributeError(name)

    def drop(self, name: str, content: str | bytes) -> Path:
        """Write under a hidden temp name, then rename into place (the recommended way)."""
        data = content.encode() if isinstance(content, str) else content
        tmp = self.inbox / f".{name}.tmp"
        tmp.write_bytes(data)
        os.rename(tmp, self.inbox / name)
        return self.inbox / name

    def results(self) -> dict[str, dict]:
        out = {}
        for p in sorted(self.outbox.glob("*.json.age")):
            out[p.name] = json.loads(crypto.decrypt(p.read_bytes(), self.identities))
        return out

    def failures(self) -> dict[str, dict]:
        return {
            p.name[: -len(".error.json")]: json.loads(p.read_text()) for p in self.failed.glob("*.error.json")
        }

    def files(self, folder: str) -> list[str]:
        return sorted(p.name for p in (self.root / folder).iterdir() if not p.name.startswith("."))


def daemon(env: Env, pipeline: FakePipeline | None = None) -> Daemon:
    pipe = pipeline or FakePipeline()
    d = Daemon(load_config(env.config, env={}), loader=lambda s: pipe, notifier=lambda m: None)
    d.start()
    return d


def run_until(d: Daemon, pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not d.step():
            d.intake.wait_for_events(0.02)
            d.intake.rescan()
        if pred():
            return
    raise AssertionError("daemon did not reach the expected state")


def assert_no_secret(env: Env, *texts: str) -> None:
    """Patient text appears nowhere in plaintext: not in the outbox, archive, state, sidecars, or logs."""
    for folder in ("outbox", "archive", "state"):
        for p in (env.root / folder).rglob("*"):
            if p.is_file():
                assert SECRET.encode() not in p.read_bytes(), p
    for p in env.failed.glob("*.error.json"):
        assert SECRET not in p.read_text(), p
    for t in texts:
        assert SECRET not in t


# ------------------------------------------------------------------------------------------ in-process


def test_happy_path_result_is_encrypted_valid_and_input_removed(tmp_path):
    env = Env(tmp_path)
    env.drop("call-1.txt", f"pain and fever {SECRET}")
    c2 = json.dumps(
        {"id": "c2", "language": "fa", "text": f"seizures {SECRET}", "metadata": {"site": "north"}}
    )
    env.drop("call-2.json", c2)
    d = daemon(env)
    run_until(d, lambda: len(env.files("outbox")) == 2)
    results = env.results()
    assert set(results) == {
        f"call-1.{_sha('pain and fever ' + SECRET)[:16]}.json.age",
        f"c2.{_sha(c2)[:16]}.json.age",
    }
    by_id = {r["input_id"]: r for r in results.values()}
    assert by_id["call-1"]["features"]["pain"]["value"] is True
    assert by_id["c2"]["metadata"] == {"site": "north"} and by_id["c2"]["language"] == "fa"
    import jsonschema

    for r in results.values():
        Result.model_validate(r)
        jsonschema.validate(r, result_schema())
    assert env.files("inbox") == [] and env.files("work") == []
    assert env.files("archive") == []  # retention: delete
    assert_no_secret(env)
    st = read_status(env.state)
    assert st.processed == 2 and st.failed == 0 and st.state == "ready"
    assert st.models["task"] == "fake3"


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def test_duplicates_yield_one_result_even_after_the_outbox_is_emptied(tmp_path):
    env = Env(tmp_path)
    pipe = FakePipeline()
    d = daemon(env, pipe)
    env.drop("a.txt", "pain")
    run_until(d, lambda: len(env.files("outbox")) == 1)
    env.drop("a.txt", "pain")
    run_until(d, lambda: env.files("inbox") == [] and env.files("work") == [] and d.status.duplicates == 1)
    for p in env.outbox.iterdir():  # the integrator collects results
        p.unlink()
    env.drop("a.txt", "pain")
    run_until(d, lambda: d.status.duplicates == 2)
    assert pipe.calls == ["a"] and env.files("outbox") == []
    env.drop("a.txt", "pain, corrected")  # same id, new content: a new result
    run_until(d, lambda: len(env.files("outbox")) == 1)
    assert pipe.calls == ["a", "a"]


def test_bad_inputs_fail_with_reason_while_good_ones_flow(tmp_path):
    env = Env(tmp_path, limits={"max_file_bytes": 200})
    d = daemon(env)
    env.drop("utf16.txt", "hello".encode("utf-16"))
    env.drop("bin.txt", b"\x00\x01\x02binary")
    env.drop("empty.txt", b"   \n")
    env.drop("big.txt", "x" * 300)
    env.drop("bad.json", '{"id": 3, "text": "x"}')
    env.drop("notes.docx", b"PK\x03\x04")
    env.drop("boom.txt", f"#boom {SECRET}")
    env.drop("long.txt", "#toolong")
    env.drop("good.txt", "fever")
    run_until(d, lambda: len(env.failures()) == 8 and len(env.files("outbox")) == 1, timeout=15)
    reasons = {name: f["reason"] for name, f in env.failures().items()}
    assert reasons == {
        "utf16.txt": "utf16",
        "bin.txt": "binary",
        "empty.txt": "whitespace_only",
        "big.txt": "too_large",
        "bad.json": "json_field",
        "notes.docx": "unsupported_type",
        "boom.txt": "pipeline_error",
        "long.txt": "too_long",
    }
    boom = env.failures()["boom.txt"]
    assert boom["exception"] == "RuntimeError" and boom["attempts"] == 3 and boom["detail"] is None
    assert boom["input_sha256"] == _sha(f"#boom {SECRET}")
    assert (env.failed / "boom.txt").read_text() == f"#boom {SECRET}"  # the input itself is kept intact
    assert env.failures()["big.txt"]["input_bytes"] == 300
    assert env.files("work") == [] and env.files("inbox") == []
    assert d.status.failed == 8 and d.status.processed == 1
    assert_no_secret(env)


def test_transient_failure_is_retried(tmp_path):
    env = Env(tmp_path)
    pipe = FakePipeline()
    d = daemon(env, pipe)
    env.drop("f.txt", "#flaky")
    run_until(d, lambda: len(env.files("outbox")) == 1)
    assert pipe.calls == ["f", "f"] and d.status.retries == 1 and env.failures() == {}


def test_archive_retention_keeps_encrypted_input(tmp_path):
    env = Env(tmp_path, retention={"on_success": "archive"})
    d = daemon(env)
    env.drop("a.txt", f"pain {SECRET}")
    run_until(d, lambda: len(env.files("archive")) == 1)
    (arch,) = env.archive.iterdir()
    assert arch.name.endswith(".txt.age")
    assert crypto.decrypt(arch.read_bytes(), env.identities) == f"pain {SECRET}".encode()
    assert env.files("work") == []
    assert_no_secret(env)


def test_recovery_of_work_left_by_a_crash(tmp_path):
    env = Env(tmp_path)
    pipe = FakePipeline()
    d = daemon(env, pipe)
    env.drop("y.txt", "fever")
    run_until(d, lambda: len(env.files("outbox")) == 1)
    key_y = env.files("outbox")[0][: -len(".json.age")]
    # left by a crash: (1) x claimed, never processed; (2) y's result written, ledger and cleanup not done
    (env.work / "1a~x.txt").write_text("pain")
    d.store.ledger_path(key_y).unlink()
    (env.work / "1b~y.txt").write_text("fever")
    assert pipe.calls == ["y"]
    d2 = daemon(env, pipe)
    run_until(d2, lambda: env.files("work") == [] and len(env.files("outbox")) == 2)
    assert pipe.calls == ["y", "x"]  # y did not run twice
    assert d2.status.recovered == 1 and d2.status.duplicates == 0 and d2.status.processed == 1
    assert d2.store.ledger_path(key_y).exists()


class ScriptedIsolator:
    """Stands in for the child process of a suspect: each run pops the next scripted behaviour
    (``"ok"``: extract with the fake pipeline; an exception: raised as the child's fate)."""

    separate_process = True

    def __init__(self, *script) -> None:
        self.script = list(script)
        self.runs: list[str] = []

    def run(self, raw, name, keepalive):
        from appliance.daemon.isolation import Extracted
        from appliance.inputs import parse_input

        self.runs.append(name)
        step = self.script.pop(0) if self.script else "ok"
        if step != "ok":
            raise step
        doc = parse_input(raw, name)
        return Extracted(doc.id, FakePipeline().process(doc))


def _die_in_flight(env: Env, name: str) -> None:
    """What a SIGKILL does to an input in flight: its attempt is marked in flight, then nothing more."""
    d = daemon(env)
    item = next(i for i in d.store.work_items() if i.name == name)
    d.processor.begin(item)


def test_kills_of_the_daemon_are_never_counted_against_the_input(tmp_path):
    """Issue #12: `max_attempts` (3) SIGKILLs while one valid transcript was in flight sent it to
    failed/ as `interrupted`. Now it is a suspect, extracted alone in a child process, and processed."""
    env = Env(tmp_path)
    (env.work / "1c~valid.txt").write_text("pain")  # (claimed before an upgrade: the old layout)
    for _ in range(5):
        _die_in_flight(env, "valid.txt")
    iso = ScriptedIsolator("ok")
    pipe = FakePipeline()
    d = Daemon(load_config(env.config, env={}), loader=lambda s: pipe, notifier=lambda m: None, isolator=iso)
    d.start()
    run_until(d, lambda: env.files("work") == [] and env.files("outbox") != [])
    assert env.failures() == {} and iso.runs == ["valid.txt"] and pipe.calls == []  # only in the child
    assert next(iter(env.results().values()))["input_id"] == "valid"
    assert d.status.processed == 1 and d.status.failed == 0
    assert os.listdir(env.state / "attempts") == []


def test_an_input_that_crashes_its_child_is_set_aside_and_the_rest_flows(tmp_path):
    from appliance.daemon.isolation import ChildCrashed

    env = Env(tmp_path)
    (env.work / "1c~poison.txt").write_text("pain")
    _die_in_flight(env, "poison.txt")  # it took the daemon down once
    iso = ScriptedIsolator(*[ChildCrashed("SIGSEGV")] * 3)
    d = Daemon(load_config(env.config, env={}), loader=lambda s: FakePipeline(), notifier=lambda m: None,
               isolator=iso)
    d.start()
    env.drop("good.txt", "fever")
    run_until(d, lambda: env.failures() != {} and len(env.files("outbox")) == 1)
    rec = env.failures()["poison.txt"]
    assert rec["reason"] == "interrupted" and rec["attempts"] == 3 and "SIGSEGV" in rec["detail"]
    assert iso.runs == ["poison.txt"] * 3 and d.status.processed == 1
    assert env.files("work") == []


def test_isolation_unavailable_is_retried_never_set_aside(tmp_path):
    from appliance.daemon.isolation import IsolationUnavailable

    env = Env(tmp_path)
    (env.work / "1c~x.txt").write_text("pain")
    _die_in_flight(env, "x.txt")
    iso = ScriptedIsolator(*[IsolationUnavailable("no worker")] * 5, "ok")
    d = Daemon(load_config(env.config, env={}), loader=lambda s: FakePipeline(), notifier=lambda m: None,
               isolator=iso)
    d.start()
    run_until(d, lambda: env.files("outbox") != [])
    assert env.failures() == {} and len(iso.runs) == 6


def test_recovered_items_take_turns_with_new_ones_least_interrupted_first(tmp_path):
    env = Env(tmp_path, watch={"settle_seconds": 0.3})
    for name in ("1a~often.txt", "1b~once.txt"):
        (env.work / name).write_text("pain " + name)
    for _ in range(3):
        _die_in_flight(env, "often.txt")
    _die_in_flight(env, "once.txt")
    for i in range(3):
        (env.inbox / f"new{i}.txt").write_text(f"fever {i}")
    iso = ScriptedIsolator()
    d = Daemon(load_config(env.config, env={}), loader=lambda s: FakePipeline(), notifier=lambda m: None,
               isolator=iso)
    d.start()
    order: list[str] = []
    real = d.outcomes.apply
    d.outcomes.apply = lambda item, outcome: (order.append(item.name), real(item, outcome))
    run_until(d, lambda: len(env.files("outbox")) == 5)
    assert order.index("once.txt") < order.index("often.txt")
    # a new input first (the recovered ones wait for the inbox's files to settle), then turns
    assert order[0].startswith("new") and order[1] == "once.txt" and order[2].startswith("new")


def test_a_missing_outbox_keeps_inputs_queued_until_it_is_back(tmp_path):
    """Issue #12, without mounting anything: the outbox vanishes (an unmounted share). Writing fails
    (ENOENT); the input stays in work/, nothing new is claimed, nothing is quarantined, the condition
    is logged once; when the outbox is back everything flows."""
    env = Env(tmp_path)
    d = daemon(env)
    shutil.rmtree(env.outbox)
    env.drop("a.txt", "pain")
    env.drop("b.txt", "fever")
    run_until(d, lambda: d.status.retries >= 5, timeout=20)
    assert env.failures() == {} and [os.listdir(env.work / c) for c in env.files("work")] == [["a.txt"]]
    assert env.files("inbox") == ["b.txt"] and d.status.last_error.code == "storage_error"
    env.outbox.mkdir()
    run_until(d, lambda: len(env.files("outbox")) == 2 and env.files("work") == [])
    assert env.failures() == {} and d.status.processed == 2


def test_a_storage_error_while_writing_does_not_make_the_input_a_suspect(tmp_path, monkeypatch):
    """A full disk when the attempt's end is recorded left the record "in flight": on the retry the live
    daemon took its own storage error for a death and sent the input to a child process."""
    import errno

    from appliance.store import Store

    env = Env(tmp_path)
    real, failed = Store.save_attempts, []

    def save_attempts(self, item, rec, *, sync=True):
        if not rec.in_flight and not failed:  # the attempt ended: the disk is full just then
            failed.append(item.name)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, item, rec, sync=sync)

    monkeypatch.setattr(Store, "save_attempts", save_attempts)
    iso, pipe = ScriptedIsolator(), FakePipeline()
    d = Daemon(load_config(env.config, env={}), loader=lambda s: pipe, notifier=lambda m: None, isolator=iso)
    d.start()
    env.drop("a.txt", "pain")
    run_until(d, lambda: env.files("outbox") != [] and env.files("work") == [])
    assert failed == ["a.txt"] and d.status.retries == 1 and d.status.processed == 1
    assert iso.runs == [] and pipe.calls == ["a", "a"]  # retried by the daemon itself, not isolated


def test_refuses_to_start_without_recipients(tmp_path):
    from appliance.errors import ConfigError

    env = Env(tmp_path, recipients={"keys": []})
    with pytest.raises(ConfigError, match="no recipients"):
        daemon(env)


def test_same_file_system_check(tmp_path):
    from appliance.store import StoreError

    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second file system")
    env = Env(tmp_path)
    import tomli_w

    shm = Path(f"/dev/shm/appliance-test-{os.getpid()}")
    try:
        conf = {"paths": {"root": str(env.root), "failed": str(shm)}, "recipients": {"keys": [env.public]}}
        env.config.write_text(tomli_w.dumps(conf))
        with pytest.raises(StoreError, match="different file systems"):
            daemon(env)
    finally:
        shutil.rmtree(shm, ignore_errors=True)


# ------------------------------------------------------------------------------------------ format seams


def test_a_registered_input_format_is_taken_by_the_daemon(tmp_path):
    from appliance.document import Document
    from appliance.inputs import REGISTRY
    from appliance.inputs.decoding import decode_text

    def parse_md(raw: bytes, name: str, limits) -> Document:
        return Document(id=Path(name).stem, text=decode_text(raw).lstrip("# "), source_name=name)

    env = Env(tmp_path)
    pipe = FakePipeline()
    with REGISTRY.registered(".md", parse_md):  # one registration line: the daemon takes `.md`
        d = daemon(env, pipe)
        env.drop("note.md", "# pain")
        run_until(d, lambda: len(env.files("outbox")) == 1 and env.files("work") == [])
    (result,) = env.results().values()
    assert result["source_name"] == "note.md" and result["features"]["pain"]["value"] is True
    assert pipe.calls == ["note"] and env.failures() == {}
    env.drop("other.md", "# pain")  # registration gone: refused as before
    run_until(d, lambda: env.failures() != {})
    assert env.failures()["other.md"]["reason"] == "unsupported_type"


@pytest.fixture
def summary_format():
    """A second output format for these tests: the names of the features found, as plain text."""
    from dataclasses import dataclass

    from appliance.outputs import REGISTRY

    @dataclass(frozen=True)
    class Summary:
        name: str = "summary"
        suffix: str = ".summary.txt"
        media_type: str = "text/plain"

        def render(self, result: Result, context) -> bytes:
            return " ".join(k for k, f in result.features.items() if f.value is True).encode()

    REGISTRY.register(Summary())
    yield Summary()
    REGISTRY.unregister("summary")


def test_every_output_format_is_written_before_the_ledger_entry(tmp_path, summary_format, monkeypatch):
    env = Env(tmp_path, output={"formats": ["native", "summary"]})
    d = daemon(env)
    outbox_at_ledger: list[list[str]] = []
    real_mark_done = d.store.mark_done

    def mark_done(key, info):
        outbox_at_ledger.append(env.files("outbox"))
        assert env.files("work") != []  # the input is still in work/
        return real_mark_done(key, info)

    monkeypatch.setattr(d.store, "mark_done", mark_done)
    env.drop("a.txt", "pain and fever")
    run_until(d, lambda: d.status.processed == 1 and env.files("work") == [])
    key = f"a.{_sha('pain and fever')[:16]}"
    assert outbox_at_ledger == [[f"{key}.json.age", f"{key}.summary.txt.age"]]
    summary = crypto.decrypt((env.outbox / f"{key}.summary.txt.age").read_bytes(), env.identities)
    assert summary == b"pain fever"
    assert env.results()[f"{key}.json.age"]["input_id"] == "a"
    ledger = json.loads(d.store.ledger_path(key).read_text())
    assert ledger["bytes_sha256"] == _sha("pain and fever") and "input_sha256" not in ledger
    assert read_status(env.state).processed == 1 and d.store.counts()["outbox"] == 2


def test_a_crash_between_two_outputs_is_not_taken_for_done(tmp_path, summary_format):
    env = Env(tmp_path, output={"formats": ["native", "summary"]})
    pipe = FakePipeline()
    d = daemon(env, pipe)
    # left by a crash: a's first output written, not its second; b's two outputs written; neither has
    # its ledger entry, both inputs are still in work/
    key_a, key_b = f"a.{_sha('pain')[:16]}", f"b.{_sha('fever')[:16]}"
    (env.work / "1a~a.txt").write_text("pain")
    d.store.write_result(key_a, ".json", b"first output of the interrupted attempt")
    (env.work / "1b~b.txt").write_text("fever")
    d.store.write_result(key_b, ".json", b"x")
    d.store.write_result(key_b, ".summary.txt", b"y")
    d2 = daemon(env, pipe)
    run_until(d2, lambda: env.files("work") == [])
    assert pipe.calls == ["a"]  # a ran again for its missing output; b only needed its ledger entry
    assert d2.status.processed == 1 and d2.status.recovered == 1
    assert crypto.decrypt((env.outbox / f"{key_a}.summary.txt.age").read_bytes(), env.identities) == b"pain"
    assert (env.outbox / f"{key_a}.json.age").read_bytes() == b"first output of the interrupted attempt"
    assert d2.store.ledger_path(key_a).exists() and d2.store.ledger_path(key_b).exists()


def test_every_reason_code_the_daemon_can_write_is_a_member_of_the_enum(tmp_path):
    import re

    from appliance.config import RetriesConfig
    from appliance.daemon.outcome import Failed, Forget, Quarantine, Retry, Stage
    from appliance.daemon.policy import FailurePolicy
    from appliance.errors import InputError
    from appliance.reasons import Reason

    # 1. every decision of the failure policy (the one place a code is chosen) names a member
    policy = FailurePolicy(RetriesConfig(max_attempts=2))
    work_file = tmp_path / "1a~x.txt"
    work_file.write_text("x")
    cases = [
        Failed(stage, InputError(code, "m"), attempts=1)
        for code in Reason
        if code.source != "daemon"
        for stage in (Stage.CLAIM, Stage.READ, Stage.PARSE, Stage.PIPELINE)
    ]
    from appliance.daemon.isolation import ChildCrashed

    cases += [Failed(Stage.CRASH, ChildCrashed("SIGSEGV"), attempts=n) for n in (1, 2)]
    cases += [Failed(Stage.ENVIRONMENT, RuntimeError("m"))]
    cases += [
        Failed(s, OSError(28, "m"), attempts=n) for s in (Stage.PIPELINE, Stage.STORAGE) for n in (1, 2)
    ]
    cases += [Failed(Stage.STORAGE, InputError("utf16", "m"), attempts=1)]
    cases += [Failed(Stage.INTERNAL, RuntimeError("m"))] * 2
    decisions = [policy.decide(work_file, f) for f in cases]
    assert all(isinstance(d, (Quarantine, Retry)) and isinstance(d.reason, Reason) for d in decisions)
    written = {d.reason.value for d in decisions}
    assert written == {r.value for r in Reason}  # and every member is reachable
    assert isinstance(policy.decide(tmp_path / "gone", Failed(Stage.INTERNAL, RuntimeError("m"))), Forget)
    with pytest.raises(ValueError):  # a code outside the enum is a bug, never written as such
        policy.decide(work_file, Failed(Stage.PARSE, InputError("made_up", "m")))

    # 2. every InputError raised on the daemon's path (not evaluate's or the CLI's) names a member
    found = 0
    for path in sorted((REPO / "appliance").rglob("*.py")):
        rel = path.relative_to(REPO / "appliance").as_posix()
        if rel.startswith(("evaluate/", "cli/")) or rel == "errors.py":
            continue
        text = path.read_text(encoding="utf-8")
        calls = re.findall(r"InputError\(\s*([^,\s]+)", text)
        for code in calls:
            found += 1
            m = re.fullmatch(r'Reason\.([A-Z0-9_]+)|"([a-z0-9_]+)"', code)
            assert m, f"{rel}: InputError({code}, ...) does not name a reason code"
            assert (m.group(1) and hasattr(Reason, m.group(1))) or m.group(2) in {r.value for r in Reason}, (
                f"{rel}: {code} is not a member of appliance.reasons.Reason"
            )
    assert found >= 30


# ------------------------------------------------------------------------------------------ subprocess


def daemon_proc(env: Env, cmd: list[str], extra_env: dict | None = None) -> Proc:
    """A daemon subprocess on this test's folders (the shared helper of the reliability suite)."""
    log = env.root.parent / f"daemon-{time.monotonic_ns()}.log"
    return Proc(cmd, env.config, log, child_env(**(extra_env or {})), REPO)


def fake(env: Env, **extra_env) -> Proc:
    return daemon_proc(env, [sys.executable, str(FAKEPIPE)], extra_env)


def test_sigterm_finishes_the_current_file(tmp_path):
    env = Env(tmp_path)
    proc = fake(env, FAKE_SLOW_SECONDS="2")
    proc.wait_event("ready")
    env.drop("slow.txt", "#slow pain")
    env.drop("next.txt", "fever")
    proc.wait_event("processing")
    rc = proc.stop()
    assert rc == 0
    assert len(env.files("outbox")) == 1 and env.files("work") == []
    assert env.files("inbox") == ["next.txt"]  # not started: stays for the next run
    assert read_status(env.state).state == "stopped"
    events = [e["event"] for e in proc.events()]
    assert events.index("stopping") < events.index("processed") < events.index("stopped")


def test_sighup_finishes_the_current_file_and_exits_to_be_restarted(tmp_path):
    """`kill -HUP` (the reflex for "reload") killed the daemon on the spot, and systemd's
    `Restart=on-failure` counts a death by SIGHUP as clean: the box stayed down. Now it is a restart:
    the current input finishes, then exit 75, which the unit restarts (with the config re-read)."""
    env = Env(tmp_path)
    proc = fake(env, FAKE_SLOW_SECONDS="2")
    proc.wait_event("ready")
    env.drop("slow.txt", "#slow pain")
    proc.wait_event("processing")
    proc.p.send_signal(signal.SIGHUP)
    assert proc.p.wait(60) == 75
    proc._fh.close()
    assert proc.events("processed") and len(env.files("outbox")) == 1 and env.files("work") == []
    assert proc.events("stopping")[0]["signal"] == "SIGHUP"


def test_a_hangup_of_the_whole_group_is_not_held_against_a_suspect(tmp_path):
    """A terminal that closes sends SIGHUP to the daemon and its child alike (`appliance run` started by
    hand): the child, which leaves such decisions to its parent, must not die of it (a crash counted
    against the input); the parent finishes the input and exits to be restarted."""
    env = Env(tmp_path)
    env.drop("slow.txt", "#slow pain")
    proc = fake(env, FAKE_SLOW_SECONDS="30")
    proc.wait_event("processing", file="slow.txt")
    proc.kill()  # a suspect from now on
    calls = tmp_path / "calls.log"
    proc = fake(env, FAKE_SLOW_SECONDS="3", FAKE_CALL_LOG=str(calls))
    child = proc.wait_event("worker_started")["pid"]
    wait_for(lambda: calls.exists() and calls.read_text(), 30, what="the child extracting")
    for pid in (child, proc.pid):
        os.kill(pid, signal.SIGHUP)
    assert proc.p.wait(60) == 75
    proc._fh.close()
    assert not proc.events("retry_scheduled") and proc.events("processed")[0]["isolated"] is True
    assert env.files("work") == [] and len(env.files("outbox")) == 1


def test_second_sigterm_stops_now_and_the_file_is_recovered(tmp_path):
    env = Env(tmp_path)
    proc = fake(env, FAKE_SLOW_SECONDS="30")
    proc.wait_event("ready")
    env.drop("slow.txt", "#slow pain")
    proc.wait_event("processing")
    proc.p.send_signal(signal.SIGTERM)
    proc.wait_event("stopping")
    proc.p.send_signal(signal.SIGTERM)
    assert proc.p.wait(10) == 0
    proc._fh.close()
    assert env.files("outbox") == [] and len(env.files("work")) == 1
    proc2 = fake(env, FAKE_SLOW_SECONDS="0")
    proc2.wait_event("processed")
    assert proc2.stop() == 0
    assert len(env.files("outbox")) == 1 and env.files("work") == []


def test_sigkill_mid_run_loses_nothing_and_duplicates_nothing(tmp_path):
    env = Env(tmp_path)
    calls = tmp_path / "calls.log"
    names = [f"doc{i:02d}.txt" for i in range(24)]
    for n in names:  # present at start-up
        (env.inbox / n).write_text(f"#slow pain {n}")
    extra = {"FAKE_SLOW_SECONDS": "0.1", "FAKE_CALL_LOG": str(calls)}
    kills = 0
    for delay in (0.9, 0.45, 0.7):
        proc = fake(env, **extra)
        proc.wait_event("ready")
        time.sleep(delay)
        proc.kill()
        kills += 1
    proc = fake(env, **extra)
    proc.wait_event("ready")
    wait_for(lambda: len(env.files("outbox")) == len(names), timeout=60, what="all results")
    wait_for(lambda: env.files("work") == [] and env.files("inbox") == [], timeout=10, what="empty work")
    proc.stop()
    results = env.results()
    assert sorted(r["source_name"] for r in results.values()) == names  # one result per input, none lost
    assert env.failures() == {} and env.files("failed") == []
    assert list(env.outbox.glob(".tmp-*")) == [] and list(env.state.rglob(".tmp-*")) == []
    ledger = [p for p in (env.state / "ledger").rglob("*.json") if not p.name.startswith(".")]
    assert len(ledger) == len(names)
    ran = calls.read_text().split()
    assert set(ran) == {n[:-4] for n in names}
    # a file is only processed again when a kill interrupted it before its result was durable
    assert len(ran) - len(names) <= kills


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status  # (a zombie: dead, not yet reaped by its new parent)


def test_a_poison_pill_is_set_aside_after_crashing_only_its_child(tmp_path):
    """A transcript that kills the process extracting it (`#crash`: SIGKILL, as a segfault would) takes
    the daemon down once; restarted, the daemon runs it alone in a child process, which dies
    `max_attempts` times; then it is set aside as `interrupted`, while the daemon stays up and the
    other inputs flow."""
    env = Env(tmp_path)
    env.drop("poison.txt", "#crash pain")
    proc = fake(env)
    proc.p.wait(30)  # the poison pill killed the daemon itself
    proc._fh.close()
    assert proc.p.returncode == -signal.SIGKILL
    env.drop("good.txt", "fever")
    proc = fake(env)
    rec = wait_for(lambda: env.failures().get("poison.txt"), timeout=60, what="poison.txt in failed/")
    proc.wait_event("processed", file="good.txt")
    assert proc.alive()
    assert rec["reason"] == "interrupted" and rec["attempts"] == 3 and "SIGKILL" in rec["detail"]
    assert len(proc.events("worker_started")) == 3 and len(proc.events("isolating")) == 3
    assert [e["crash"] for e in proc.events("retry_scheduled")] == ["SIGKILL", "SIGKILL"]
    assert proc.stop() == 0
    assert env.files("work") == [] and (env.failed / "poison.txt").read_text() == "#crash pain"


def test_kills_while_an_input_is_in_flight_never_set_it_aside(tmp_path):
    """Issue #12: SIGKILL the daemon more than `max_attempts` times while one valid transcript is being
    extracted (first by the daemon, then by its child): it is processed in the end, never failed, and
    the child dies with the daemon (no orphan keeps running)."""
    env = Env(tmp_path)
    env.drop("slow.txt", "#slow pain")
    children = []
    for round_ in range(4):
        proc = fake(env, FAKE_SLOW_SECONDS="3")
        if round_ == 0:
            proc.wait_event("processing", file="slow.txt")
        else:  # a suspect from now on: killed while its child extracts it
            children.append(proc.wait_event("worker_started")["pid"])
        time.sleep(0.5)
        assert not proc.events("processed")
        proc.kill()
        for pid in children:
            wait_for(lambda: _gone(pid), timeout=10, what=f"child {pid} gone with its parent")
    proc = fake(env, FAKE_SLOW_SECONDS="0.2")
    proc.wait_event("processed", file="slow.txt", timeout=60)
    assert proc.stop() == 0
    assert env.failures() == {} and env.files("work") == [] and len(env.files("outbox")) == 1
    (isolating,) = proc.events("isolating")
    assert isolating["interrupted"] == 4 and isolating["crashes"] == 0
    assert proc.events("processed")[0]["isolated"] is True


def test_a_suspect_is_extracted_even_when_loading_the_models_takes_longer_than_max_file_seconds(tmp_path):
    """`service.max_file_seconds` bounds one input's extraction, not loading the models: a child that
    needs longer to load them than that (a large model, a slow disk) must not be killed at every try,
    which kept the suspect in work/ for good as `environment_error`."""
    env = Env(tmp_path, service={"max_file_seconds": 2.0, "log_format": "json"})
    env.drop("slow.txt", "#slow pain")
    proc = fake(env, FAKE_SLOW_SECONDS="30")
    proc.wait_event("processing", file="slow.txt")
    proc.kill()  # a suspect from now on
    proc = fake(env, FAKE_SLOW_SECONDS="0.1", FAKE_LOAD_SECONDS="4")
    proc.wait_event("processed", file="slow.txt", timeout=60)
    assert proc.stop() == 0
    assert not proc.events("retry_scheduled") and env.files("work") == [] and len(env.files("outbox")) == 1


def test_config_error_is_clear_and_exit_78(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[watch]\nsettle_secnds = 1\n")
    r = subprocess.run(
        APPLIANCE + ["run", "--config", str(cfg)], capture_output=True, text=True, cwd=str(REPO)
    )
    assert r.returncode == 78
    assert f"config file {cfg}" in r.stderr and "watch.settle_secnds (line 2): unknown key" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run(
        APPLIANCE + ["run", "--config", str(tmp_path / "none.toml")], capture_output=True, text=True
    )
    assert r.returncode == 78 and "config file not found" in r.stderr


def test_no_recipient_exit_78(tmp_path):
    env = Env(tmp_path, recipients={"keys": []})
    r = subprocess.run(
        [sys.executable, str(FAKEPIPE), "run", "--config", str(env.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 78 and "no recipients configured" in r.stderr


def test_load_when_present_waits_for_a_bundle_that_is_missing_or_still_being_copied(tmp_path):
    from appliance.daemon.models import ModelsUnavailable, load_when_present
    from appliance.errors import BundleError
    from appliance.settings import PipelineSettings

    models = tmp_path / "models"
    models.mkdir()
    settings = PipelineSettings(strategy="json", extractor="b", models_dir=models)
    now = [0.0]
    copied_at, complete_at = 5.0, 25.0  # the bundle appears at 5 s, half-copied until 25 s

    def sleep(seconds):
        now[0] += seconds
        if now[0] >= copied_at and not (models / "b").exists():
            (models / "b").mkdir()
            (models / "b" / "manifest.json").write_text("{}")

    def loader(_):
        if now[0] < complete_at:
            raise BundleError("missing or damaged")
        return "pipeline"

    notes: list[str] = []
    kw = dict(notify=notes.append, stopping=lambda: False, clock=lambda: now[0], sleep=sleep)
    assert load_when_present(loader, settings, wait_seconds=60, **kw) == "pipeline"
    assert 25 <= now[0] < 40 and any(n.startswith("STATUS=waiting for model bundle(s) b") for n in notes)
    assert "WATCHDOG=1" in notes and any(n.startswith("EXTEND_TIMEOUT_USEC=") for n in notes)
    # never there: ModelsUnavailable (exit 75) at the deadline; there but broken from the start: at once
    now[0], copied_at = 0.0, 1e9
    with pytest.raises(ModelsUnavailable):
        load_when_present(loader, settings.model_copy(update={"extractor": "c"}), wait_seconds=10, **kw)
    assert 10 <= now[0] < 13
    now[0] = 0.0
    with pytest.raises(BundleError):
        load_when_present(loader, settings, wait_seconds=60, **kw)
    assert now[0] == 0.0


def test_a_missing_model_bundle_is_waited_for_then_exit_75(tmp_path):
    """Issue #12: a bundle not mounted yet exited 78, which the unit never restarts. Now the daemon
    waits `service.model_wait_seconds`, saying so, then exits 75 (EX_TEMPFAIL), which systemd restarts;
    a bundle that is there but broken is still a configuration error (78)."""
    usb = tmp_path / "usb"
    env = Env(tmp_path, pipeline={"strategy": "json", "extractor": str(usb / "model")},
              service={"model_wait_seconds": 1.0, "log_format": "json"})
    r = subprocess.run(APPLIANCE + ["run", "--config", str(env.config)], capture_output=True, text=True,
                       timeout=120, env=child_env())
    assert r.returncode == 75, r.stderr[-2000:]
    assert "not found after waiting" in r.stderr and "waiting_for_models" in r.stderr
    (usb / "model").mkdir(parents=True)
    (usb / "model" / "manifest.json").write_text("{not json")
    r = subprocess.run(APPLIANCE + ["run", "--config", str(env.config)], capture_output=True, text=True,
                       timeout=120, env=child_env())
    assert r.returncode == 78 and "not valid JSON" in r.stderr and "waiting_for_models" not in r.stderr


def test_a_late_mounted_bundle_is_loaded_when_it_appears(tmp_path, tiny_bundle):
    mount = tmp_path / "mnt"
    mount.mkdir()  # an empty mount point: the bundle is not there yet
    env = Env(tmp_path, pipeline={"strategy": "json", "extractor": "tiny", "models_dir": str(mount),
                                  "task": "palliative13", "languages": ["en"]},
              limits={"max_document_tokens": 2048}, service={"model_wait_seconds": 120, "log_format": "json"})
    proc = daemon_proc(env, APPLIANCE)
    proc.wait_event("waiting_for_models", timeout=60)
    env.drop("a.txt", "The patient has pain.")
    time.sleep(1.0)
    assert proc.alive() and env.files("outbox") == []
    shutil.copytree(tiny_bundle, mount / "tiny")
    proc.wait_event("ready", timeout=120)
    proc.wait_event("processed", file="a.txt", timeout=120)
    assert proc.stop() == 0


def test_status_command(tmp_path):
    env = Env(tmp_path)
    r = subprocess.run(APPLIANCE + ["status", "--config", str(env.config)], capture_output=True, text=True)
    assert r.returncode == 3 and "not running" in r.stdout
    proc = fake(env)
    proc.wait_event("ready")
    env.drop("bad.txt", b"\xff\xfe\x00")
    env.drop("ok.txt", "pain")
    wait_for(lambda: len(env.files("outbox")) == 1 and env.failures(), what="processing")
    time.sleep(0.5)
    r = subprocess.run(
        APPLIANCE + ["status", "--config", str(env.config), "--json"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["running"] and s["processed"]["since_start"] == 1 and s["failed"]["in_failed_folder"] == 1
    assert s["last_error"]["code"] == "utf16" and s["queue"]["total"] == 0
    assert s["models"]["task"] == "fake3"
    r = subprocess.run(APPLIANCE + ["status", "--config", str(env.config)], capture_output=True, text=True)
    assert "appliance: running" in r.stdout and "last error: utf16" in r.stdout
    r = subprocess.run(APPLIANCE + ["failures", "--config", str(env.config)], capture_output=True, text=True)
    assert "bad.txt\tutf16" in r.stdout
    proc.stop()
    r = subprocess.run(
        APPLIANCE + ["requeue", "--config", str(env.config), "--all"], capture_output=True, text=True
    )
    assert r.returncode == 0 and env.files("inbox") == ["bad.txt"] and env.files("failed") == []


# ------------------------------------------------------------------------------------------ end to end


@pytest.fixture
def e2e_env(tmp_path, tiny_bundle):
    return Env(
        tmp_path,
        pipeline={"strategy": "hybrid", "extractor": str(tiny_bundle), "task": "palliative13"},
        limits={"max_document_tokens": 2048},
    )


def slow_writer(path: Path, content: str, pieces: int = 5, pause: float = 0.4) -> None:
    """Writes in pieces with pauses, in one open/close (longer than the settle time in total)."""
    step = max(1, len(content) // pieces)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(0, len(content), step):
            f.write(content[i : i + step])
            f.flush()
            time.sleep(pause)


def test_end_to_end_real_model(e2e_env, tmp_path):
    env = e2e_env
    texts = {
        "startup.txt": f"Patient reports severe pain at night. {SECRET}",
        "renamed.json": json.dumps({"id": "R-1", "language": "en", "text": f"Fever and cough. {SECRET}"}),
        "slow.txt": "The family says she cannot sleep and has no appetite. " * 4 + SECRET,
        "dup.txt": f"Short of breath since Monday. {SECRET}",
        "moved.txt": f"Vomiting after meals, and she feels weak. {SECRET}",
    }
    (env.inbox / "startup.txt").write_text(texts["startup.txt"])  # present before the daemon starts
    proc = daemon_proc(env, APPLIANCE)
    proc.wait_event("ready", timeout=120)
    env.drop("renamed.json", texts["renamed.json"])  # temp name + rename
    writer = threading.Thread(target=slow_writer, args=(env.inbox / "slow.txt", texts["slow.txt"]))
    writer.start()  # 2 s of writing with 0.4 s pauses; settle is 0.3 s: only the close may trigger it
    (env.inbox / "dup.txt").write_text(texts["dup.txt"])  # written and closed in place
    outside = tmp_path / "moved.txt"  # written elsewhere on the same file system, then moved in
    outside.write_text(texts["moved.txt"])
    os.rename(outside, env.inbox / "moved.txt")
    writer.join()
    wait_for(lambda: len(env.files("outbox")) == 5, timeout=120, what="5 results")
    (env.inbox / "dup-again.txt").write_text(texts["dup.txt"])  # new name: new id: its own result
    (env.inbox / "dup.txt").write_text(texts["dup.txt"])  # same name, same content: no second result
    env.drop("bad.txt", b"\xff\xfebad")
    proc.wait_event("duplicate")
    wait_for(lambda: len(env.files("outbox")) == 6 and env.failures(), timeout=60, what="dup-again and bad")
    rc = proc.stop()
    assert rc == 0
    log = proc.log.read_text()

    results = env.results()
    by_source = {r["source_name"]: r for r in results.values()}
    assert set(by_source) == {
        "startup.txt",
        "renamed.json",
        "slow.txt",
        "dup.txt",
        "dup-again.txt",
        "moved.txt",
    }
    # the slow writer's file was taken whole, not half-written
    assert by_source["slow.txt"]["input_sha256"] == _sha(texts["slow.txt"])
    assert by_source["renamed.json"]["input_id"] == "R-1"
    import jsonschema

    for r in results.values():
        jsonschema.validate(r, result_schema())
        Result.model_validate(r)
        assert set(r["features"]) >= {"pain", "fever", "sleep_disorders"}
        assert r["provenance"]["task"] == "palliative13"
        for f in r["features"].values():
            assert f["status"] in ("extracted", "missing") and (f["status"] == "extracted" or f["reason"])
    assert env.failures()["bad.txt"]["reason"] == "utf16"
    assert env.files("work") == [] and env.files("inbox") == []
    assert_no_secret(env, log)
    st = read_status(env.state)
    assert st.state == "stopped" and st.processed == 6 and st.duplicates == 1
    assert st.models["models"][0]["role"] == "extractor"

    age = shutil.which("age")
    if age is None:
        pytest.skip("the `age` binary is not installed (apt-get install -y age)")
    for p in env.outbox.glob("*.json.age"):
        out = subprocess.run([age, "-d", "-i", str(env.key), str(p)], capture_output=True, check=True)
        assert json.loads(out.stdout) == results[p.name]
    r = subprocess.run(
        APPLIANCE + ["decrypt", "-i", str(env.key), "--check", *map(str, env.outbox.glob("*.age"))],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and r.stdout.count("ok ") == 6


def test_end_to_end_sigkill_restart_real_model(tmp_path, tiny_bundle):
    # one candidate language: no language-detector start-up cost on each of the two starts
    env = Env(
        tmp_path,
        pipeline={"strategy": "hybrid", "extractor": str(tiny_bundle), "task": "palliative13", "languages": ["en"]},
        limits={"max_document_tokens": 2048},
    )
    names = [f"n{i:02d}.txt" for i in range(12)]
    for n in names:
        (env.inbox / n).write_text(f"Call {n}: the patient has pain and a fever. {SECRET}")
    proc = daemon_proc(env, APPLIANCE)
    proc.wait_event("processed", timeout=120)  # at least one done, the rest in flight or waiting
    proc.kill()
    proc = daemon_proc(env, APPLIANCE)
    wait_for(lambda: len(env.files("outbox")) == len(names), timeout=180, what="all results")
    wait_for(lambda: env.files("work") == [], timeout=10, what="empty work")
    proc.stop()
    assert sorted(r["source_name"] for r in env.results().values()) == names
    assert env.failures() == {} and env.files("inbox") == []
    assert_no_secret(env, proc.log.read_text())


def test_unexpected_error_in_quarantine_is_retried_not_forgotten(tmp_path, monkeypatch):
    env = Env(tmp_path)
    d = daemon(env)
    real_fail = d.store.fail
    calls = []

    def flaky_fail(item, record):
        calls.append(item.name)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real_fail(item, record)

    monkeypatch.setattr(d.store, "fail", flaky_fail)
    env.drop("bad.txt", b"\x00\x00binary")
    run_until(d, lambda: env.failures() != {})
    assert calls == ["bad.txt", "bad.txt"] and env.files("work") == []
    assert env.failures()["bad.txt"]["reason"] == "binary"


def test_sd_notify_protocol(tmp_path):
    """READY=1 once models are loaded, STATUS= lines, WATCHDOG=1 keep-alives, STOPPING=1 on SIGTERM."""
    import socket

    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.2)
    env = Env(tmp_path)
    # WATCHDOG_USEC=0.6 s: the daemon sends a keep-alive every 0.2 s
    e = {**os.environ, "NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "600000", "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen(
        [sys.executable, str(FAKEPIPE), "run", "--config", str(env.config)],
        env=e,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    messages: list[str] = []

    def collect_until(pred, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not pred():
            try:
                messages.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
        assert pred(), messages

    try:
        collect_until(lambda: "READY=1" in messages)
        env.drop("a.txt", "pain")
        collect_until(lambda: any(m.startswith("STATUS=ready: processed=1") for m in messages))
        collect_until(lambda: messages.count("WATCHDOG=1") >= 2)
        p.send_signal(signal.SIGTERM)
        collect_until(lambda: "STOPPING=1" in messages)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
        sock.close()
    assert messages.index("STATUS=loading models") < messages.index("READY=1")


@pytest.mark.parametrize(
    "orig, argv, want",
    [
        (["py", "/v/bin/appliance", "run", "-c", "f"], ["/v/bin/appliance", "run", "-c", "f"], ["py", "/v/bin/appliance"]),
        (["py", "-X", "dev", "t/fakepipe.py", "run"], ["t/fakepipe.py", "run"], ["py", "-X", "dev", "t/fakepipe.py"]),
        (["py", "-c", "code", "run"], ["-c", "run"], ["py", "-c", "code"]),
        (["py", "-m", "appliance.cli", "run"], ["/a/appliance/cli/__init__.py", "run"], ["py", "-m", "appliance.cli"]),
    ],
)
def test_the_child_runs_the_daemons_own_command_line(monkeypatch, orig, argv, want):
    """The suspect's child process is this program again (so a wrapper that swaps the pipeline loader,
    like tests/support/fakepipe.py, is honoured), with the hidden `isolated-worker` command."""
    from appliance.daemon.isolation import worker_command

    monkeypatch.setattr(sys, "orig_argv", orig)
    monkeypatch.setattr(sys, "argv", argv)
    assert worker_command() == [*want, "isolated-worker"]


def test_throttle_writes_one_line_per_condition_and_interval(caplog):
    from appliance.daemon.throttle import Throttle

    now = [0.0]
    t = Throttle(lambda: now[0], interval=300)
    with caplog.at_level("INFO", logger="appliance.daemon"):
        for i in range(500):  # a failure every 10 ms for 5 s, then every second for 10 minutes
            now[0] = i * 0.01
            t.problem("storage", 30, "retry_scheduled", errno="ENOSPC")
        for i in range(600):
            now[0] = 5 + i
            t.problem("storage", 30, "retry_scheduled", errno="ENOSPC")
        t.resolved("storage")
        t.resolved("storage")  # (once)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["retry_scheduled", "retry_scheduled", "retry_scheduled", "storage_recovered"]
    assert caplog.records[1].fields["repeated"] > 500 and caplog.records[3].fields["failures"] == 1100


def test_an_answer_the_child_already_gave_is_taken_however_late_the_daemon_looks(tmp_path, monkeypatch):
    """A daemon that was itself held up (SIGSTOP, a frozen VM, heavy swapping) past the child's deadline
    must read the answer waiting in the pipe, not kill a child that has finished and count a crash."""
    from types import SimpleNamespace

    from appliance.daemon import isolation
    from appliance.inputs import ParseLimits
    from appliance.settings import PipelineSettings

    go, given = tmp_path / "go", tmp_path / "given"
    answer = {"event": "input_error", "reason": "whitespace_only", "message": "m", "stage": "parse"}
    child = (
        "import json, os, sys, time; sys.stdin.buffer.read(); "
        "os.write(1, json.dumps({'event': 'loaded'}).encode() + b'\\n')\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
        f"os.write(1, json.dumps({answer!r}).encode() + b'\\n'); open({str(given)!r}, 'w').close()"
    )
    offset, loaded = [0.0], []
    real_read = os.read

    def read(fd, n):  # notes when the daemon has read the child's `loaded` line
        data = real_read(fd, n)
        if b'"loaded"' in data:
            loaded.append(True)
        return data

    def keepalive():  # once loaded: the answer is given while the daemon is held up for 100 s
        if loaded and not go.exists():
            go.touch()
            wait_for(given.exists, 30, what="the child's answer")
            offset[0] += 100.0

    monkeypatch.setattr(os, "read", read)
    monkeypatch.setattr(isolation, "time", SimpleNamespace(monotonic=lambda: time.monotonic() + offset[0]))
    iso = isolation.SubprocessIsolator(PipelineSettings(strategy="rules"), ParseLimits(16, 65536), timeout=10,
                                       load_timeout=60, command=[sys.executable, "-c", child])
    with pytest.raises(isolation.ParseStageError):  # the child's answer, not ChildCrashed("timeout")
        iso.run(b"   ", "x.txt", keepalive)



def test_a_second_daemon_on_the_same_folders_is_refused_and_touches_nothing(tmp_path):
    """Two daemon processes on one set of folders would remove each other's temporary files and
    overwrite each other's status: the second is refused at start (exit 78, not restarted), naming the
    first one's pid, and leaves the first one's status and temporary files alone."""
    env = Env(tmp_path)
    first = fake(env)
    try:
        first.wait_event("ready", timeout=120)
        stray = env.outbox / ".tmp-0123456789abcdef"  # (a write of the first daemon, in progress)
        stray.write_bytes(b"x")
        second = subprocess.run([sys.executable, str(FAKEPIPE), "run", "--config", str(env.config)],
                                env=child_env(), cwd=REPO, capture_output=True, text=True, timeout=120)
        assert second.returncode == 78, second.stderr
        assert f"pid {first.pid}" in second.stderr and "another appliance daemon" in second.stderr
        assert stray.exists()
        st = read_status(env.state)
        assert st is not None and st.pid == first.pid and st.state != "stopped"
        env.drop("a.txt", "fever")
        wait_for(lambda: len(env.files("outbox")) == 1, timeout=60, what="the first daemon still serves")
    finally:
        assert first.stop() == 0
    stray.unlink()
    again = fake(env)  # the lock ends with its process: the next daemon starts at once
    try:
        again.wait_event("ready", timeout=120)
    finally:
        assert again.stop() == 0
