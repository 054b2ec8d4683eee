"""The label log: every label as it is given, appended and fsync'ed before the page is told it is saved.

One JSON object per line (``v`` = 1), no text of any transcript:

* ``{"event": "item", "key", "input_id", "input_sha256", "language", "created", "task", "model",
  "models", "audit", "features": {key: {value, status, reason, confidence, score, threshold}}}`` — the
  appliance's decisions, recorded once per result before its first label, so agreement can be measured
  later without the results or the identity;
* ``{"event": "label", "key", "feature", "choice"}`` — one choice: ``present``, ``absent``,
  ``not_mentioned``, or ``null`` (cleared);
* ``{"event": "done", "key", "labels": {feature: choice}, "seconds"}`` — the reviewer finished the call
  (``seconds`` on the page, when known).

Each line also has ``at`` (UTC, ISO 8601) and ``reviewer``. Replaying the log gives the current state:
the last choice per (call, feature) wins. A torn last line (power cut mid-write) is skipped and counted;
the next append starts on a fresh line, so nothing already written is ever rewritten.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from ..durable import fsync_dir

Choice = Literal["present", "absent", "not_mentioned"]
CHOICES: tuple[str, ...] = ("present", "absent", "not_mentioned")
LOG_VERSION = 1


class LabelError(ValueError):
    """A label that cannot be recorded (unknown choice, call or feature); names them, never text."""


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds (``2026-01-02T03:04:05.678+00:00``)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class ItemState:
    """What the log says about one call: the appliance's decisions (``snapshot``, the item event, or
    None), the current ``labels`` (feature → choice), who gave each and when (``given``: feature →
    (reviewer, at)), and completion (``done_at``, ``done_by``, ``seconds``)."""

    key: str
    snapshot: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    given: dict[str, tuple[str, str]] = field(default_factory=dict)
    done_at: str | None = None
    done_by: str | None = None
    seconds: float | None = None

    @property
    def done(self) -> bool:
        """Whether the reviewer finished this call."""
        return self.done_at is not None


class LabelStore:
    """The label log at ``path`` (created with mode 0600), replayed into ``items`` (key → ItemState).

    ``skipped_lines`` counts lines that could not be read (a torn last line). Thread-safe. Raises OSError
    when the file cannot be read or written.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.items: dict[str, ItemState] = {}
        self.skipped_lines = 0
        self._lock = threading.Lock()
        self._replay()

    def _replay(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
                self._apply(ev)
            except (ValueError, KeyError, TypeError, AttributeError):
                self.skipped_lines += 1
        if data and not data.endswith(b"\n"):
            self._append_raw(b"\n")

    def _apply(self, ev: dict[str, Any]) -> None:
        kind, key = ev["event"], ev["key"]
        st = self.items.setdefault(key, ItemState(key))
        if kind == "item":
            st.snapshot = ev
        elif kind == "label":
            choice, feature = ev["choice"], ev["feature"]
            if choice is None:
                st.labels.pop(feature, None)
                st.given.pop(feature, None)
            elif choice in CHOICES:
                st.labels[feature] = choice
                st.given[feature] = (ev.get("reviewer", ""), ev.get("at", ""))
            else:
                raise ValueError("unknown choice")
        elif kind == "done":
            for feature, choice in ev["labels"].items():
                if choice in CHOICES:
                    st.labels[feature] = choice
                    st.given[feature] = (ev.get("reviewer", ""), ev.get("at", ""))
            st.done_at, st.done_by, st.seconds = ev["at"], ev.get("reviewer"), ev.get("seconds")
        else:
            raise ValueError("unknown event")

    def _append_raw(self, data: bytes) -> None:
        new = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            fsync_dir(self.path.parent)

    def _append(self, ev: dict[str, Any]) -> dict[str, Any]:
        ev = {"v": LOG_VERSION, "at": now_iso(), **ev}
        line = json.dumps(ev, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
        self._append_raw(line)  # durable first, then the state
        self._apply(ev)
        return ev

    def record_item(self, key: str, snapshot: dict[str, Any], reviewer: str) -> None:
        """Record the appliance's decisions for ``key`` (fields as in the module docstring), once."""
        with self._lock:
            st = self.items.get(key)
            if st is not None and st.snapshot is not None:
                return
            self._append({"event": "item", "key": key, "reviewer": reviewer, **snapshot})

    def set_label(self, key: str, feature: str, choice: str | None, reviewer: str) -> ItemState:
        """Record one choice (None clears it); returns the call's state. LabelError for an unknown choice."""
        if choice is not None and choice not in CHOICES:
            raise LabelError(f"unknown choice {choice!r}: one of {', '.join(CHOICES)}")
        with self._lock:
            self._append({"event": "label", "key": key, "feature": feature, "choice": choice,
                          "reviewer": reviewer})
            return self.items[key]

    def complete(self, key: str, labels: dict[str, str], reviewer: str, seconds: float | None = None) -> ItemState:
        """Record that ``reviewer`` finished ``key`` with these choices (one per feature) and the
        ``seconds`` spent on the page (kept when finite and not negative, else None); returns the state.
        LabelError for an unknown choice."""
        bad = sorted(f for f, c in labels.items() if c not in CHOICES)
        if bad:
            raise LabelError(f"unknown choice for {', '.join(bad)}: one of {', '.join(CHOICES)}")
        secs = (round(float(seconds), 1) if isinstance(seconds, (int, float)) and math.isfinite(seconds)
                and seconds >= 0 else None)  # Infinity/NaN would make the line non-standard JSON
        with self._lock:
            self._append({"event": "done", "key": key, "labels": dict(labels), "reviewer": reviewer,
                          "seconds": secs})
            return self.items[key]

    def done_items(self) -> list[ItemState]:
        """Finished calls with their decisions recorded, in key order."""
        with self._lock:
            return [st for _, st in sorted(self.items.items()) if st.done and st.snapshot is not None]
