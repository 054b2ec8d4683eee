"""Intake: from watcher events and scans to the next claimed input, in order, nothing queued twice.

Sources, in the order ``next_item`` serves them:

1. retries whose time has come (the earliest first);
2. items left in ``work/`` by a crash or a cold stop (``recover``), oldest claim first;
3. inbox files the ``StabilityTracker`` judged complete (a close or rename event, or a settled size
   and mtime), claimed by an atomic rename into ``work/``.

The watchdog thread only puts ``(kind, path)`` on ``events``; everything else runs on the daemon's
thread. A periodic ``rescan`` catches what inotify missed (paperless-ngx's consumer does the same).
"""

from __future__ import annotations

import logging
import queue
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ..config import WatchConfig
from ..errors import InputError
from ..logfmt import event, exception_fields
from ..reader import check_name_length, display_name
from ..store import Store, WorkItem
from ..watcher import CHANGED, CLOSED, CREATED, GONE, MOVED_IN, InboxWatcher, StabilityTracker

log = logging.getLogger("appliance.daemon")

#: Called with an inbox file whose name is too long to claim, and the ``bad_name`` refusal.
Unclaimable = Callable[[Path, InputError], None]


class Intake:
    """The queue of inputs to process. ``clock``: monotonic seconds (injectable for tests)."""

    def __init__(
        self, store: Store, watch: WatchConfig, *, clock: Callable[[], float], on_unclaimable: Unclaimable
    ) -> None:
        self.store = store
        self.clock = clock
        self.on_unclaimable = on_unclaimable
        self.events: queue.Queue[tuple[str, Path]] = queue.Queue()
        self.tracker = StabilityTracker(
            watch.settle_seconds, clock=clock, write_settle_seconds=watch.write_settle_seconds
        )
        self.watcher = InboxWatcher(store.inbox, self.events)
        self._ready: deque[Path] = deque()  # inbox files judged complete, in order
        self._queued: set[Path] = set()  # nothing is queued twice
        self._work: deque[WorkItem] = deque()  # recovered items, before new ones
        self._retry: dict[Path, tuple[float, WorkItem]] = {}  # work file → (due time, item)

    # ------------------------------------------------------------------------------------ sources

    def recover(self) -> int:
        """Queue everything left in ``work/`` (before any new input) and drop stale attempt counters.
        Returns how many items were recovered."""
        self._work.extend(self.store.work_items())
        self.store.prune_attempts(list(self._work))
        return len(self._work)

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

    def pending(self) -> int:
        """Recovered items plus inbox files being tracked (the `ready` event's ``queue``)."""
        return len(self._work) + len(self.tracker)

    def next_item(self) -> WorkItem | None:
        """The next input to process (see the module's order), claimed; None if there is none now.

        An inbox name too long to claim goes to ``on_unclaimable``; a claim that fails with an
        ``OSError`` is logged (``claim_failed``) and the file stays in the inbox for a later scan.
        """
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
            try:
                check_name_length(path.name)
            except InputError as e:
                self.on_unclaimable(path, e)
                continue
            try:
                item = self.store.claim(path)
            except OSError as e:
                event(log, logging.ERROR, "claim_failed", file=display_name(path.name), **exception_fields(e))
                continue
            if item is not None:
                event(log, logging.DEBUG, "claimed", file=item.label, claim=item.claim)
                return item
        return None
