"""Run the onnxruntime-genai model builder in this (child) process, after optional patch modules.

    python -m export._run_builder [--patch MODULE ...] -- <builder arguments>

Why not ``python -m onnxruntime_genai.models.builder`` directly: architecture fixes (e.g. Gemma 3's
per-layer RoPE settings under transformers 5, Cohere) are monkeypatches of the builder's module, and
they must run in the builder's process. ``export.arch.install()`` applies the project's fixes; each
``--patch`` module is imported first (its import may apply more), then the builder runs exactly as its
own ``__main__`` does. A separate process keeps the builder's
memory, globals and very chatty output away from the caller.
"""

from __future__ import annotations

import importlib
import os
import sys


def main(argv: list[str]) -> int:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    patches: list[str] = []
    if "--" not in argv:
        print("usage: python -m export._run_builder [--patch MODULE ...] -- BUILDER_ARGS", file=sys.stderr)
        return 2
    split = argv.index("--")
    own, builder_args = argv[:split], argv[split + 1 :]
    i = 0
    while i < len(own):
        if own[i] == "--patch" and i + 1 < len(own):
            patches.append(own[i + 1])
            i += 2
        else:
            print(f"unknown option {own[i]!r}", file=sys.stderr)
            return 2
    for name in patches:
        importlib.import_module(name)

    try:  # the project's architecture fixes (Gemma 3, Cohere), when that package is present
        from export.arch import install
    except ImportError:
        from onnxruntime_genai.models import builder
    else:
        builder = install()

    sys.argv = ["builder", *builder_args]
    args = builder.get_args()
    extra_options = builder.parse_extra_options(
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
    builder.create_model(
        args.model_name,
        args.input,
        args.output,
        args.precision,
        args.execution_provider,
        args.cache_dir,
        **extra_options,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
