"""Access to onnxruntime-genai's model builder, with this project's architecture fixes installed.

The builder lives in ``onnxruntime_genai.models``; its package ``__init__`` puts its own folder on
``sys.path``, so its submodules are importable only as top-level names (``builders``,
``builder_config``, ``quantization``). Everything here goes through the module object that
``builder.py`` itself uses, so a patched class is the class the builder dispatches to.

Nothing in site-packages is edited. :func:`install` patches the *loaded* builder module from the
architecture records (:mod:`export.arch.registry`):

* each record's ``class_patches`` replace builder globals: ``Gemma3Model`` becomes
  ``ApplianceGemma3Model`` (:mod:`export.arch.gemma3`: transformers-5 RoPE config, exact embedding
  scale, sliding-window cache slack in ``genai_config.json``);
* ``create_model`` is wrapped so that architectures the builder does not know (``CohereForCausalLM``)
  dispatch to their record's ``builder_class``.

Both work whether the builder is called in-process (:func:`run_builder`) or as a command
(``python -m export.arch.builder ...``, the same arguments as ``python -m onnxruntime_genai.models.builder``).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from . import registry

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

_INSTALLED: dict[str, Any] = {}
_SENTINEL_ARCH = "LlamaForCausalLM"


def builder_module() -> ModuleType:
    """The builder module exactly as ``python -m onnxruntime_genai.models.builder`` would run it."""
    return importlib.import_module("onnxruntime_genai.models.builder")


def _classes(b: ModuleType) -> dict[str, type]:
    """Added builder classes by ``config.architectures[0]``, made once per process."""
    if "classes" not in _INSTALLED:
        _INSTALLED["classes"] = {arch: f(b) for arch, f in registry.builder_classes().items()}
    return _INSTALLED["classes"]


def install() -> ModuleType:
    """Patch the loaded builder module once per process (idempotent) and return it.

    Reads the architecture records at the first call; a record added later is not applied in this process.
    """
    b = builder_module()
    if getattr(b, "_appliance_patched", False):
        return b
    for name, factory in registry.class_patches().items():
        original = getattr(b, name)
        setattr(b, name, factory(b, original))
    original_create = b.create_model

    @functools.wraps(original_create)
    def create_model(model_name, input_path, output_dir, precision, execution_provider, cache_dir, **extra_options):
        hf_details = extra_options.get("hf_details") or {}
        config = hf_details.get("hf_config")
        arch = (getattr(config, "architectures", None) or [None])[0]
        classes = _classes(b)
        if arch not in classes:
            return original_create(
                model_name, input_path, output_dir, precision, execution_provider, cache_dir, **extra_options
            )
        # The builder dispatches on the architecture string in one long if/elif. Rather than copy its
        # body, route this one call through a branch whose class we swap for ours (the sentinel
        # branch does nothing but construct the class), and restore the real architecture name
        # before the class reads it.
        target = classes[arch]
        sentinel_name = "LlamaModel"
        original_sentinel = getattr(b, sentinel_name)

        def construct(cfg, *args, **kwargs):
            cfg.architectures = [arch]
            return target(cfg, *args, **kwargs)

        config.architectures = [_SENTINEL_ARCH]
        setattr(b, sentinel_name, construct)
        try:
            return original_create(
                model_name, input_path, output_dir, precision, execution_provider, cache_dir, **extra_options
            )
        finally:
            setattr(b, sentinel_name, original_sentinel)
            config.architectures = [arch]

    b.create_model = create_model
    b._appliance_patched = True
    return b


def options_to_list(options: Mapping[str, Any] | None) -> list[str]:
    """Builder ``--extra_options`` as ``['key=value', ...]`` (booleans as ``true`` / ``false``)."""
    out = []
    for k, v in (options or {}).items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        out.append(f"{k}={v}")
    return out


def run_builder(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    precision: str = "int4",
    execution_provider: str = "cpu",
    cache_dir: str | os.PathLike[str] | None = None,
    extra_options: Mapping[str, Any] | None = None,
) -> Path:
    """Run the (patched) builder in-process on a local Hugging Face folder; returns ``output``.

    ``precision``: int4 / int8 / fp16 / fp32; ``execution_provider``: cpu / cuda / dml; ``cache_dir``
    defaults to ``output/.builder-cache``. Exceptions are the builder's own.
    """
    b = install()
    source, output = str(source), str(output)
    cache = str(cache_dir) if cache_dir is not None else os.path.join(output, ".builder-cache")
    opts = b.parse_extra_options(
        None, source, output, precision, execution_provider, cache, options_to_list(extra_options)
    )
    b.create_model(None, source, output, precision, execution_provider, cache, **opts)
    return Path(output)


def main(argv: list[str] | None = None) -> None:
    """``python -m export.arch.builder``: the genai builder's own command line, with the fixes installed."""
    import sys

    b = install()
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    args = b.get_args()
    opts = b.parse_extra_options(
        args.model_name,
        args.input,
        args.output,
        args.precision,
        args.execution_provider,
        args.cache_dir,
        args.extra_options,
        builder_config_version=args.builder_config_version,
        target_options=args.target_options,
        drafter_options=args.drafter_options,
        speculative_options=args.speculative_options,
        runtime_config=args.runtime_config,
        search=args.search,
    )
    b.create_model(
        args.model_name, args.input, args.output, args.precision, args.execution_provider, args.cache_dir, **opts
    )
