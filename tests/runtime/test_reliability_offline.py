"""The runtime needs no network and leaves nothing behind in the user's folders.

The real daemon and `appliance extract` run the real ONNX pipeline (the tiny INT4 bundle, json
strategy) inside a network namespace with no usable interface (`unshare -n` as root, `unshare -rn`
as a user), with a fresh, empty HOME, XDG folders and TMPDIR. They must complete, and afterwards
those folders must still be empty: no onnxruntime telemetry (``~/.cache/Microsoft/...``), no model-hub
cache, no stray log file. The systemd unit adds PrivateNetwork=yes on top (tests/runtime/test_systemd.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.reliability import APPLIANCE, Box, child_env, validate_result


def _netns_prefix() -> list[str] | None:
    if not shutil.which("unshare"):
        return None
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            r = subprocess.run(prefix + ["true"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return prefix
    return None


NETNS = _netns_prefix()
needs_netns = pytest.mark.skipif(
    NETNS is None,
    reason="cannot create a network namespace here (`unshare -n` needs root, `unshare -rn` unprivileged "
    "user namespaces); the systemd unit's PrivateNetwork=yes is checked in test_systemd.py",
)

PROBE = r"""
import json, socket
out = {"interfaces": [n for _, n in socket.if_nameindex()]}
for name, addr in (("tcp_public", ("192.0.2.1", 443)), ("tcp_loopback", ("127.0.0.1", 9))):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(addr)
        out[name] = "connected"
    except OSError as e:
        out[name] = type(e).__name__
    finally:
        s.close()
try:
    socket.getaddrinfo("example.com", 443)
    out["dns"] = "resolved"
except OSError as e:
    out["dns"] = type(e).__name__
print(json.dumps(out))
"""


def fresh_user_dirs(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "home"
    env = {"HOME": str(home), "TMPDIR": str(home / "tmp")}
    for var, sub in (
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        env[var] = str(home / sub)
    for d in env.values():
        Path(d).mkdir(parents=True, exist_ok=True)
    return home, env


def contents(root: Path) -> list[str]:
    """Every file (not folder) below root: what a process left behind."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


@needs_netns
def test_the_namespace_really_has_no_network(tmp_path):
    """The premise of the tests below: no interface but a down loopback, no route, no DNS."""
    r = subprocess.run(NETNS + [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    probe = json.loads(r.stdout)
    assert probe["interfaces"] == ["lo"], probe
    assert probe["tcp_public"] != "connected" and probe["tcp_loopback"] != "connected", probe
    assert probe["dns"] != "resolved", probe


@needs_netns
def test_daemon_processes_a_file_offline_and_writes_nothing_outside_its_folders(tmp_path, tiny_bundle):
    home, user_env = fresh_user_dirs(tmp_path)
    box = Box(
        tmp_path,
        pipeline={"strategy": "json", "extractor": str(tiny_bundle), "languages": ["en"]},
        limits={"max_document_tokens": 2048},
    )
    proc = box.start(prefix=NETNS, **user_env)
    proc.wait_event("ready", timeout=180)
    box.drop("call-1.txt", "The patient reports pain at night and a fever since Monday.")
    box.drop("call-2.json", json.dumps({"id": "c2", "language": "en", "text": "She is short of breath."}))
    proc.wait_event("processed", file="call-1.txt", timeout=120)
    proc.wait_event("processed", file="call-2.json", timeout=120)
    assert proc.stop() == 0, proc.text()[-3000:]

    results = box.results()
    assert sorted(r["source_name"] for r in results.values()) == ["call-1.txt", "call-2.json"]
    for r in results.values():
        validate_result(r)
        assert r["provenance"]["strategy"] == "json"
        assert [m["role"] for m in r["provenance"]["models"]] == ["extractor"]  # a real model ran
    assert contents(home) == [], "the daemon wrote into HOME / XDG folders / TMPDIR"
    assert not (home / ".cache" / "Microsoft").exists()  # onnxruntime's telemetry folder


@needs_netns
def test_extract_cli_offline_and_writes_nothing_outside(tmp_path, tiny_bundle):
    home, user_env = fresh_user_dirs(tmp_path)
    doc = tmp_path / "call.txt"
    doc.write_text("The daughter says he cannot sleep and has no appetite.")
    r = subprocess.run(
        NETNS + APPLIANCE + ["extract", str(doc), "--model", str(tiny_bundle), "--json"],
        capture_output=True,
        text=True,
        env=child_env(**user_env),
        cwd=str(tmp_path),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (line,) = r.stdout.strip().splitlines()
    result = json.loads(line)
    validate_result(result)
    assert result["input_id"] == "call" and result["provenance"]["models"]
    assert contents(home) == [], "appliance extract wrote into HOME / XDG folders / TMPDIR"


def test_importing_appliance_turns_telemetry_off_before_onnxruntime():
    """Whoever forgets ORT_DISABLE_TELEMETRY (an operator running `appliance extract` by hand) is
    covered: the package sets it on import, before anything can import onnxruntime. (This process
    never imports onnxruntime itself.)"""
    env = {k: v for k, v in child_env().items() if k != "ORT_DISABLE_TELEMETRY"}
    code = (
        "import os, sys; assert 'ORT_DISABLE_TELEMETRY' not in os.environ; import appliance; "
        "assert 'onnxruntime' not in sys.modules and 'onnxruntime_genai' not in sys.modules; "
        "print(os.environ['ORT_DISABLE_TELEMETRY'], os.environ['HF_HUB_OFFLINE'])"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1"]
