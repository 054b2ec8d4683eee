"""The ``Daemon``: lifecycle, signals, and the work loop that ties intake, processing, the failure
policy and status reporting together.

One thread does all the work, in order (the watchdog observer thread only reports names, and the
heartbeat thread only pings systemd and refreshes the status file). Each turn of the loop (``step``)
reads top to bottom::

    take in events ─▶ pick the next item ─▶ process it ─▶ apply the outcome ─▶ report

Signals: the first SIGTERM/SIGINT finishes the current input and exits; a second one stops at once
(the input stays in ``work/`` and is recovered at the next start). A crash (SIGKILL, power loss)
is recovered the same way. One ``except`` per input: one bad file never stops the loop.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import crypto
from ..config import ApplianceConfig
from ..errors import ApplianceError, InputError
from ..inputs import REGISTRY as INPUTS
from ..inputs import InputRegistry, ParseLimits
from ..logfmt import event, exception_fields
from ..outputs import REGISTRY as OUTPUTS
from ..reader import display_name, file_size
from ..reasons import Reason
from ..settings import PipelineSettings
from ..state import ServiceStatus, utcnow
from ..store import FailureRecord, Store, WorkItem
from .intake import Intake
from .outcome import (
    Duplicate,
    Failed,
    Forget,
    Outcome,
    Processed,
    Quarantine,
    Recovered,
    Retry,
    Stage,
    Started,
    Vanished,
)
from .policy import FailurePolicy
from .processing import PipelineLike, Processor
from .status import Heartbeat, Notifier, StatusReporter

log = logging.getLogger("appliance.daemon")

PipelineLoader = Callable[[PipelineSettings], PipelineLike]


class ColdStop(BaseException):
    """Second stop signal: leave now (not an ``Exception``, so no per-file handler swallows it)."""


def default_loader(settings: PipelineSettings) -> PipelineLike:
    """The real pipeline (imports onnxruntime-genai: only when actually serving)."""
    from ..pipeline import Pipeline

    return Pipeline.load(settings)


class Daemon:
    """The drop-folder service for one configuration.

    ``loader`` builds the pipeline at ``start`` (default ``default_loader``, looked up when called so
    tests can swap it); ``clock`` is monotonic seconds (settle times, retries, liveness);
    ``notifier`` receives sd_notify lines; ``inputs`` is the input-format registry (default: the
    global one). ``ConfigError``/``StoreError`` and other ``ApplianceError`` from ``start`` mean the
    service cannot run (the CLI exits 78).
    """

    def __init__(
        self,
        config: ApplianceConfig,
        *,
        loader: PipelineLoader | None = None,
        clock: Callable[[], float] = time.monotonic,
        config_path: Path | None = None,
        notifier: Callable[[str], None] | None = None,
        inputs: InputRegistry | None = None,
    ) -> None:
        self.cfg = config
        self.loader = loader or (lambda settings: default_loader(settings))  # looked up late: tests swap it
        self.clock = clock
        self.inputs = inputs or INPUTS
        self.renderers = OUTPUTS.select(config.output.formats)
        self.store = Store(
            config.paths,
            result_mode=config.service.result_mode,
            result_suffixes=[r.suffix for r in self.renderers],
        )
        self.reporter = StatusReporter(
            self.store,
            notifier or Notifier(),
            config_path=config_path,
            heartbeat_seconds=config.service.status_interval_seconds,
        )
        self.intake = Intake(self.store, config.watch, clock=clock, on_unclaimable=self._refuse_unclaimable)
        self.policy = FailurePolicy(config.retries)
        self.heartbeat = Heartbeat(
            self.reporter,
            clock=clock,
            interval=config.service.status_interval_seconds,
            max_file_seconds=config.service.max_file_seconds,
        )
        self.pipeline: PipelineLike | None = None
        self.recipients: list[Any] = []
        self.processor: Processor | None = None  # made by start(), once models and keys are loaded
        self._stop = False

    @property
    def status(self) -> ServiceStatus:
        """The live status (counts, state, current input, last error)."""
        return self.reporter.status

    # ------------------------------------------------------------------------------------ lifecycle

    def request_stop(self, signum: int = signal.SIGTERM, frame: Any = None) -> None:
        """Signal handler: the first call finishes the current input and ends the loop; a second one
        raises ``ColdStop`` (leave now; the input stays in work/)."""
        if self._stop:
            event(log, logging.WARNING, "cold_stop", signal=signal.Signals(signum).name)
            raise ColdStop()
        self._stop = True
        event(log, logging.INFO, "stopping", signal=signal.Signals(signum).name, current=self.status.current)
        self.reporter.notify("STOPPING=1")

    def start(self) -> None:
        """Everything before the loop: folders, keys, models, recovery of work/, watching, first scan."""
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
        self.reporter.set_state("starting")
        self.reporter.notify("STATUS=loading models")
        t0 = time.monotonic()
        self.pipeline = self.loader(cfg.pipeline_settings())
        try:
            self.status.models = self.pipeline.describe()
        except Exception as e:  # describe() is informational only
            event(log, logging.WARNING, "describe_failed", **exception_fields(e))
        event(log, logging.INFO, "models_loaded", seconds=round(time.monotonic() - t0, 3))
        self.processor = Processor(
            self.store,
            pipeline=self.pipeline,
            recipients=self.recipients,
            inputs=self.inputs,
            renderers=self.renderers,
            parse_limits=ParseLimits(cfg.limits.max_json_depth, cfg.limits.max_metadata_bytes),
            max_file_bytes=cfg.limits.max_file_bytes,
            max_attempts=cfg.retries.max_attempts,
            retention=cfg.retention.on_success,
        )
        recovered = self.intake.recover()  # left by a crash or a cold stop
        if recovered:
            event(log, logging.INFO, "recovering", files=recovered)
        if cfg.watch.use_inotify and not self.intake.watch():
            event(log, logging.WARNING, "inotify_unavailable", rescan_seconds=cfg.watch.rescan_seconds)
        self.intake.rescan()
        self.reporter.set_state("ready")
        self.reporter.notify("READY=1")
        self.reporter.notify_status()
        event(log, logging.INFO, "ready", queue=self.intake.pending())

    def run(self, install_signals: bool = True) -> int:
        """Start, loop until stopped, shut down. Returns the exit status (0); ``ApplianceError`` from
        ``start`` is logged (``start_failed``) and raised."""
        if install_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        code = 0
        try:
            try:
                self.start()
            except ApplianceError as e:  # refused: recipients, folders, bundles, task (the CLI prints why)
                event(log, logging.ERROR, "start_failed", error=e.__class__.__name__)
                raise
            self.heartbeat.start()
            self.loop()
        except ColdStop:
            event(log, logging.WARNING, "stopped_cold", current=self.status.current)
        finally:
            self.heartbeat.stop()
            self.intake.stop()
            if self.pipeline is not None:
                try:
                    self.pipeline.close()
                except Exception as e:  # pragma: no cover
                    event(log, logging.WARNING, "close_failed", **exception_fields(e))
            try:
                self.status.current = None
                self.reporter.set_state("stopped")
            except OSError:  # pragma: no cover
                pass
            event(log, logging.INFO, "stopped", processed=self.status.processed, failed=self.status.failed)
        return code

    # ------------------------------------------------------------------------------------ the loop

    def loop(self, max_iterations: int | None = None) -> None:
        """Turn ``step`` until stopped; rescan the inbox every ``watch.rescan_seconds``; wait up to
        ``watch.tick_seconds`` for events when there was nothing to do."""
        watch = self.cfg.watch
        next_rescan = self.clock() + watch.rescan_seconds
        n = 0
        while not self._stop:
            self.heartbeat.alive()
            did = self.step()
            if self.clock() >= next_rescan:
                self.intake.rescan()
                next_rescan = self.clock() + watch.rescan_seconds
            if not did:
                self.intake.wait_for_events(timeout=watch.tick_seconds)
            n += 1
            if max_iterations is not None and n >= max_iterations:
                break

    def step(self) -> bool:
        """One turn: take in events, pick the next item, process it, apply the outcome, report.
        True if an input was handled."""
        self.intake.take_in()  # 1. take in watcher events; queue the files now complete
        item = self.intake.next_item()  # 2. pick the next item (a due retry, a recovered one, a new claim)
        if item is None:
            self.reporter.refresh()
            return False
        self.status.current = item.label
        try:
            outcome = self._process(item)  # 3. process it
            self._apply(item, outcome)  # 4. apply the outcome: log, status, quarantine or retry
            self.policy.settled(item.path)
        except ColdStop:
            raise
        except Exception as e:  # one bad file never stops the daemon
            self._apply_unexpected(item, e)
        finally:
            self.status.current = None
            self.reporter.changed()
        self.reporter.refresh()  # 5. report: status file and sd_notify
        return True

    def _process(self, item: WorkItem) -> Outcome:
        """The processor's two steps, with the `processing` event between them (before the slow part)."""
        assert self.processor is not None, "start() first"
        begun = self.processor.begin(item)
        if not isinstance(begun, Started):
            return begun
        event(
            log,
            logging.INFO,
            "processing",
            file=item.label,
            key=begun.key,
            attempt=begun.attempts,
            bytes=len(begun.raw),
        )
        return self.processor.finish(begun)

    # ------------------------------------------------------------------------------------ outcomes

    def _apply(self, item: WorkItem, outcome: Outcome) -> None:
        """Log the outcome, count it in the status, and carry out the policy's decision on a failure."""
        st = self.status
        if isinstance(outcome, Processed):
            st.processed += 1
            st.last_success = utcnow()
            event(
                log,
                logging.INFO,
                "processed",
                file=item.label,
                key=outcome.key,
                input_sha256=outcome.bytes_sha256[:16],
                features=outcome.features,
                missing=outcome.missing,
                seconds=outcome.seconds,
            )
        elif isinstance(outcome, Duplicate):
            st.duplicates += 1
            event(log, logging.INFO, "duplicate", file=item.label, key=outcome.key)
        elif isinstance(outcome, Recovered):
            st.recovered += 1
            event(log, logging.INFO, "recovered", file=item.label, key=outcome.key)
        elif isinstance(outcome, Vanished):
            event(log, logging.WARNING, "vanished", file=item.label)
        elif isinstance(outcome, Failed):
            decision = self.policy.decide(item.path, outcome)
            if isinstance(decision, Quarantine):
                self._quarantine(item, decision)
            elif isinstance(decision, Retry):
                self._retry(item, decision)

    def _apply_unexpected(self, item: WorkItem, exc: Exception) -> None:
        """An error outside the per-input contract (a bug, or a folder we cannot write). The input is
        not forgotten in work/: the policy retries it with backoff and sets it aside as
        ``internal_error`` after ``retries.max_attempts`` such errors (while even that fails, e.g. the
        failed folder is full, it keeps being retried)."""
        event(log, logging.ERROR, "unexpected_error", file=item.label, **exception_fields(exc))
        self.reporter.record_error(Reason.INTERNAL_ERROR, item.label)
        decision = self.policy.decide(item.path, Failed(Stage.INTERNAL, exc))
        if isinstance(decision, Forget):
            return
        if isinstance(decision, Quarantine):
            try:
                self._quarantine(item, decision)
                self.policy.settled(item.path)
                return
            except Exception as e2:
                event(log, logging.ERROR, "quarantine_failed", file=item.label, **exception_fields(e2))
                decision = self.policy.quarantine_failed(item.path, exc)
        assert isinstance(decision, Retry)
        self._retry(item, decision)

    def _retry(self, item: WorkItem, r: Retry) -> None:
        self.intake.schedule_retry(item, r.delay)
        if not r.announce:
            return
        self.status.retries += 1
        self.reporter.record_error(r.reason, item.label)
        event(
            log,
            logging.WARNING,
            "retry_scheduled",
            file=item.label,
            reason=r.reason.value,
            attempt=r.attempt,
            delay_seconds=round(r.delay, 3),
            **exception_fields(r.error),
        )

    def _quarantine(self, item: WorkItem, q: Quarantine) -> None:
        record = self._record(item.label, q, default_attempts=lambda: max(1, self.store.attempts(item)))
        target = self.store.fail(item, record)
        self._report_failed(item.label, target, q, record, with_hash=True)

    def _refuse_unclaimable(self, path: Path, refusal: InputError) -> None:
        """An inbox name too long to claim (``<claim>~<name>`` would overflow the name limit): set
        aside at once, from the inbox, under a shortened name."""
        label = display_name(path.name)
        q = self.policy.decide(path, Failed(Stage.CLAIM, refusal, size=file_size(path), attempts=1))
        assert isinstance(q, Quarantine)
        record = self._record(label, q, default_attempts=lambda: 1)
        try:
            target = self.store.fail_from_inbox(path, record)
        except OSError as e:
            event(log, logging.ERROR, "quarantine_failed", file=label, **exception_fields(e))
            return
        if target is None:
            return
        self._report_failed(label, target, q, record, with_hash=False)

    @staticmethod
    def _record(label: str, q: Quarantine, default_attempts: Callable[[], int]) -> FailureRecord:
        return FailureRecord(
            input_name=label,
            reason=q.reason.value,
            detail=q.detail,
            exception=q.error.__class__.__name__ if q.error is not None else None,
            attempts=q.attempts if q.attempts is not None else default_attempts(),
            input_sha256=q.bytes_sha256,
            input_bytes=q.size,
        )

    def _report_failed(
        self, label: str, target: Path, q: Quarantine, record: FailureRecord, *, with_hash: bool
    ) -> None:
        self.status.failed += 1
        self.reporter.record_error(q.reason, label)
        fields: dict[str, Any] = {"input_sha256": (q.bytes_sha256 or "")[:16]} if with_hash else {}
        if q.error is not None:
            fields.update(exception_fields(q.error))
        event(
            log,
            logging.WARNING,
            "failed",
            file=label,
            moved_to=display_name(target.name),
            reason=q.reason.value,
            attempts=record.attempts,
            **fields,
        )
