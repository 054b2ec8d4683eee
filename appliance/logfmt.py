"""Structured logs for journald: one JSON object (or ``key=value`` line) per event, on stderr.

Only ids, hashes, codes, counts and timings are ever passed as fields. Exception *messages* are not
logged for unexpected exceptions (they may quote data): the class and the code location are.
"""

from __future__ import annotations

import errno
import json
import logging
import sys
import traceback
from datetime import datetime, timezone
from typing import Any, TextIO

_RESERVED = set(vars(logging.makeLogRecord({})))


def event(logger: logging.Logger, level: int, name: str, **fields: Any) -> None:
    """Log ``name`` with structured ``fields`` (ids, hashes, codes, numbers only)."""
    logger.log(level, name, extra={"fields": fields})


def exception_fields(exc: BaseException) -> dict[str, Any]:
    """Class and innermost code location of an exception, without its message."""
    fields: dict[str, Any] = {"error": exc.__class__.__name__}
    if isinstance(exc, OSError) and exc.errno:  # the code, not the message (it names the file)
        fields["errno"] = errno.errorcode.get(exc.errno, exc.errno)
    tb = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if tb:
        last = tb[-1]
        module = last.filename.rsplit("/", 2)
        fields["where"] = f"{'/'.join(module[-2:])}:{last.lineno}:{last.name}"
    return fields


class _Formatter(logging.Formatter):
    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.fmt = fmt

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}) or {})
        if record.exc_info and record.exc_info[1] is not None:
            data.update(exception_fields(record.exc_info[1]))
        if self.fmt == "json":
            return json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
        return " ".join(f"{k}={_kv(v)}" for k, v in data.items())


def _kv(value: Any) -> str:
    s = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    if s == "" or any(c in s for c in ' "=\n\t'):
        return json.dumps(s, ensure_ascii=False)
    return s


def setup_logging(fmt: str = "json", level: str = "info", stream: TextIO | None = None) -> None:
    """Route every logger to ``stream`` (default stderr, which journald stores) as ``fmt`` lines:
    ``json`` (one object per event) or ``text`` (``key=value``); ``level``: debug, info, warning, error."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_Formatter(fmt))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    # Third-party chatter (watchdog logs every inotify event at debug) stays out unless asked for.
    logging.getLogger("watchdog").setLevel(max(logging.INFO, root.level))
