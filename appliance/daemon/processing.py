"""Processing: one claimed input → one ``Outcome``. No logging, no status, no decisions about failures.

In two steps, so that the daemon can report the start of the (slow) extraction in between::

    begin:  read bytes ─▶ mark the attempt in flight ─▶ parse ─▶ done before?             → Started
            (a suspect, whose last attempt was in flight when the process died: read, mark → Isolate)
    finish: pipeline.process ─▶ clear in flight ─▶ render each output format ─▶ encrypt
            ─▶ durable write (outbox) ─▶ ledger entry ─▶ input deleted or archived      → Processed
    finish_isolated: the same, with parse + pipeline.process done by a child process (``isolation``)

Every result file is durable before the ledger entry, and the ledger entry before the input leaves
``work/``: a crash between two outputs leaves the input in ``work/`` and no ledger entry, so it is
processed again at the next start and the missing output written. ``in_flight`` covers exactly the
parsing and the extraction: a death while writing never makes an input a suspect, nor does a storage
error that kept the end of an attempt from being recorded (this process saw it, alive). Expected failures
come back as ``Failed`` with the stage they happened in; anything else is raised (the daemon treats
it as an unexpected error).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from .. import crypto
from ..claims import AttemptRecord
from ..errors import ApplianceError, InputError
from ..inputs import InputRegistry, ParseLimits
from ..outputs import RenderContext, Renderer
from ..reader import file_size, read_bytes
from ..result import Result
from ..resultkey import id_sha256, legacy_key, slug
from ..store import Store, WorkItem, result_key
from .isolation import ChildCrashed, IsolatedError, IsolationUnavailable, Isolator, ParseStageError
from .models import PipelineSlot
from .outcome import Duplicate, Failed, Isolate, Outcome, Processed, Recovered, Stage, Started, Vanished


class Processor:
    """Processes claimed inputs with the pipeline in ``slot``, to the recipients' keys.

    ``renderers``: the configured output formats, in order (at least one). ``max_file_bytes``: larger
    inputs are refused unread. ``isolator`` runs suspects (its ``separate_process`` makes the daemon
    release its own models meanwhile); ``keepalive`` is called while it waits. ``retention``:
    ``delete`` or ``archive``. ``render_context``: what the formats may need besides the result (the task).
    """

    def __init__(
        self,
        store: Store,
        *,
        slot: PipelineSlot,
        isolator: Isolator,
        recipients: Sequence[object],
        inputs: InputRegistry,
        renderers: Sequence[Renderer],
        parse_limits: ParseLimits,
        max_file_bytes: int,
        retention: Literal["delete", "archive"],
        keepalive: Callable[[], None] = lambda: None,
        render_context: RenderContext | None = None,
    ) -> None:
        self.store = store
        self.slot = slot
        self.isolator = isolator
        self.recipients = list(recipients)
        self.inputs = inputs
        self.renderers = list(renderers)
        self.render_context = render_context or RenderContext()
        self.parse_limits = parse_limits
        self.max_file_bytes = max_file_bytes
        self.retention = retention
        self.keepalive = keepalive
        # Claims whose attempt ended in this process while their record still says "in flight" (clearing
        # it failed: a full or read-only disk). This process is alive, so that was no death.
        self._ended_unrecorded: set[str] = set()

    def begin(self, item: WorkItem) -> Started | Isolate | Outcome:
        """Read, mark the attempt in flight, parse, check idempotency. ``Started`` if the pipeline is
        next, ``Isolate`` for a suspect; else the outcome: ``Vanished``, ``Duplicate``/``Recovered``
        (cleaned up), or ``Failed`` at ``READ``/``PARSE``/``STORAGE``."""
        t0 = time.monotonic()
        try:
            raw = read_bytes(item.path, self.max_file_bytes, follow_symlinks=False)
        except FileNotFoundError:
            try:
                self.store.remove_work(item)  # (its empty claim folder and its attempt record)
            except OSError:
                pass  # (left for the next start's recovery to remove)
            return Vanished()
        except InputError as e:  # refused without reading it (too large, a link, a pipe...): no hash
            return Failed(Stage.READ, e, size=file_size(item.path))
        bytes_sha256 = hashlib.sha256(raw).hexdigest()
        rec = self.store.attempt_record(item)
        if rec.in_flight and item.claim not in self._ended_unrecorded:
            rec.interrupted += 1  # the process died during its last attempt (a kill, a crash: unknown)
            rec.suspect = True
        self._ended_unrecorded.discard(item.claim)
        rec.in_flight = True
        rec.attempts += 1
        try:
            self.store.save_attempts(item, rec)  # before it starts: a death during it is seen next time
        except OSError as e:
            return Failed(Stage.STORAGE, e, bytes_sha256, len(raw))
        if rec.suspect:
            return Isolate(item, raw, bytes_sha256, rec, t0)
        try:
            doc = self.inputs.parse(raw, item.name, self.parse_limits)
        except InputError as e:
            return Failed(Stage.PARSE, e, bytes_sha256, len(raw), rec.attempts)
        key = result_key(doc.id, bytes_sha256)
        done = self._done(item, key, doc.id, bytes_sha256)
        if done is not None:
            return self._already_done(item, done, raw, bytes_sha256, doc.id)
        return Started(item, doc, raw, key, bytes_sha256, rec.attempts, t0, rec)

    def finish(self, s: Started) -> Outcome:
        """Extract, write every output, record, clean up. ``Processed``, or ``Failed`` at ``PIPELINE``
        (the pipeline raised), ``ENVIRONMENT`` (it could not be loaded again) or ``STORAGE`` (an
        ``OSError`` while writing or cleaning up)."""
        try:
            pipeline = self.slot.get()
        except ApplianceError as e:
            return self._ended(s.item, s.record, Failed(Stage.ENVIRONMENT, e, s.bytes_sha256, len(s.raw)))
        try:
            result = pipeline.process(s.doc)
        except Exception as e:
            failed = Failed(Stage.PIPELINE, e, s.bytes_sha256, len(s.raw), s.attempts)
            return self._ended(s.item, s.record, failed)
        return self._write(s.item, s.record, s.key, s.doc.id, result, s.raw, s.bytes_sha256, s.t0)

    def finish_isolated(self, s: Isolate) -> Outcome:
        """A suspect: parse and extract in a child process (``isolation``), then as ``finish``. A death
        of the child counts a crash: ``Failed(CRASH)`` with ``attempts`` = crashes so far."""
        if self.isolator.separate_process:
            self.slot.release()  # one copy of the models in memory, the child's
        rec, size = s.record, len(s.raw)
        try:
            got = self.isolator.run(s.raw, s.item.name, self.keepalive)
        except ParseStageError as e:
            return Failed(Stage.PARSE, e, s.bytes_sha256, size, rec.attempts)
        except InputError as e:
            return Failed(Stage.PIPELINE, e, s.bytes_sha256, size, rec.attempts)
        except IsolatedError as e:
            return self._ended(s.item, rec, Failed(Stage.PIPELINE, e, s.bytes_sha256, size, rec.attempts))
        except ChildCrashed as e:
            rec.crashes += 1
            rec.in_flight = False
            try:
                self.store.save_attempts(s.item, rec)
            except OSError as e2:
                return Failed(Stage.STORAGE, e2, s.bytes_sha256, size)
            return Failed(Stage.CRASH, e, s.bytes_sha256, size, rec.crashes)
        except IsolationUnavailable as e:
            return self._ended(s.item, rec, Failed(Stage.ENVIRONMENT, e, s.bytes_sha256, size))
        key = result_key(got.doc_id, s.bytes_sha256)
        done = self._done(s.item, key, got.doc_id, s.bytes_sha256)
        if done is not None:
            return self._already_done(s.item, done, s.raw, s.bytes_sha256, got.doc_id)
        return self._write(s.item, rec, key, got.doc_id, got.result, s.raw, s.bytes_sha256, s.t0, True)

    def _ended(self, item: WorkItem, rec: AttemptRecord, failed: Failed) -> Failed:
        """The attempt ended (not by a death): clear ``in_flight``, not durably (see ``save_attempts``)."""
        rec.in_flight = False
        try:
            self.store.save_attempts(item, rec, sync=False)
        except OSError as e:
            self._ended_unrecorded.add(item.claim)
            return Failed(Stage.STORAGE, e, failed.bytes_sha256, failed.size)
        return failed

    def _done(self, item: WorkItem, key: str, doc_id: str, bytes_sha256: str) -> tuple[bool, str] | None:
        """None if the input is not done; ``(True, key)`` if a ledger entry says it is; ``(False, k)``
        if every result exists under ``k`` without a ledger entry (a crash in between; ``k`` is the
        pre-#12 key for an input claimed before the upgrade)."""
        old = legacy_key(doc_id, bytes_sha256)
        if self.store.in_ledger(key, id_sha256=id_sha256(doc_id), bytes_sha256=bytes_sha256, legacy_key=old):
            return True, key
        if self.store.has_results(key):
            return False, key
        if item.legacy and old != key and self.store.has_results(old):
            return False, old
        return None

    def _write(
        self,
        item: WorkItem,
        rec: AttemptRecord,
        key: str,
        doc_id: str,
        result: Result,
        raw: bytes,
        bytes_sha256: str,
        t0: float,
        isolated: bool = False,
    ) -> Outcome:
        rec.in_flight = False  # extraction over: a death from here on is not the input's
        try:
            self.store.save_attempts(item, rec, sync=False)
            self._write_results(key, result)
            self.store.mark_done(key, self._ledger_info(doc_id, bytes_sha256))
            self._cleanup(item, key, raw)
        except OSError as e:
            self._ended_unrecorded.add(item.claim)  # (the record may still say in flight)
            return Failed(Stage.STORAGE, e, bytes_sha256, len(raw))
        missing = sum(1 for f in result.features.values() if f.status == "missing")
        seconds = round(time.monotonic() - t0, 3)
        return Processed(key, bytes_sha256, len(result.features), missing, seconds, isolated)

    @staticmethod
    def _ledger_info(doc_id: str, bytes_sha256: str) -> dict[str, str]:
        return {"bytes_sha256": bytes_sha256, "id_sha256": id_sha256(doc_id), "id_slug": slug(doc_id)}

    def _write_results(self, key: str, result: Result) -> None:
        """One encrypted file per output format, each durable. A file left by an earlier, interrupted
        attempt is complete (written atomically) and kept as it is."""
        for renderer in self.renderers:
            if self.store.result_path(key, renderer.suffix).exists():
                continue
            encrypted = crypto.encrypt(renderer.render(result, self.render_context), self.recipients)
            self.store.write_result(key, renderer.suffix, encrypted)

    def _already_done(
        self, item: WorkItem, done: tuple[bool, str], raw: bytes, bytes_sha256: str, doc_id: str
    ) -> Outcome:
        """Its results exist: a duplicate drop (``done[0]``), or a crash after the results were written
        (the ledger entry is made under ``done[1]``)."""
        had_ledger, key = done
        try:
            if not had_ledger:
                self.store.mark_done(key, {**self._ledger_info(doc_id, bytes_sha256), "recovered": True})
            self._cleanup(item, key, raw)
        except OSError as e:
            return Failed(Stage.STORAGE, e, bytes_sha256, len(raw))
        return Duplicate(key) if had_ledger else Recovered(key)

    def _cleanup(self, item: WorkItem, key: str, raw: bytes) -> None:
        """The results are durable: now (and only now) the input leaves work/."""
        if self.retention == "archive":
            suffix = Path(item.name).suffix.lower()
            if not self.store.archive_path(key, suffix).exists():
                self.store.archive(key, suffix, crypto.encrypt(raw, self.recipients))
        self.store.remove_work(item)
