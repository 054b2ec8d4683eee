"""The drop-folder service: watch the inbox, claim, extract, encrypt, write durably, clean up.

One thread does all the work, in order (the watchdog observer thread only reports names, and a
heartbeat thread only pings systemd and refreshes the status file). Per input::

    inbox/x ─claim (rename)─▶ work/<claim>~x ─read+validate─▶ Document ─pipeline─▶ Result
      ─encrypt (age)─▶ outbox/<key>.json.age (tmp, fsync, replace, fsync dir) ─▶ ledger/<key>
      ─▶ work file deleted or archived (encrypted)            on failure: ─▶ failed/x + x.error.json

Signals: the first SIGTERM/SIGINT finishes the current input and exits; a second one stops at once
(the input stays in ``work/`` and is recovered at the next start). A crash (SIGKILL, power loss)
is recovered the same way. One ``except`` per input: one bad file never stops the loop.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import queue
import signal
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from . import crypto, reader
from .config import ApplianceConfig
from .document import Document
from .errors import ApplianceError, InputError
from .logfmt import event, exception_fields
from .result import Result
from .settings import PipelineSettings
from .state import LastError, ServiceStatus, utcnow, write_status
from .store import FailureRecord, Store, WorkItem, result_key
from .watcher import CHANGED, CLOSED, CREATED, GONE, MOVED_IN, InboxWatcher, StabilityTracker

log = logging.getLogger("appliance.daemon")


class PipelineLike(Protocol):
    def process(self, doc: Document) -> Result: ...
    def describe(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


PipelineLoader = Callable[[PipelineSettings], PipelineLike]


class ColdStop(BaseException):
    """Second stop signal: leave now (not an ``Exception``, so no per-file handler swallows it)."""


class _Notifier:
    """sd_notify, harmless without systemd (no ``NOTIFY_SOCKET``)."""

    def __init__(self) -> None:
        self._n = None
        if os.environ.get("NOTIFY_SOCKET"):
            try:
                import sdnotify

                self._n = sdnotify.SystemdNotifier()
            except Exception:  # pragma: no cover
                self._n = None

    def __call__(self, message: str) -> None:
        if self._n is not None:
            try:
                self._n.notify(message)
            except Exception:  # pragma: no cover
                pass


def default_loader(settings: PipelineSettings) -> PipelineLike:
    from .pipeline import Pipeline  # imports onnxruntime-genai: only when actually serving

    return Pipeline.load(settings)


class Daemon:
    def __init__(
        self,
        config: ApplianceConfig,
        *,
        loader: PipelineLoader | None = None,
        clock: Callable[[], float] = time.monotonic,
        config_path: Path | None = None,
        notifier: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg = config
        self.loader = loader or (lambda settings: default_loader(settings))  # looked up late: tests swap it
        self.clock = clock
        self.store = Store(config.paths, result_mode=config.service.result_mode)
        self.notify = notifier or _Notifier()
        self.status = ServiceStatus(
            config=str(config_path) if config_path else None,
            heartbeat_seconds=config.service.status_interval_seconds,
        )
        self.events: queue.Queue[tuple[str, Path]] = queue.Queue()
        self.tracker = StabilityTracker(
            config.watch.settle_seconds, clock=clock, write_settle_seconds=config.watch.write_settle_seconds
        )
        self.watcher = InboxWatcher(self.store.inbox, self.events)
        self.pipeline: PipelineLike | None = None
        self.recipients: list[Any] = []
        self._ready: deque[Path] = deque()  # inbox files judged complete, in order
        self._queued: set[Path] = set()  # nothing is queued twice
        self._work: deque[WorkItem] = deque()  # recovered items, before new ones
        self._retry: dict[Path, tuple[float, WorkItem]] = {}
        self._internal_errors: dict[Path, int] = {}  # unexpected errors per work file (bounded retries)
        self._stop = False
        self._lock = threading.Lock()
        self._alive_at = clock()
        self._heartbeat_stop = threading.Event()
        self._status_dirty = True

    # ------------------------------------------------------------------------------------ lifecycle

    def request_stop(self, signum: int = signal.SIGTERM, frame: Any = None) -> None:
        if self._stop:
            event(log, logging.WARNING, "cold_stop", signal=signal.Signals(signum).name)
            raise ColdStop()
        self._stop = True
        event(log, logging.INFO, "stopping", signal=signal.Signals(signum).name, current=self.status.current)
        self.notify("STOPPING=1")

    def start(self) -> None:
        """Everything before the loop: folders, keys, recovery bookkeeping, models, watching."""
        self.store.prepare()
        cfg = self.cfg
        self.recipients = crypto.load_recipients(cfg.recipients.keys, cfg.recipients.files)
        event(
            log,
            logging.INFO,
            "starting",
            pid=os.getpid(),
            recipients=len(self.recipients),
            inbox=str(self.store.inbox),
            retention=cfg.retention.on_success,
        )
        self._set_state("starting")
        self.notify("STATUS=loading models")
        t0 = time.monotonic()
        self.pipeline = self.loader(cfg.pipeline_settings())
        try:
            self.status.models = self.pipeline.describe()
        except Exception as e:  # describe() is informational only
            event(log, logging.WARNING, "describe_failed", **exception_fields(e))
        event(log, logging.INFO, "models_loaded", seconds=round(time.monotonic() - t0, 3))
        for item in self.store.work_items():  # left by a crash or a cold stop
            self._work.append(item)
        self.store.prune_attempts(list(self._work))
        if self._work:
            event(log, logging.INFO, "recovering", files=len(self._work))
        if cfg.watch.use_inotify and not self.watcher.start():
            event(log, logging.WARNING, "inotify_unavailable", rescan_seconds=cfg.watch.rescan_seconds)
        self._rescan()
        self._set_state("ready")
        self.notify("READY=1")
        self._notify_status()
        event(log, logging.INFO, "ready", queue=len(self._work) + len(self.tracker))

    def run(self, install_signals: bool = True) -> int:
        if install_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        heartbeat = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        code = 0
        try:
            try:
                self.start()
            except ApplianceError as e:  # refused: recipients, folders, bundles, task (the CLI prints why)
                event(log, logging.ERROR, "start_failed", error=e.__class__.__name__)
                raise
            heartbeat.start()
            self.loop()
        except ColdStop:
            event(log, logging.WARNING, "stopped_cold", current=self.status.current)
        finally:
            self._heartbeat_stop.set()
            self.watcher.stop()
            if self.pipeline is not None:
                try:
                    self.pipeline.close()
                except Exception as e:  # pragma: no cover
                    event(log, logging.WARNING, "close_failed", **exception_fields(e))
            try:
                self.status.current = None
                self._set_state("stopped")
            except OSError:  # pragma: no cover
                pass
            event(log, logging.INFO, "stopped", processed=self.status.processed, failed=self.status.failed)
        return code

    # ------------------------------------------------------------------------------------ loop

    def loop(self, max_iterations: int | None = None) -> None:
        cfg = self.cfg.watch
        next_rescan = self.clock() + cfg.rescan_seconds
        n = 0
        while not self._stop:
            self._alive_at = self.clock()
            did = self.step()
            if self.clock() >= next_rescan:
                self._rescan()
                next_rescan = self.clock() + cfg.rescan_seconds
            if not did:
                self._drain_events(timeout=cfg.tick_seconds)
            n += 1
            if max_iterations is not None and n >= max_iterations:
                break

    def step(self) -> bool:
        """Take in events, then process at most one input. True if an input was handled."""
        self._drain_events(timeout=0)
        for path in self.tracker.poll():
            if path not in self._queued:
                self._queued.add(path)
                self._ready.append(path)
        item = self._next_item()
        if item is None:
            self._refresh_status_if_dirty()
            return False
        try:
            self.handle(item)
            self._internal_errors.pop(item.path, None)
        except ColdStop:
            raise
        except Exception as e:  # one bad file never stops the daemon
            self._unexpected(item, e)
        finally:
            self.status.current = None
            self._status_dirty = True
        self._refresh_status_if_dirty()
        return True

    def _unexpected(self, item: WorkItem, exc: Exception) -> None:
        """An error outside the per-input contract (a bug, or a folder we cannot write). The input is not
        forgotten in work/: it is tried again with backoff, and after ``retries.max_attempts`` such
        errors it is set aside with reason ``internal_error`` (while even that fails, e.g. the failed
        folder is full, it keeps being retried)."""
        event(log, logging.ERROR, "unexpected_error", file=item.label, **exception_fields(exc))
        self._record_error("internal_error", item.label)
        if not os.path.lexists(item.path):
            self._internal_errors.pop(item.path, None)
            return
        n = self._internal_errors.get(item.path, 0) + 1
        self._internal_errors[item.path] = n
        if n >= self.cfg.retries.max_attempts:
            try:
                self._fail(item, "internal_error", exception=exc, attempts=n)
                self._internal_errors.pop(item.path, None)
                return
            except Exception as e2:
                event(log, logging.ERROR, "quarantine_failed", file=item.label, **exception_fields(e2))
        self._retry[item.path] = (self.clock() + self.cfg.retries.delay(n), item)

    def _next_item(self) -> WorkItem | None:
        now = self.clock()
        if self._retry:
            path, (due, item) = min(self._retry.items(), key=lambda kv: kv[1][0])
            if due <= now:
                del self._retry[path]
                return item
        if self._work:
            return self._work.popleft()
        while self._ready:
            path = self._ready.popleft()
            self._queued.discard(path)
            if len(os.fsencode(path.name)) > reader.MAX_NAME_BYTES:
                self._refuse_long_name(path)
                continue
            try:
                item = self.store.claim(path)
            except OSError as e:
                label = reader.display_name(path.name)
                event(log, logging.ERROR, "claim_failed", file=label, **exception_fields(e))
                continue
            if item is not None:
                event(log, logging.DEBUG, "claimed", file=item.label, claim=item.claim)
                return item
        return None

    def _drain_events(self, timeout: float) -> None:
        try:
            kind, path = self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait()
        except queue.Empty:
            return
        while True:
            if kind in (CLOSED, MOVED_IN):
                self.tracker.complete(path)
            elif kind == CHANGED:  # being written: wait for the close (or the long fallback)
                self.tracker.touch(path, written=True)
            elif kind == CREATED:  # created (or hard-linked): settles like a scanned file unless written to
                self.tracker.touch(path, written=False)
            elif kind == GONE:
                self.tracker.forget(path)
            try:
                kind, path = self.events.get_nowait()
            except queue.Empty:
                return

    def _refuse_long_name(self, path: Path) -> None:
        """A name too long to claim (``<claim>~<name>`` would overflow the name limit): set aside at once."""
        label = reader.display_name(path.name)
        size = len(os.fsencode(path.name))
        record = FailureRecord(
            input_name=label,
            reason="bad_name",
            detail=f"the file name is {size} bytes long; the limit is {reader.MAX_NAME_BYTES}",
            attempts=1,
            input_bytes=_size(path),
        )
        try:
            target = self.store.fail_from_inbox(path, record)
        except OSError as e:
            event(log, logging.ERROR, "quarantine_failed", file=label, **exception_fields(e))
            return
        if target is None:
            return
        self.status.failed += 1
        self._record_error(record.reason, label)
        event(
            log,
            logging.WARNING,
            "failed",
            file=label,
            moved_to=reader.display_name(target.name),
            reason=record.reason,
            attempts=1,
        )

    def _rescan(self) -> None:
        try:
            for path in self.store.inbox_candidates(include_special=True):
                if path not in self._queued:
                    self.tracker.observe(path)
        except OSError as e:
            event(log, logging.ERROR, "scan_failed", **exception_fields(e))

    # ------------------------------------------------------------------------------------ one input

    def handle(self, item: WorkItem) -> None:
        self.status.current = item.label
        t0 = time.monotonic()
        limits = self.cfg.limits
        try:
            raw = reader.read_bytes(item.path, limits.max_file_bytes, follow_symlinks=False)
        except FileNotFoundError:
            event(log, logging.WARNING, "vanished", file=item.label)
            return
        except InputError as e:  # refused without reading it (too large, a link, a pipe...): no hash
            self._fail(item, e.reason, detail=str(e), size=_size(item.path))
            return
        sha = hashlib.sha256(raw).hexdigest()
        try:
            doc = reader.parse_input(
                raw,
                item.name,
                max_json_depth=limits.max_json_depth,
                max_metadata_bytes=limits.max_metadata_bytes,
            )
        except InputError as e:
            self._fail(item, e.reason, detail=str(e), sha=sha, size=len(raw))
            return
        key = result_key(doc.id, sha)
        if self.store.is_done(key):
            self._already_done(item, key, raw)
            return
        attempts = self.store.bump_attempts(item)
        if attempts > self.cfg.retries.max_attempts:
            self._fail(
                item,
                "interrupted",
                detail=f"processing was interrupted {attempts - 1} time(s) (crash or kill)",
                sha=sha,
                size=len(raw),
                attempts=attempts - 1,
            )
            return
        event(log, logging.INFO, "processing", file=item.label, key=key, attempt=attempts, bytes=len(raw))
        assert self.pipeline is not None
        try:
            result = self.pipeline.process(doc)
        except InputError as e:  # the pipeline says the document is unusable (e.g. too_long): no retry
            self._fail(item, e.reason, detail=str(e), sha=sha, size=len(raw), attempts=attempts)
            return
        except Exception as e:
            self._retry_or_fail(item, attempts, "pipeline_error", e, sha, len(raw))
            return
        try:
            payload = result.model_dump_json().encode("utf-8")
            encrypted = crypto.encrypt(payload, self.recipients)
            self.store.write_result(key, encrypted)
            self.store.mark_done(key, {"input_sha256": sha, "id_slug": key.rsplit(".", 1)[0]})
            self._cleanup(item, key, raw)
        except (OSError, ApplianceError) as e:
            self._retry_or_fail(item, attempts, "storage_error", e, sha, len(raw))
            return
        missing = sum(1 for f in result.features.values() if f.status == "missing")
        self.status.processed += 1
        self.status.last_success = utcnow()
        event(
            log,
            logging.INFO,
            "processed",
            file=item.label,
            key=key,
            input_sha256=sha[:16],
            features=len(result.features),
            missing=missing,
            seconds=round(time.monotonic() - t0, 3),
        )

    def _already_done(self, item: WorkItem, key: str, raw: bytes) -> None:
        """Its result exists: a duplicate drop, or a crash after the result was written."""
        had_ledger = self.store.ledger_path(key).exists()
        if not had_ledger:
            self.store.mark_done(key, {"input_sha256": hashlib.sha256(raw).hexdigest(), "recovered": True})
        self._cleanup(item, key, raw)
        if had_ledger:
            self.status.duplicates += 1
            event(log, logging.INFO, "duplicate", file=item.label, key=key)
        else:
            self.status.recovered += 1
            event(log, logging.INFO, "recovered", file=item.label, key=key)

    def _cleanup(self, item: WorkItem, key: str, raw: bytes) -> None:
        """The result is durable: now (and only now) the input leaves work/."""
        if self.cfg.retention.on_success == "archive":
            suffix = Path(item.name).suffix.lower()
            target = self.store.archive_dir / f"{key}{suffix}.age"
            if not target.exists():
                self.store.archive(key, suffix, crypto.encrypt(raw, self.recipients))
        self.store.remove_work(item)

    def _retry_or_fail(
        self, item: WorkItem, attempts: int, code: str, exc: Exception, sha: str, size: int
    ) -> None:
        fields = exception_fields(exc)
        detail = _os_error_detail(exc)
        if attempts >= self.cfg.retries.max_attempts:
            self._fail(item, code, detail=detail, exception=exc, sha=sha, size=size, attempts=attempts)
            return
        delay = self.cfg.retries.delay(attempts)
        self._retry[item.path] = (self.clock() + delay, item)
        self.status.retries += 1
        self._record_error(code, item.label)
        event(
            log,
            logging.WARNING,
            "retry_scheduled",
            file=item.label,
            reason=code,
            attempt=attempts,
            delay_seconds=round(delay, 3),
            **fields,
        )

    def _fail(
        self,
        item: WorkItem,
        reason: str,
        *,
        detail: str | None = None,
        exception: BaseException | None = None,
        sha: str | None = None,
        size: int | None = None,
        attempts: int | None = None,
    ) -> None:
        record = FailureRecord(
            input_name=item.label,
            reason=reason,
            detail=detail,
            exception=exception.__class__.__name__ if exception is not None else None,
            attempts=attempts if attempts is not None else max(1, self.store.attempts(item)),
            input_sha256=sha,
            input_bytes=size,
        )
        target = self.store.fail(item, record)
        self.status.failed += 1
        self._record_error(reason, item.label)
        fields = exception_fields(exception) if exception is not None else {}
        event(
            log,
            logging.WARNING,
            "failed",
            file=item.label,
            moved_to=reader.display_name(target.name),
            reason=reason,
            attempts=record.attempts,
            input_sha256=(sha or "")[:16],
            **fields,
        )

    # ------------------------------------------------------------------------------------ status

    def _record_error(self, code: str, name: str | None) -> None:
        self.status.last_error = LastError(code=code, at=utcnow(), input=name)
        self._status_dirty = True

    def _set_state(self, state: str) -> None:
        self.status.state = state  # type: ignore[assignment]
        self._status_dirty = True
        self._write_status()

    def _write_status(self) -> None:
        with self._lock:
            try:
                counts = self.store.counts(ledger=False)
                self.status.queue_inbox = counts["inbox"]
                self.status.queue_work = counts["work"]
            except OSError:
                pass
            try:
                write_status(self.store.state, self.status)
                self._status_dirty = False
            except Exception as e:  # the status file is informational: never a reason to stop
                event(log, logging.ERROR, "status_write_failed", **exception_fields(e))

    def _refresh_status_if_dirty(self) -> None:
        if self._status_dirty:
            self._write_status()
            self._notify_status()

    def _notify_status(self) -> None:
        s = self.status
        self.notify(
            f"STATUS={s.state}: processed={s.processed} failed={s.failed} "
            f"queue={s.queue_inbox + s.queue_work} last_error={s.last_error.code if s.last_error else '-'}"
        )

    def _heartbeat(self) -> None:
        """Systemd watchdog keep-alive and status refresh, while the main loop makes progress."""
        interval = self.cfg.service.status_interval_seconds
        usec = os.environ.get("WATCHDOG_USEC")
        if usec and usec.isdigit():
            interval = min(interval, int(usec) / 1e6 / 3)
        while not self._heartbeat_stop.wait(interval):
            stuck = self.clock() - self._alive_at > self.cfg.service.max_file_seconds
            if stuck:
                event(
                    log,
                    logging.ERROR,
                    "stuck",
                    current=self.status.current,
                    seconds=round(self.clock() - self._alive_at, 1),
                )
                continue  # no keep-alive: systemd's watchdog restarts us
            self.notify("WATCHDOG=1")
            self._write_status()


def _size(path: Path) -> int | None:
    """Size of a regular file (a link is not followed); None for anything else."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _os_error_detail(exc: BaseException) -> str | None:
    """``ENOSPC: No space left on device``: the error code only (an OSError's text names the file)."""
    if isinstance(exc, OSError) and exc.errno:
        return f"{errno.errorcode.get(exc.errno, str(exc.errno))}: {os.strerror(exc.errno)}"
    return None
