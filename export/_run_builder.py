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

    # The project's architecture fixes (Gemma 3, Cohere) are installed, then the builder runs exactly
    # as its own command line does (one implementation: export.arch's ``python -m export.arch.builder``).
    from export.arch._builder import main as run_fixed_builder

    run_fixed_builder(builder_args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
