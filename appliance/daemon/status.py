"""Status reporting: the status file (``appliance status``), sd_notify, and the heartbeat thread.

Counts, codes, times and model references only: never a document's text or a result. The status
file is informational: failing to write it is logged, never a reason to stop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from ..logfmt import event, exception_fields
from ..state import LastError, ServiceState, ServiceStatus, utcnow, write_status
from ..store import Store
from .throttle import Throttle

log = logging.getLogger("appliance.daemon")

Notify = Callable[[str], None]


class Notifier:
    """sd_notify, harmless without systemd (no ``NOTIFY_SOCKET``): ``notifier("READY=1")``."""

    def __init__(self) -> None:
        self._n = None
        if os.environ.get("NOTIFY_SOCKET"):
            try:
                import sdnotify

                self._n = sdnotify.SystemdNotifier()
            except Exception:  # pragma: no cover
                self._n = None

    def __call__(self, message: str) -> None:
        """Send one sd_notify ``message`` (e.g. ``READY=1``); a no-op without systemd, never raises."""
        if self._n is not None:
            try:
                self._n.notify(message)
            except Exception:  # pragma: no cover
                pass


class StatusReporter:
    """Owns the ``ServiceStatus`` (``status``) and writes it to ``<state>/status.json`` when changed.

    Thread-safe writes: the daemon's thread and the heartbeat thread both call ``write``. A failing
    write (a full disk) is logged through ``throttle``: once, then at most once per interval.
    """

    def __init__(
        self,
        store: Store,
        notify: Notify,
        *,
        config_path: Path | None,
        heartbeat_seconds: float,
        throttle: Throttle,
    ) -> None:
        self.store = store
        self.notify = notify
        self.throttle = throttle
        self.status = ServiceStatus(
            config=str(config_path) if config_path else None, heartbeat_seconds=heartbeat_seconds
        )
        self._lock = threading.Lock()
        self._dirty = True

    def changed(self) -> None:
        """Something in ``status`` changed: write it at the next ``refresh``."""
        self._dirty = True

    def record_error(self, code: str, name: str | None) -> None:
        """Remember the last error: its reason code and the input's name (an id, not content)."""
        self.status.last_error = LastError(code=str(code), at=utcnow(), input=name)
        self._dirty = True

    def set_state(self, state: ServiceState) -> None:
        """Change the service state and write the status file now."""
        self.status.state = state
        self._dirty = True
        self.write()

    def write(self) -> None:
        """Refresh the queue counts and write the status file (errors are logged, not raised)."""
        with self._lock:
            try:
                counts = self.store.counts(ledger=False)
                self.status.queue_inbox = counts["inbox"]
                self.status.queue_work = counts["work"]
            except OSError:
                pass
            try:
                write_status(self.store.state, self.status)
                self._dirty = False
            except Exception as e:  # the status file is informational: never a reason to stop
                self.throttle.problem(
                    "status_write", logging.ERROR, "status_write_failed", **exception_fields(e)
                )
                return
        self.throttle.resolved("status_write")

    def refresh(self) -> None:
        """Write the status file and send a ``STATUS=`` line, if anything changed since the last write."""
        if self._dirty:
            self.write()
            self.notify_status()

    def notify_status(self) -> None:
        """``STATUS=<state>: processed=N failed=N queue=N last_error=<code or ->`` to systemd."""
        s = self.status
        self.notify(
            f"STATUS={s.state}: processed={s.processed} failed={s.failed} "
            f"queue={s.queue_inbox + s.queue_work} last_error={s.last_error.code if s.last_error else '-'}"
        )


class Heartbeat:
    """A thread that sends ``WATCHDOG=1`` and rewrites the status file every ``interval`` seconds
    (at most a third of systemd's ``WATCHDOG_USEC``) while the work loop makes progress.

    When the loop has not called ``alive`` for ``max_file_seconds`` (one input hangs), it logs
    ``stuck`` and stops the keep-alives, so systemd's watchdog restarts the service.
    """

    def __init__(
        self,
        reporter: StatusReporter,
        *,
        clock: Callable[[], float],
        interval: float,
        max_file_seconds: float,
    ) -> None:
        self.reporter = reporter
        self.clock = clock
        self.interval = interval
        self.max_file_seconds = max_file_seconds
        self._alive_at = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def alive(self) -> None:
        """The work loop made progress (called once per loop turn)."""
        self._alive_at = self.clock()

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (it is a daemon thread: not joined)."""
        self._stop.set()

    def _run(self) -> None:
        interval = self.interval
        usec = os.environ.get("WATCHDOG_USEC")
        if usec and usec.isdigit():
            interval = min(interval, int(usec) / 1e6 / 3)
        while not self._stop.wait(interval):
            stuck = self.clock() - self._alive_at > self.max_file_seconds
            if stuck:
                event(
                    log,
                    logging.ERROR,
                    "stuck",
                    current=self.reporter.status.current,
                    seconds=round(self.clock() - self._alive_at, 1),
                )
                continue  # no keep-alive: systemd's watchdog restarts us
            self.reporter.notify("WATCHDOG=1")
            self.reporter.write()
