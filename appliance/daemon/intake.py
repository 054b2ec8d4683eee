"""Intake: from watcher events and scans to the next claimed input, in order, nothing queued twice.

Sources, in the order ``next_item`` serves them:

1. retries whose time has come (the earliest first);
2. taking turns, starting with a new one: inbox files the ``StabilityTracker`` judged complete (a
   close or rename event, or a settled size and mtime), claimed by an atomic rename into ``work/``;
   and items left in ``work/`` by a crash or a cold stop (``recover``), the least often interrupted
   first. So a recovered input is not in the line of fire at every start: the one in flight at a
   kill goes behind the others and behind new work. Right after a start, recovered items wait while
   inbox files found by the first scan settle (at most twice ``watch.settle_seconds``), so that a new
   input goes first.

While a storage failure lasts (``hold``) nothing new is claimed and no recovered item is served:
only due retries run, the first of which probes whether the disk works again. A claim that fails
(the work folder cannot be written) holds the queue the same way.

The watchdog thread only puts ``(kind, path)`` on ``events``; everything else runs on the daemon's
thread. A periodic ``rescan`` catches what inotify missed (paperless-ngx's consumer does the same).
"""

from __future__ import annotations

import logging
import queue
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ..config import RetriesConfig, WatchConfig
from ..logfmt import event, exception_fields
from ..reader import display_name
from ..store import Store, WorkItem
from ..watcher import CHANGED, CLOSED, CREATED, GONE, MOVED_IN, InboxWatcher, StabilityTracker
from .throttle import Throttle

log = logging.getLogger("appliance.daemon")


class Intake:
    """The queue of inputs to process. ``clock``: monotonic seconds (injectable for tests);
    ``throttle`` rate-limits the ``claim_failed`` line; ``retries`` paces claims while they fail."""

    def __init__(
        self,
        store: Store,
        watch: WatchConfig,
        *,
        clock: Callable[[], float],
        throttle: Throttle,
        retries: RetriesConfig,
    ) -> None:
        self.store = store
        self.clock = clock
        self.throttle = throttle
        self.retries = retries
        self.events: queue.Queue[tuple[str, Path]] = queue.Queue()
        self.tracker = StabilityTracker(
            watch.settle_seconds, clock=clock, write_settle_seconds=watch.write_settle_seconds
        )
        self.watcher = InboxWatcher(store.inbox, self.events)
        self._ready: deque[Path] = deque()  # inbox files judged complete, in order
        self._queued: set[Path] = set()  # nothing is queued twice
        self._work: deque[WorkItem] = deque()  # recovered items, taking turns with new ones
        self._retry: dict[Path, tuple[float, WorkItem]] = {}  # work file → (due time, item)
        self._last_new = False  # the last item served was a new one (the next recovered one goes first)
        self._hold_until: float | None = None  # storage failure: claim nothing new before then
        self._claim_failures = 0
        self.settle_seconds = watch.settle_seconds
        self._recovered_from = 0.0  # recovered items wait until then while inbox files are settling

    # ------------------------------------------------------------------------------------ sources

    def recover(self) -> int:
        """Queue everything left in ``work/``, the least often interrupted first (then by claim), and
        drop stale attempt records. Returns how many items were recovered."""
        items = self.store.work_items()
        self.store.prune_attempts(items)
        ranked = sorted(items, key=lambda i: (self.store.attempt_record(i).interrupted, i.claim))
        self._work.extend(ranked)
        self._recovered_from = self.clock() + 2 * self.settle_seconds
        return len(ranked)

    def watch(self) -> bool:
        """Start the inotify watcher; False if unavailable (rescans still find files)."""
        return self.watcher.start()

    def stop(self) -> None:
        """Stop the watcher thread (if started)."""
        self.watcher.stop()

    def rescan(self) -> None:
        """Track every inbox entry not yet queued (a scan failure is logged, never raised)."""
        try:
            for path in self.store.inbox_candidates(include_special=True):
                if path not in self._queued:
                    self.tracker.observe(path)
        except OSError as e:
            event(log, logging.ERROR, "scan_failed", **exception_fields(e))

    def take_in(self) -> None:
        """Take in pending events without waiting, then queue the files the tracker judges complete."""
        self.wait_for_events(timeout=0)
        for path in self.tracker.poll():
            if path not in self._queued:
                self._queued.add(path)
                self._ready.append(path)

    def wait_for_events(self, timeout: float) -> None:
        """Feed watcher events to the tracker, waiting up to ``timeout`` seconds for the first one
        (0: no wait)."""
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

    # ------------------------------------------------------------------------------------ the queue

    def schedule_retry(self, item: WorkItem, delay: float) -> None:
        """Serve ``item`` again once ``delay`` seconds have passed."""
        self._retry[item.path] = (self.clock() + delay, item)

    def hold(self, delay: float) -> None:
        """A storage failure: claim nothing new and serve no recovered item for ``delay`` seconds, or
        until ``release``."""
        self._hold_until = self.clock() + delay

    def release(self) -> None:
        """Storage works again: end the hold."""
        self._hold_until = None
        self._claim_failures = 0

    @property
    def held(self) -> bool:
        """True while a hold is in force."""
        return self._hold_until is not None and self.clock() < self._hold_until

    def pending(self) -> int:
        """Recovered items plus inbox files being tracked (the `ready` event's ``queue``)."""
        return len(self._work) + len(self.tracker)

    def next_item(self) -> WorkItem | None:
        """The next input to process (see the module's order), claimed; None if there is none now.

        A claim that fails with an ``OSError`` is logged (``claim_failed``, rate-limited), holds the
        queue with backoff, and leaves the file in the inbox for a later try.
        """
        now = self.clock()
        if self._retry:
            path, (due, item) = min(self._retry.items(), key=lambda kv: kv[1][0])
            if due <= now:
                del self._retry[path]
                return item
        if self.held:
            return None
        order = (self._recovered, self._new) if self._last_new else (self._new, self._recovered)
        for take in order:
            got = take()
            if got is not None:
                self._last_new = take == self._new
                return got
        return None

    def _recovered(self) -> WorkItem | None:
        if not self._work or (self.clock() < self._recovered_from and len(self.tracker)):
            return None
        return self._work.popleft()

    def _new(self) -> WorkItem | None:
        while self._ready:
            path = self._ready.popleft()
            self._queued.discard(path)
            try:
                item = self.store.claim(path)
            except OSError as e:
                self._claim_failures += 1
                self.hold(self.retries.delay(self._claim_failures))
                self.throttle.problem(
                    "claim",
                    logging.ERROR,
                    "claim_failed",
                    file=display_name(path.name),
                    **exception_fields(e),
                )
                self._ready.appendleft(path)  # (still in the inbox: claimed once the hold ends)
                self._queued.add(path)
                return None
            if self._claim_failures:
                self.release()
            self.throttle.resolved("claim")
            if item is not None:
                event(log, logging.DEBUG, "claimed", file=item.label, claim=item.claim)
                return item
        return None
