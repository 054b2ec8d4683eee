"""A stand-in pipeline for daemon tests that are about folders, signals and crashes, not models.

The end-to-end tests in test_daemon.py use the real pipeline on the ``tiny_bundle`` fixture; this
fake makes the lifecycle tests fast and deterministic. Behaviour is steered by markers in the test
documents (test data, not patient text): ``#boom`` raises, ``#flaky`` raises on the first call per id,
``#toolong`` raises InputError, ``#slow`` sleeps ``FAKE_SLOW_SECONDS`` (default 2), ``#crash`` kills
the process that runs it (SIGKILL: a poison pill, as a segfault in a native library would).
``FAKE_LOAD_SECONDS`` (default 0) makes each load take that long (a large model).

Run as a script, it is ``appliance`` with this pipeline swapped in:
``python tests/support/fakepipe.py run --config F``.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from appliance import __version__
from appliance.document import Document
from appliance.errors import InputError
from appliance.result import FeatureResult, ModelRef, Provenance, Result, Timings

KEYS = ["pain", "fever", "seizures"]


class FakePipeline:
    def __init__(self, settings=None) -> None:
        self.settings = settings
        self.calls: list[str] = []
        self._flaky_seen: set[str] = set()
        self.closed = False

    @classmethod
    def load(cls, settings) -> FakePipeline:
        time.sleep(float(os.environ.get("FAKE_LOAD_SECONDS", "0")))
        return cls(settings)

    def describe(self) -> dict:
        return {
            "task": "fake3",
            "task_version": "1",
            "strategy": "json",
            "prompt_hash": "0" * 64,
            "models": [{"name": "fake", "role": "extractor", "bundle_hash": "f" * 64}],
        }

    def close(self) -> None:
        self.closed = True

    def process(self, doc: Document) -> Result:
        self.calls.append(doc.id)
        log = os.environ.get("FAKE_CALL_LOG")
        if log:
            with open(log, "a") as f:
                f.write(doc.id + "\n")
        if "#slow" in doc.text:
            time.sleep(float(os.environ.get("FAKE_SLOW_SECONDS", "2")))
        if "#crash" in doc.text:
            os.kill(os.getpid(), signal.SIGKILL)
        if "#boom" in doc.text:
            raise RuntimeError("model exploded")  # message must never reach logs or sidecars
        if "#flaky" in doc.text and doc.id not in self._flaky_seen:
            self._flaky_seen.add(doc.id)
            raise RuntimeError("transient")
        if "#toolong" in doc.text:
            raise InputError("too_long", "document is longer than the limit")
        feats = {k: FeatureResult(value=(k in doc.text), status="extracted", confidence=0.9) for k in KEYS}
        return Result(
            input_id=doc.id,
            input_sha256=doc.content_hash,
            source_name=doc.source_name,
            language=doc.language or "en",
            features=feats,
            provenance=Provenance(
                app_version=__version__,
                task="fake3",
                task_version="1",
                prompt_hash="0" * 64,
                strategy="json",
                models=[ModelRef(name="fake", role="extractor", bundle_hash="f" * 64)],
            ),
            timings=Timings(),
            metadata=doc.metadata,
        )


if __name__ == "__main__":
    from appliance.cli import main
    from appliance.daemon import service

    service.default_loader = FakePipeline.load
    sys.exit(main(sys.argv[1:]))
