"""Per-document predictions as an append-only JSONL cache, so an interrupted run resumes.

One line per processed document, written and flushed as soon as the document is done. A line is reused
only when its document id, the sha256 of the document text *and* the pipeline fingerprint (a hash of
``Pipeline.describe()`` and the task) all match: a changed model, prompt, task or threshold never reuses a
stale prediction. Stale and torn lines (a run killed mid-write) are skipped, never fatal.

A line holds no patient text: id, hashes, and per feature value/status/reason/score/confidence/threshold
(evidence quotes are left out; only their count and whether they were found in the text are kept).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..result import Result

RECORD_FORMAT = 1


def fingerprint(describe: dict[str, Any], task_hash: str) -> str:
    """Stable hash of what decides the predictions: the pipeline's ``describe()`` and the task content.

    ``describe()`` must therefore hold no volatile values (timings, load times, absolute temp paths).
    """
    blob = json.dumps({"describe": describe, "task": task_hash}, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def record_from_result(result: Result, doc_id: str, text_sha256: str, pipeline: str) -> dict[str, Any]:
    """The cache record of one Result: no text, per feature value/status/reason/score/confidence/
    threshold and evidence counts; ``pipeline`` is the fingerprint."""
    feats: dict[str, Any] = {}
    for key, fr in result.features.items():
        feats[key] = {
            "value": fr.value,
            "status": fr.status,
            "reason": fr.reason,
            "score": fr.score,
            "confidence": fr.confidence,
            "threshold": fr.threshold,
            "evidence": len(fr.evidence),
            "evidence_found": sum(1 for e in fr.evidence if e.found_in_text),
        }
    return {
        "format": RECORD_FORMAT,
        "id": doc_id,
        "text_sha256": text_sha256,
        "pipeline": pipeline,
        "language": result.language,
        "translated": result.translation is not None,
        "windows": result.windows,
        "document_tokens": result.document_tokens,
        "timings": result.timings.model_dump(),
        "error": None,
        "features": feats,
    }


def record_from_error(error: BaseException, doc_id: str, text_sha256: str, pipeline: str, keys: list[str]) -> dict[str, Any]:
    """A document the pipeline refused (an ``ApplianceError``): every feature missing, with the reason.

    Only the exception class and its ``reason`` code are kept: messages are not stored.
    """
    code = getattr(error, "reason", None) or type(error).__name__
    reason = f"error:{code}"
    return {
        "format": RECORD_FORMAT,
        "id": doc_id,
        "text_sha256": text_sha256,
        "pipeline": pipeline,
        "language": None,
        "translated": False,
        "windows": 0,
        "document_tokens": None,
        "timings": {},
        "error": {"type": type(error).__name__, "reason": code},
        "features": {
            k: {"value": None, "status": "missing", "reason": reason, "score": None, "confidence": None,
                "threshold": None, "evidence": 0, "evidence_found": 0}
            for k in keys
        },
    }


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every well-formed record in ``path``, in file order (torn or foreign lines are skipped).

    A missing file yields nothing; OSError when it cannot be read.
    """
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and {"id", "text_sha256", "pipeline", "features"} <= rec.keys():
                yield rec


class PredictionCache:
    """The cached predictions of one pipeline fingerprint in one JSONL file.

    Loading reads every record; those of another fingerprint are counted in ``stale`` and ignored.
    """

    def __init__(self, path: str | Path, pipeline: str) -> None:
        self.path = Path(path)
        self.pipeline = pipeline
        self._records: dict[tuple[str, str], dict[str, Any]] = {}
        self.stale = 0
        for rec in iter_records(self.path):
            if rec["pipeline"] == pipeline:
                self._records[(rec["id"], rec["text_sha256"])] = rec  # the last line wins
            else:
                self.stale += 1

    def get(self, doc_id: str, text_sha256: str) -> dict[str, Any] | None:
        """The record of this document id and text hash, or None; the last appended wins."""
        return self._records.get((doc_id, text_sha256))

    def __len__(self) -> int:
        return len(self._records)

    def append(self, record: dict[str, Any]) -> None:
        """Append one record and fsync it, so a killed run loses at most the current document.

        Raises ValueError when the record's fingerprint is not this cache's.
        """
        if record["pipeline"] != self.pipeline:
            raise ValueError("record belongs to another pipeline fingerprint")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
        with open(self.path, "a+b") as f:
            # A run killed mid-write leaves a torn last line: start on a fresh line so this one parses.
            if f.seek(0, os.SEEK_END) > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = "\n" + line
            f.write(line.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        self._records[(record["id"], record["text_sha256"])] = record
