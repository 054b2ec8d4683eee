"""Deciding when a dropped file is complete, and watching the inbox.

Three signals, strongest first:

1. the writer *closed* the file after writing (inotify ``IN_CLOSE_WRITE`` → watchdog ``FileClosedEvent``);
2. the file was *renamed* into the inbox (``FileMovedEvent``) — the classic "write a temp name, rename";
3. fallback for writers that do neither in a way we can see (network shares, files present at
   start-up, missed events): the ``StabilityTracker`` takes a file once its size and mtime have not
   changed for ``settle_seconds`` (paperless-ngx's consumer does the same), on an injectable clock.

The watcher only *reports* names; the daemon's single loop decides and does the work, so watchdog's
thread never touches a file.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .reader import is_ignored

log = logging.getLogger("appliance.watcher")

Clock = Callable[[], float]
Stat = Callable[[Path], os.stat_result]


@dataclass
class _Seen:
    signature: tuple[int, int] | None
    since: float
    settle: float


class StabilityTracker:
    """Pure bookkeeping: which tracked files have been unchanged long enough.

    A file found by a scan settles after ``settle_seconds``. A file that inotify saw being written
    (``touch(written=True)``) is expected to be *closed* (``complete``) — the kernel reports the close
    even when the writer crashes — so it only falls back to settling after the longer
    ``write_settle_seconds``: a slow writer that pauses is not taken half-written.
    """

    def __init__(
        self,
        settle_seconds: float,
        clock: Clock = time.monotonic,
        stat: Stat = os.lstat,  # a symbolic link is tracked as itself, never followed
        write_settle_seconds: float | None = None,
    ) -> None:
        self.settle = settle_seconds
        self.write_settle = max(
            settle_seconds, write_settle_seconds if write_settle_seconds is not None else 0.0
        )
        self.clock = clock
        self.stat = stat
        self._files: dict[Path, _Seen] = {}
        self._ready: dict[Path, None] = {}  # ordered set

    def __contains__(self, path: Path) -> bool:
        return path in self._files or path in self._ready

    def __len__(self) -> int:
        return len(self._files) + len(self._ready)

    def _signature(self, path: Path) -> tuple[int, int] | None:
        try:
            st = self.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return (st.st_size, st.st_mtime_ns)

    def observe(self, path: Path) -> None:
        """Seen in a scan: start tracking if new (an already tracked file keeps its timer)."""
        if path not in self._files and path not in self._ready:
            self._files[path] = _Seen(self._signature(path), self.clock(), self.settle)

    def touch(self, path: Path, written: bool = True) -> None:
        """An event says it changed: (re)start its timer. A file already declared complete stays so."""
        if path in self._ready:
            return
        settle = self.write_settle if written else self.settle
        self._files[path] = _Seen(self._signature(path), self.clock(), settle)

    def complete(self, path: Path) -> None:
        """Closed after writing, or renamed in: ready without waiting — unless it is empty: writers that
        create a file first and write it later close it empty once, so an empty file is given
        ``write_settle_seconds`` for its content (as any empty file is, see ``poll``)."""
        sig = self._signature(path)
        if sig is not None and sig[0] == 0:
            self.touch(path, written=True)
            return
        self._files.pop(path, None)
        self._ready[path] = None

    def forget(self, path: Path) -> None:
        """Gone (deleted or moved out): stop tracking it."""
        self._files.pop(path, None)
        self._ready.pop(path, None)

    def poll(self) -> list[Path]:
        """Files now ready (removed from tracking), in the order they became ready."""
        now = self.clock()
        out = list(self._ready)
        self._ready.clear()
        for path, seen in list(self._files.items()):
            sig = self._signature(path)
            if sig is None:
                del self._files[path]
                continue
            if sig != seen.signature:
                seen.signature, seen.since = sig, now
                continue
            # An empty file is usually one whose writer has not written yet: give it the longer wait.
            settle = self.write_settle if sig[0] == 0 else seen.settle
            if now - seen.since >= settle:
                del self._files[path]
                out.append(path)
        return out


# Event kinds the daemon understands.
CLOSED, MOVED_IN, CREATED, CHANGED, GONE = "closed", "moved_in", "created", "changed", "gone"


class InboxWatcher:
    """watchdog observer on the inbox (not recursive) that puts ``(kind, path)`` on a queue."""

    def __init__(self, inbox: Path, events: queue.Queue[tuple[str, Path]]) -> None:
        self.inbox = Path(os.path.abspath(inbox))
        self.events = events
        self._observer = None

    def start(self) -> bool:
        """Start watching. False (and a warning) if inotify is unavailable: rescans still find files."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover
            log.warning("event=watch_unavailable reason=no_watchdog")
            return False
        try:
            # Full events: a file renamed in from *outside* the inbox is reported as a move (not as a
            # creation), so it is taken at once rather than after the write-settle fallback.
            from watchdog.observers.inotify import InotifyObserver

            def make_observer():
                return InotifyObserver(generate_full_events=True)
        except ImportError:  # pragma: no cover - not Linux
            make_observer = Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def dispatch(self, event) -> None:
                try:
                    watcher._on_event(event)
                except Exception as e:  # never let the observer thread die
                    log.warning("event=watch_error error=%s", e.__class__.__name__)

        try:
            observer = make_observer()
            observer.schedule(Handler(), str(self.inbox), recursive=False)
            observer.daemon = True
            observer.start()
        except OSError as e:  # e.g. inotify watch or instance limit reached
            log.warning("event=watch_unavailable error=%s errno=%s", e.__class__.__name__, e.errno)
            return False
        self._observer = observer
        return True

    def _in_inbox(self, path: str) -> Path | None:
        if not path:
            return None
        p = Path(path)
        if Path(os.path.abspath(p.parent)) != self.inbox or is_ignored(p.name):
            return None
        return p

    def _on_event(self, event) -> None:
        if event.is_directory:
            return
        kind = event.event_type  # "created", "modified", "closed", "closed_no_write", "moved", "deleted", ...
        if kind == "moved":
            src = self._in_inbox(event.src_path)
            dest = self._in_inbox(event.dest_path)
            if src is not None:
                self.events.put((GONE, src))
            if dest is not None:
                self.events.put((MOVED_IN, dest))
            return
        path = self._in_inbox(event.src_path)
        if path is None:
            return
        if kind == "closed":
            self.events.put((CLOSED, path))
        elif kind == "created":
            self.events.put((CREATED, path))
        elif kind == "modified":
            self.events.put((CHANGED, path))
        elif kind == "deleted":
            self.events.put((GONE, path))

    def stop(self) -> None:
        """Stop the observer thread (waits up to 5 s for it)."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
