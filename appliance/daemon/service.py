"""The ``Daemon``: lifecycle, signals, and the work loop that ties intake, processing, the failure
policy and status reporting together.

One thread does all the work, in order (the watchdog observer thread only reports names, and the
heartbeat thread only pings systemd and refreshes the status file). Each turn of the loop (``step``)
reads top to bottom::

    take in events ─▶ pick the next item ─▶ process it ─▶ apply the outcome ─▶ report

Signals: the first SIGTERM/SIGINT finishes the current input and exits; a second one stops at once
(the input stays in ``work/`` and is recovered at the next start; a suspect's child process is
killed). SIGHUP is a restart: the current input finishes, then the exit status is 75, which the unit's
``Restart=always`` restarts (with the default action the process died at once, and systemd counts
a death by SIGHUP as a clean exit: the service stayed down). A crash (SIGKILL, power loss) is recovered the same way; the input that was in flight then
is a suspect and is only extracted again in a child process (``isolation``), so killing the daemon
never counts against an input. One ``except`` per input: one bad file never stops the loop.
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
from ..errors import ApplianceError
from ..inputs import REGISTRY as INPUTS
from ..inputs import InputRegistry, ParseLimits
from ..logfmt import event, exception_fields
from ..outputs import REGISTRY as OUTPUTS
from ..outputs import RenderContext
from ..settings import PipelineSettings
from ..state import ServiceStatus
from ..store import Store, WorkItem
from .apply import OutcomeHandler
from .instance import InstanceLock
from .intake import Intake
from .isolation import InlineIsolator, Isolator, SubprocessIsolator, child_load_timeout
from .models import EX_TEMPFAIL, PipelineLike, PipelineLoader, PipelineSlot, load_when_present
from .outcome import Isolate, Outcome, Started
from .policy import FailurePolicy
from .processing import Processor
from .status import Heartbeat, Notifier, StatusReporter
from .throttle import Throttle

log = logging.getLogger("appliance.daemon")


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
    global one). ``isolator`` runs suspects: default, a child process running this program's own
    command line (``isolation.SubprocessIsolator``) — or, when an explicit ``loader`` is given, the
    daemon's own pipeline in-process (``InlineIsolator``: tests and embedding, no protection).
    ``ConfigError``/``StoreError`` and other ``ApplianceError`` from ``start`` mean the service cannot
    run (the CLI exits 78), except ``models.ModelsUnavailable`` (exit 75: restarted).
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
        isolator: Isolator | None = None,
    ) -> None:
        self.cfg = config
        self.loader = loader or (lambda settings: default_loader(settings))  # looked up late: tests swap it
        self._inline = loader is not None
        self.isolator = isolator
        self.clock = clock
        self.inputs = inputs or INPUTS
        self.renderers = OUTPUTS.select(config.output.formats)
        self.store = Store(
            config.paths,
            result_mode=config.service.result_mode,
            result_suffixes=[r.suffix for r in self.renderers],
        )
        self.instance = InstanceLock(self.store.state)
        self.throttle = Throttle(clock)
        self.reporter = StatusReporter(
            self.store,
            notifier or Notifier(),
            config_path=config_path,
            heartbeat_seconds=config.service.status_interval_seconds,
            throttle=self.throttle,
        )
        self.intake = Intake(
            self.store, config.watch, clock=clock, throttle=self.throttle, retries=config.retries
        )
        self.policy = FailurePolicy(config.retries)
        self.outcomes = OutcomeHandler(self.store, self.intake, self.policy, self.reporter, self.throttle)
        self.heartbeat = Heartbeat(
            self.reporter,
            clock=clock,
            interval=config.service.status_interval_seconds,
            max_file_seconds=config.service.max_file_seconds,
        )
        self.slot: PipelineSlot | None = None
        self.recipients: list[Any] = []
        self.processor: Processor | None = None  # made by start(), once models and keys are loaded
        self._stop = False
        self._exit_code = 0  # EX_TEMPFAIL after SIGHUP: to be restarted

    @property
    def status(self) -> ServiceStatus:
        """The live status (counts, state, current input, last error)."""
        return self.reporter.status

    @property
    def pipeline(self) -> PipelineLike | None:
        """The loaded pipeline (None before ``start`` and while released for a suspect's child)."""
        return self.slot.get() if self.slot is not None and self.slot.loaded else None

    # ------------------------------------------------------------------------------------ lifecycle

    def request_stop(self, signum: int = signal.SIGTERM, frame: Any = None) -> None:
        """Signal handler: the first call finishes the current input and ends the loop (``run`` then
        returns 75 if it was SIGHUP, to be restarted); a second one raises ``ColdStop`` (leave now; the
        input stays in work/)."""
        if self._stop:
            event(log, logging.WARNING, "cold_stop", signal=signal.Signals(signum).name)
            raise ColdStop()
        self._stop = True
        if signum == signal.SIGHUP:
            self._exit_code = EX_TEMPFAIL
        event(log, logging.INFO, "stopping", signal=signal.Signals(signum).name, current=self.status.current)
        self.reporter.notify("STOPPING=1")

    def start(self) -> None:
        """Everything before the loop: folders, keys, models (waiting for a bundle not mounted yet),
        recovery of work/, watching, first scan. Returns early, not ready, if stopped while waiting.
        Raises ``InstanceBusy`` when another daemon process serves the same folders."""
        self.instance.acquire()  # before prepare(), which removes the temporary files of a running daemon
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
        settings = cfg.pipeline_settings()
        pipeline = load_when_present(
            self.loader,
            settings,
            wait_seconds=cfg.service.model_wait_seconds,
            notify=self.reporter.notify,
            stopping=lambda: self._stop,
        )
        if pipeline is None:
            return
        self.slot = PipelineSlot(self.loader, settings, pipeline, on_load=self._describe)
        self._describe(pipeline)
        load_seconds = time.monotonic() - t0
        event(log, logging.INFO, "models_loaded", seconds=round(load_seconds, 3))
        limits = ParseLimits(cfg.limits.max_json_depth, cfg.limits.max_metadata_bytes)
        isolator = self.isolator or (
            InlineIsolator(self.slot.get, limits)
            if self._inline
            else SubprocessIsolator(
                settings,
                limits,
                timeout=cfg.service.max_file_seconds,
                load_timeout=child_load_timeout(cfg.service.max_file_seconds, load_seconds),
                log_format=cfg.service.log_format,
                log_level=cfg.service.log_level,
            )
        )
        self.processor = Processor(
            self.store,
            slot=self.slot,
            isolator=isolator,
            recipients=self.recipients,
            inputs=self.inputs,
            renderers=self.renderers,
            parse_limits=limits,
            max_file_bytes=cfg.limits.max_file_bytes,
            retention=cfg.retention.on_success,
            keepalive=self.heartbeat.alive,
            # The task the pipeline runs, for formats that need it (fhir); a stand-in pipeline may have none.
            render_context=RenderContext(task=getattr(pipeline, "task", None)),
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

    def _describe(self, pipeline: PipelineLike) -> None:
        try:
            self.status.models = pipeline.describe()
        except Exception as e:  # describe() is informational only
            event(log, logging.WARNING, "describe_failed", **exception_fields(e))

    def run(self, install_signals: bool = True) -> int:
        """Start, loop until stopped, shut down. Returns the exit status (0; 75 after SIGHUP);
        ``ApplianceError`` from ``start`` is logged (``start_failed``) and raised."""
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, self.request_stop)
        try:
            try:
                self.start()
            except ApplianceError as e:  # refused: recipients, folders, bundles, task (the CLI prints why)
                event(log, logging.ERROR, "start_failed", error=e.__class__.__name__)
                raise
            self.heartbeat.start()
            if self.processor is not None:
                self.loop()
        except ColdStop:
            event(log, logging.WARNING, "stopped_cold", current=self.status.current)
        finally:
            self._shut_down()
        return self._exit_code

    def _shut_down(self) -> None:
        """Stop the threads and the watcher, close the models, write the final status, let the lock go.
        A daemon refused at start (another one holds the folders) touches nothing of the other's."""
        self.intake.stop()
        if not self.instance.held:
            return
        self.heartbeat.stop()
        if self.slot is not None:
            try:
                self.slot.close()
            except Exception as e:  # pragma: no cover
                event(log, logging.WARNING, "close_failed", **exception_fields(e))
        try:
            self.status.current = None
            self.reporter.set_state("stopped")
        except OSError:  # pragma: no cover
            pass
        event(log, logging.INFO, "stopped", processed=self.status.processed, failed=self.status.failed)
        self.instance.release()

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
            pending = self.outcomes.pending.get(item.path)
            if pending is not None:  # its quarantine could not be written: only that is retried
                self.outcomes.quarantine(item, pending)
            else:
                self.outcomes.apply(item, self._process(item))  # 3. process it; 4. apply the outcome
        except ColdStop:
            raise
        except Exception as e:  # one bad file never stops the daemon
            self.outcomes.unexpected(item, e)
        finally:
            self.status.current = None
            self.reporter.changed()
        self.reporter.refresh()  # 5. report: status file and sd_notify
        return True

    def _process(self, item: WorkItem) -> Outcome:
        """The processor's two steps, with the `processing` (or `isolating`) event between them (before
        the slow part)."""
        assert self.processor is not None, "start() first"
        begun = self.processor.begin(item)
        if isinstance(begun, Isolate):
            rec = begun.record
            event(
                log,
                logging.WARNING,
                "isolating",
                file=item.label,
                attempt=rec.attempts,
                interrupted=rec.interrupted,
                crashes=rec.crashes,
                bytes=len(begun.raw),
            )
            return self.processor.finish_isolated(begun)
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
