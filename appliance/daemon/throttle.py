"""Rate-limited log lines for conditions that last (a full disk, an unwritable status file).

A condition that fails every few milliseconds must not write hundreds of identical lines: the first
failure is logged at once, then at most one line per ``interval`` seconds (default 300) with the
number held back since (``repeated``); when the condition ends, one ``<condition>_recovered`` line
says how many failures it had. Thread-safe: the status file is written from two threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..logfmt import event

log = logging.getLogger("appliance.daemon")

INTERVAL_SECONDS = 300.0


@dataclass
class _State:
    since: float  # first failure (clock seconds)
    logged_at: float  # last line written
    failures: int = 0
    held_back: int = 0


class Throttle:
    """One log line per condition per ``interval`` seconds (``clock``: monotonic seconds)."""

    def __init__(self, clock: Callable[[], float], interval: float = INTERVAL_SECONDS) -> None:
        self.clock = clock
        self.interval = interval
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def active(self, condition: str) -> bool:
        """True while ``condition`` has failures not yet followed by ``resolved``."""
        return condition in self._states

    def problem(self, condition: str, level: int, name: str, **fields: Any) -> bool:
        """A failure of ``condition``: log event ``name`` with ``fields`` if it is the first or the
        interval has passed since the last line (adding ``repeated``: failures held back meanwhile).
        Returns True if a line was written."""
        now = self.clock()
        with self._lock:
            st = self._states.get(condition)
            if st is None:
                st = self._states[condition] = _State(since=now, logged_at=now)
                write = True
            else:
                write = now - st.logged_at >= self.interval
            st.failures += 1
            if not write:
                st.held_back += 1
                return False
            if st.held_back:
                fields["repeated"] = st.held_back
            st.held_back = 0
            st.logged_at = now
        event(log, level, name, **fields)
        return True

    def resolved(self, condition: str, name: str | None = None, **fields: Any) -> None:
        """``condition`` works again: log ``name`` (default ``<condition>_recovered``) once, with the
        failures it had and how long it lasted."""
        with self._lock:
            st = self._states.pop(condition, None)
        if st is not None:
            event(
                log,
                logging.INFO,
                name or f"{condition}_recovered",
                failures=st.failures,
                seconds=round(self.clock() - st.since, 1),
                **fields,
            )
