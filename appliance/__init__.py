"""Offline clinical-extraction appliance (runtime package).

Importing this package disables onnxruntime telemetry *before* onnxruntime can be imported anywhere
in the process: ``og.disable_telemetry_events()`` after import is too late (it was measured to still
write usage files and attempt DNS look-ups), so the environment variable must be set first.
"""

from __future__ import annotations

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
# Never let a stray dependency reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

__version__ = "0.1.0"
