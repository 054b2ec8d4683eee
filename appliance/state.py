"""The daemon's status file (``<state>/status.json``), written atomically; read by ``appliance status``.

Counts, codes, times and model references only: never a document's text or a result.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import __version__
from .durable import durable_write

STATUS_NAME = "status.json"
ServiceState = Literal["starting", "ready", "stopping", "stopped"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class LastError(BaseModel):
    """The most recent failure or retry: its code (``appliance.reasons.Reason``), when, and which input."""

    model_config = ConfigDict(extra="forbid")

    code: str
    at: datetime
    input: str | None = Field(default=None, description="Result key or file name (an id, not content).")


class ServiceStatus(BaseModel):
    """``<state>/status.json``: the daemon's state, counts since its start, queue sizes, current input,
    last success and last error, and its models. Rewritten every ``heartbeat_seconds`` (seconds)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    state: ServiceState = "starting"
    pid: int = Field(default_factory=os.getpid)
    version: str = __version__
    config: str | None = None
    started: datetime = Field(default_factory=utcnow)
    updated: datetime = Field(default_factory=utcnow)
    heartbeat_seconds: float = 5.0
    processed: int = 0
    failed: int = 0
    duplicates: int = 0
    retries: int = 0
    recovered: int = 0
    current: str | None = Field(default=None, description="Input being processed (file name).")
    last_success: datetime | None = None
    last_error: LastError | None = None
    queue_inbox: int = 0
    queue_work: int = 0
    models: dict[str, Any] = Field(
        default_factory=dict, description="Pipeline.describe(): task, prompt hash, models."
    )


def status_path(state_dir: Path) -> Path:
    """``<state_dir>/status.json``."""
    return Path(state_dir) / STATUS_NAME


def write_status(state_dir: Path, status: ServiceStatus) -> None:
    """Stamp ``updated`` and replace the status file atomically (mode 0640); fsynced only for the final
    ``stopped`` state (heartbeats may be lost in a power cut, never half-written). Raises ``OSError``."""
    status.updated = utcnow()
    data = status.model_dump_json(indent=2).encode() + b"\n"
    durable_write(status_path(state_dir), data, 0o640, sync=status.state == "stopped")


def read_status(state_dir: Path) -> ServiceStatus | None:
    """The status file's content, or None if it is missing, unreadable or not a valid status."""
    p = status_path(state_dir)
    try:
        return ServiceStatus.model_validate_json(p.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists (including one of another user, which we may not signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_running(status: ServiceStatus | None, now: datetime | None = None) -> bool:
    """Running = not marked stopped, its pid exists, and its heartbeat is recent."""
    if status is None or status.state == "stopped":
        return False
    now = now or utcnow()
    stale = (now - status.updated).total_seconds() > max(30.0, 6 * status.heartbeat_seconds)
    return pid_alive(status.pid) and not stale
