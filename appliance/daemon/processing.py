"""Processing: one claimed input → one ``Outcome``. No logging, no status, no decisions about failures.

In two steps, so that the daemon can report the start of the (slow) extraction in between::

    begin:  read bytes ─▶ parse (input registry) ─▶ done before? ─▶ count the attempt     → Started
    finish: pipeline.process ─▶ render each output format ─▶ encrypt ─▶ durable write (outbox)
            ─▶ ledger entry ─▶ input deleted or archived (encrypted)                      → Processed

Every result file is durable before the ledger entry, and the ledger entry before the input leaves
``work/``: a crash between two outputs leaves the input in ``work/`` and no ledger entry, so it is
processed again at the next start and the missing output written. Expected failures come back as
``Failed`` with the stage they happened in; anything else is raised (the daemon treats it as an
unexpected error).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from .. import crypto
from ..document import Document
from ..errors import ApplianceError, InputError
from ..inputs import InputRegistry, ParseLimits
from ..outputs import RenderContext, Renderer
from ..reader import file_size, read_bytes
from ..result import Result
from ..store import Store, WorkItem, result_key
from .outcome import Duplicate, Failed, Outcome, Processed, Recovered, Stage, Started, Vanished


class PipelineLike(Protocol):
    """What the daemon needs of ``appliance.pipeline.Pipeline``."""

    def process(self, doc: Document) -> Result:
        """One document → its result; ``InputError`` if the document is unusable."""
        ...

    def describe(self) -> dict[str, Any]:
        """Task, prompt hash and models, for the status file."""
        ...

    def close(self) -> None:
        """Release the models."""
        ...


class Processor:
    """Processes claimed inputs with a loaded pipeline, to the recipients' keys.

    ``renderers``: the configured output formats, in order (at least one). ``max_file_bytes``: larger
    inputs are refused unread. ``max_attempts``: an input whose attempt counter passes it is reported
    ``Failed(Stage.ATTEMPTS)`` (interrupted that often). ``retention``: ``delete`` or ``archive``.
    """

    def __init__(
        self,
        store: Store,
        *,
        pipeline: PipelineLike,
        recipients: Sequence[Any],
        inputs: InputRegistry,
        renderers: Sequence[Renderer],
        parse_limits: ParseLimits,
        max_file_bytes: int,
        max_attempts: int,
        retention: Literal["delete", "archive"],
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.recipients = list(recipients)
        self.inputs = inputs
        self.renderers = list(renderers)
        # The task the pipeline runs, for formats that need it (fhir); a stand-in pipeline may have none.
        self.render_context = RenderContext(task=getattr(pipeline, "task", None))
        self.parse_limits = parse_limits
        self.max_file_bytes = max_file_bytes
        self.max_attempts = max_attempts
        self.retention = retention

    def begin(self, item: WorkItem) -> Started | Outcome:
        """Read, parse, check idempotency and count the attempt. ``Started`` if the pipeline is next;
        else the outcome: ``Vanished``, ``Duplicate``/``Recovered`` (cleaned up), or ``Failed`` at
        ``READ``/``PARSE``/``ATTEMPTS``."""
        t0 = time.monotonic()
        try:
            raw = read_bytes(item.path, self.max_file_bytes, follow_symlinks=False)
        except FileNotFoundError:
            return Vanished()
        except InputError as e:  # refused without reading it (too large, a link, a pipe...): no hash
            return Failed(Stage.READ, e, size=file_size(item.path))
        bytes_sha256 = hashlib.sha256(raw).hexdigest()
        try:
            doc = self.inputs.parse(raw, item.name, self.parse_limits)
        except InputError as e:
            return Failed(Stage.PARSE, e, bytes_sha256, len(raw))
        key = result_key(doc.id, bytes_sha256)
        if self.store.is_done(key):
            return self._already_done(item, key, raw, bytes_sha256)
        attempts = self.store.bump_attempts(item)  # before it starts: a crash during it counts too
        if attempts > self.max_attempts:
            return Failed(Stage.ATTEMPTS, None, bytes_sha256, len(raw), attempts - 1)
        return Started(item, doc, raw, key, bytes_sha256, attempts, t0)

    def finish(self, s: Started) -> Outcome:
        """Extract, write every output, record, clean up. ``Processed``, or ``Failed`` at ``PIPELINE``
        (the pipeline raised) or ``STORAGE`` (an ``OSError`` or ``ApplianceError`` while rendering,
        encrypting, writing or cleaning up)."""
        try:
            result = self.pipeline.process(s.doc)
        except Exception as e:
            return Failed(Stage.PIPELINE, e, s.bytes_sha256, len(s.raw), s.attempts)
        try:
            self._write_results(s.key, result)
            self.store.mark_done(s.key, {"bytes_sha256": s.bytes_sha256, "id_slug": s.key.rsplit(".", 1)[0]})
            self._cleanup(s.item, s.key, s.raw)
        except (OSError, ApplianceError) as e:
            return Failed(Stage.STORAGE, e, s.bytes_sha256, len(s.raw), s.attempts)
        missing = sum(1 for f in result.features.values() if f.status == "missing")
        seconds = round(time.monotonic() - s.t0, 3)
        return Processed(s.key, s.bytes_sha256, len(result.features), missing, seconds)

    def _write_results(self, key: str, result: Result) -> None:
        """One encrypted file per output format, each durable. A file left by an earlier, interrupted
        attempt is complete (written atomically) and kept as it is."""
        for renderer in self.renderers:
            if self.store.result_path(key, renderer.suffix).exists():
                continue
            encrypted = crypto.encrypt(renderer.render(result, self.render_context), self.recipients)
            self.store.write_result(key, renderer.suffix, encrypted)

    def _already_done(self, item: WorkItem, key: str, raw: bytes, bytes_sha256: str) -> Outcome:
        """Its results exist: a duplicate drop, or a crash after the results were written."""
        had_ledger = self.store.ledger_path(key).exists()
        if not had_ledger:
            self.store.mark_done(key, {"bytes_sha256": bytes_sha256, "recovered": True})
        self._cleanup(item, key, raw)
        return Duplicate(key) if had_ledger else Recovered(key)

    def _cleanup(self, item: WorkItem, key: str, raw: bytes) -> None:
        """The results are durable: now (and only now) the input leaves work/."""
        if self.retention == "archive":
            suffix = Path(item.name).suffix.lower()
            if not self.store.archive_path(key, suffix).exists():
                self.store.archive(key, suffix, crypto.encrypt(raw, self.recipients))
        self.store.remove_work(item)
