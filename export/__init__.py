"""Export tooling (connected workstation): HF folder or GGUF file -> verified ONNX bundle.

This package may import torch and transformers; the runtime package ``appliance`` never imports it.
Telemetry and hub access are switched off before anything below can import onnxruntime/transformers.
"""

from __future__ import annotations

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# transformers prints advice about missing optional packages; keep export output readable.
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
# Our own tqdm shows progress; transformers' "Loading weights" bars would interleave with it.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from appliance.errors import BundleError  # noqa: E402


class ExportError(BundleError):
    """An export could not be made (bad source, unsupported architecture, builder failure, fidelity)."""


class FidelityError(ExportError):
    """The exported model disagrees with its fp32 source more than the threshold allows."""

    def __init__(self, message: str, fidelity=None) -> None:
        super().__init__(message)
        self.fidelity = fidelity


__all__ = ["ExportError", "FidelityError"]
