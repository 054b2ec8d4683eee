"""Shared by tests/runtime/test_reliability_*.py: the real daemon (`appliance run`) as a subprocess on scratch
folders, with the real pipeline (the rules strategy unless a test asks for a model), and the checks
those tests share (decrypt + validate results, search files for planted strings).

Not a test module itself (no ``test_`` prefix).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from appliance import crypto
from tests.support.paths import REPO

_SCRIPT = Path(sys.executable).parent / "appliance"
APPLIANCE = (
    [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from appliance.cli import main; main()"]
)
FOLDERS = ("inbox", "work", "outbox", "failed", "archive", "state")
# Every process these tests start gets these (telemetry off before onnxruntime loads, no hub look-ups).
BASE_ENV = {
    "ORT_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "APPLIANCE_MODELS_DIR": str(REPO / ".cache" / "models"),
    "PYTHONUNBUFFERED": "1",
}


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    env = {k: v for k, v in env.items() if not k.startswith("APPLIANCE_") or k == "APPLIANCE_MODELS_DIR"}
    env.update(BASE_ENV)
    env.update(extra)
    return env


def wait_for(pred, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Box:
    """Scratch data folders, an age key pair and a config file for one daemon."""

    def __init__(self, tmp_path: Path, root: Path | None = None, **sections: dict) -> None:
        import tomli_w

        self.tmp = tmp_path
        self.root = root or tmp_path / "data"
        self.secret, self.public = crypto.generate_identity()
        self.key = tmp_path / "identity.txt"
        crypto.write_identity_file(self.key, crypto.identity_file_text(self.secret, self.public))
        self.identities = crypto.load_identities(self.key)
        conf: dict = {
            "paths": {"root": str(self.root)},
            "pipeline": {"strategy": "rules", "languages": ["en"]},
            "recipients": {"keys": [self.public]},
            "watch": {
                "settle_seconds": 0.2,
                "write_settle_seconds": 2.0,
                "rescan_seconds": 0.3,
                "tick_seconds": 0.05,
            },
            "retries": {"max_attempts": 3, "backoff_seconds": 0.05, "backoff_max_seconds": 0.2},
            "service": {"status_interval_seconds": 0.2, "log_format": "json"},
        }
        for name, values in sections.items():
            conf.setdefault(name, {}).update(values)
        self.config = tmp_path / "config.toml"
        self.config.write_text(tomli_w.dumps(conf))
        for d in FOLDERS:
            (self.root / d).mkdir(parents=True, exist_ok=True)
        self.runs: list[Proc] = []

    def __getattr__(self, name: str) -> Path:
        if name in FOLDERS:
            return self.root / name
        raise AttributeError(name)

    def drop(self, name: str | bytes, content: str | bytes, *, rename: bool = True) -> Path:
        """Write under a hidden temp name then rename (the recommended way), or in place."""
        data = content.encode() if isinstance(content, str) else content
        final = os.path.join(os.fsencode(self.inbox), os.fsencode(name))
        if rename:
            tmp = os.path.join(os.fsencode(self.inbox), b".drop-" + os.urandom(4).hex().encode() + b".tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, final)
        else:
            with open(final, "wb") as f:
                f.write(data)
        return Path(os.fsdecode(final))

    def entries(self, folder: str, hidden: bool = False) -> list[str]:
        return sorted(n for n in os.listdir(self.root / folder) if hidden or not n.startswith("."))

    def results(self) -> dict[str, dict]:
        """Every result in the outbox, decrypted with the test's identity and parsed."""
        out = {}
        for p in sorted(self.outbox.glob("*.json.age")):
            out[p.name] = json.loads(crypto.decrypt(p.read_bytes(), self.identities))
        return out

    def failures(self) -> dict[str, dict]:
        return {
            p.name[: -len(".error.json")]: json.loads(p.read_text())
            for p in self.failed.glob("*.error.json")
            if not p.name.startswith(".")
        }

    def start(self, prefix: list[str] | None = None, **extra_env: str) -> Proc:
        proc = Proc((prefix or []) + APPLIANCE, self.config, self.tmp / f"daemon-{len(self.runs):02d}.log",
                    child_env(**extra_env), self.tmp)
        self.runs.append(proc)
        return proc

    def cli(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            APPLIANCE + [*args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            env=child_env(**extra_env),
            timeout=120,
        )


class Proc:
    """One daemon process: ``CMD run --config CONFIG`` (CMD: `appliance`, optionally under a prefix
    such as `unshare -n`, or the fake-pipeline daemon of test_daemon.py); stdout+stderr to ``log``."""

    def __init__(self, cmd: list[str], config: Path, log: Path, env: dict[str, str], cwd: Path) -> None:
        self.log = log
        self._fh = open(self.log, "wb")
        self.p = subprocess.Popen(
            cmd + ["run", "--config", str(config)],
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(cwd),
        )

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def text(self) -> str:
        return self.log.read_bytes().decode("utf-8", "replace")

    def events(self, name: str | None = None) -> list[dict]:
        out = []
        for line in self.text().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if isinstance(e, dict) and (name is None or e.get("event") == name):
                out.append(e)
        return out

    def wait_event(self, name: str, timeout: float = 60.0, count: int = 1, **match) -> dict:
        def ok():
            if not self.alive():
                raise AssertionError(f"daemon exited ({self.p.returncode}):\n{self.text()[-4000:]}")
            evs = [e for e in self.events(name) if all(e.get(k) == v for k, v in match.items())]
            return evs[count - 1] if len(evs) >= count else None

        return wait_for(ok, timeout, interval=0.02, what=f"event {name} {match or ''}")

    def stop(self, timeout: float = 60.0) -> int:
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        finally:
            self._fh.close()

    def kill(self) -> None:
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(30)
        self._fh.close()

    def rchar(self) -> int:
        """Bytes this process has read through read()-like calls so far (/proc/PID/io)."""
        for line in Path(f"/proc/{self.pid}/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
        raise AssertionError("no rchar in /proc/PID/io")


# ------------------------------------------------------------------------------------------ validation


def validate_result(doc: dict) -> None:
    """A decrypted result must match the published JSON Schema and the pydantic model."""
    import jsonschema

    from appliance.docsync import result_schema
    from appliance.result import Result

    jsonschema.validate(doc, _schema(result_schema))
    Result.model_validate(doc)


_SCHEMA: dict = {}


def _schema(make) -> dict:
    if not _SCHEMA:
        _SCHEMA.update(make())
    return _SCHEMA


# ------------------------------------------------------------------------------------------ leak search


def encodings(secret: str) -> dict[str, bytes]:
    """The forms a planted string could take on disk: UTF-8, UTF-16 (both orders), JSON \\u escapes,
    hex, and base64 at each of the three alignments (the stable middle part of the encoding)."""
    raw = secret.encode("utf-8")
    forms = {
        "utf-8": raw,
        "utf-16-le": secret.encode("utf-16-le"),
        "utf-16-be": secret.encode("utf-16-be"),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
    }
    escaped = json.dumps(secret, ensure_ascii=True)[1:-1].encode()
    if escaped != raw:
        forms["json-escaped"] = escaped
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw)
        start = (shift * 4 + 2) // 3 + 1  # skip characters that mix in the padding bytes
        core = enc[start : len(enc) - 4]
        if len(core) >= 8:
            forms[f"base64+{shift}"] = core
    return forms


def find_planted(data: bytes, secrets: list[str]) -> list[str]:
    hits = []
    for s in secrets:
        for form, needle in encodings(s).items():
            if needle in data:
                hits.append(f"{s!r} as {form}")
    return hits
