"""The separate Python environment that seq2seq (translation) export runs in.

Why a second environment: optimum-onnx, which exports encoder-decoder models (Marian, NLLB) with
their KV cache, pins ``transformers<4.58``; onnxruntime-genai's builder, which the decoder-only
exports use, needs transformers 5. They cannot share one environment, so ``appliance-export mt``
creates this one once (under a cache folder) and runs :mod:`export.mt_worker` in it as a
subprocess. The worker writes plain files (ONNX, tokenizer.json, a facts JSON); everything that
needs this project's own code (quantization, the manifest, the smoke test) runs back in the main
environment.

Location: ``$APPLIANCE_MT_VENV`` if set, else ``$XDG_CACHE_HOME/appliance/mt-venv`` (default
``~/.cache/appliance/mt-venv``). A stamp file records the requirements it was made with; a change
of requirements (or an interrupted creation) rebuilds it. Creation is serialised with a file lock,
so parallel test runs do not race.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from . import ExportError

# torch is pinned exactly: pip then takes the CPU build that lies on disk here. Any looser torch
# requirement (even one pulled in by optimum) would fetch a multi-GB CUDA build.
MT_REQUIREMENTS: tuple[str, ...] = (
    "torch==2.13.0",
    "optimum-onnx[onnxruntime]==0.1.0",
    "optimum~=2.1.0",
    "transformers>=4.45,<4.58",
    "sentencepiece>=0.2",
    "protobuf>=4",
    "onnx>=1.17",
)
STAMP_NAME = "appliance-mt-env.json"
STAMP_VERSION = 1
WORKER = Path(__file__).with_name("mt_worker.py")


def mt_venv_dir() -> Path:
    """Where the MT environment lives: ``$APPLIANCE_MT_VENV``, else ``$XDG_CACHE_HOME/appliance/mt-venv``."""
    env = os.environ.get("APPLIANCE_MT_VENV")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "appliance" / "mt-venv"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _wanted_stamp() -> dict:
    return {
        "stamp_version": STAMP_VERSION,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "requirements": list(MT_REQUIREMENTS),
    }


def venv_is_ready(venv: Path | None = None) -> bool:
    """Whether the environment exists with a stamp matching today's requirements and Python version."""
    venv = venv or mt_venv_dir()
    stamp = venv / STAMP_NAME
    if not stamp.is_file() or not _python(venv).exists():
        return False
    try:
        have = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return {k: have.get(k) for k in _wanted_stamp()} == _wanted_stamp()


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cmd: Sequence[str], *, log, timeout: float | None = None) -> None:
    log(f"$ {' '.join(map(str, cmd))}")
    proc = subprocess.run(list(map(str, cmd)), check=False, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise ExportError(f"command failed ({proc.returncode}): {' '.join(map(str, cmd[:4]))} ...\n{tail}")


def ensure_mt_venv(venv: Path | None = None, *, log=None, timeout: float = 1800) -> Path:
    """Create (once) and return the MT environment's folder. Needs PyPI the first time.

    Serialised with a file lock beside the folder; an outdated or incomplete folder is removed and made
    again. ``timeout``: seconds per pip command. Raises :class:`ExportError` when a command fails.
    """
    venv = Path(venv or mt_venv_dir())
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if venv_is_ready(venv):
        return venv
    with _locked(venv.parent / f".{venv.name}.lock"):
        if venv_is_ready(venv):  # made by another process while we waited
            return venv
        if venv.exists():
            log(f"removing incomplete or outdated MT environment {venv}")
            shutil.rmtree(venv)
        log(f"creating the MT export environment in {venv} (one time, a few minutes)")
        _run([sys.executable, "-m", "venv", str(venv)], log=log, timeout=300)
        py = _python(venv)
        pip = [str(py), "-m", "pip", "--disable-pip-version-check", "--no-input"]
        # torch first and alone: nothing else gets to choose its build.
        _run([*pip, "install", "torch==2.13.0"], log=log, timeout=timeout)
        _run([*pip, "install", *MT_REQUIREMENTS], log=log, timeout=timeout)
        stamp = _wanted_stamp()
        stamp["installed"] = _freeze(py)
        (venv / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n")
    return venv


def _freeze(py: Path) -> dict[str, str]:
    proc = subprocess.run([str(py), "-m", "pip", "freeze", "--disable-pip-version-check"], check=False, capture_output=True, text=True)
    out = {}
    for line in proc.stdout.splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            out[name.lower()] = version
    return out


def installed_versions(venv: Path | None = None) -> dict[str, str]:
    """``package -> version`` (lower-case names) recorded in the environment's stamp; {} when unknown."""
    venv = venv or mt_venv_dir()
    try:
        return json.loads((venv / STAMP_NAME).read_text()).get("installed", {})
    except (OSError, json.JSONDecodeError):
        return {}


def worker_env() -> dict[str, str]:
    """The worker's environment: this one without PYTHON*/VIRTUAL_ENV variables, offline, no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "ORT_DISABLE_TELEMETRY": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONNOUSERSITE": "1",
        }
    )
    return env


def run_worker(args: Sequence[str], *, venv: Path | None = None, log=None, timeout: float = 3600) -> str:
    """Run ``export/mt_worker.py ARGS`` with the MT environment's Python; returns its stdout.

    ``timeout`` in seconds. Raises :class:`ExportError` with the output's tail when the worker fails.
    """
    venv = ensure_mt_venv(venv, log=log)
    cmd = [str(_python(venv)), str(WORKER), *map(str, args)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=worker_env(), timeout=timeout)
    if proc.returncode != 0:
        raise ExportError(f"MT export worker failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-6000:]}")
    return proc.stdout
