"""The reviewer's folder: the only place decrypted text and labels are written.

::

    FOLDER/                 mode 0700; refused when others may read it
      review.json           settings: audit salt and rate, the warning rule (edit to change)
      labels.log            every label as given: append-only JSON lines, fsync'ed (no text)
      labelled.jsonl        the reviewed calls with their text, in the labelled format (evaluate, finetune)
      report/               ``appliance review report`` output (figures only, no text)
      .lock                 held while a review server runs on the folder

Every file is created with mode 0600; whole-file writes go through a temporary file in the folder
itself, fsync and rename (``appliance.durable.durable_write``).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ApplianceError
from ..durable import durable_write

SETTINGS_FILE = "review.json"
LOG_FILE = "labels.log"
DATASET_FILE = "labelled.jsonl"
REPORT_DIR = "report"
LOCK_FILE = ".lock"
SETTINGS_FORMAT = "appliance-review/1"
WarnMetric = Literal["macro_f1", "mcc", "sensitivity", "specificity"]


class WorkspaceError(ApplianceError):
    """The review folder cannot be used (permissions, a second server, damaged settings)."""


class WarnRule(BaseModel):
    """When the report warns about a feature: its ``metric`` (appliance vs reviewers, missing values
    scored False) is below ``below`` on at least ``min_reviews`` reviewed calls."""

    model_config = ConfigDict(extra="forbid")

    metric: WarnMetric = "macro_f1"
    below: float = Field(default=0.7, ge=-1, le=1)
    min_reviews: int = Field(default=20, ge=1)


class ReviewSettings(BaseModel):
    """``review.json``: ``salt`` (random, fixes the audit sample), ``audit_rate`` (share of all results in
    the audit sample), ``warn`` (the clinic's threshold), ``created``."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["appliance-review/1"] = SETTINGS_FORMAT
    salt: str = Field(default_factory=lambda: secrets.token_hex(16), min_length=8)
    audit_rate: float = Field(default=0.1, ge=0, le=1)
    warn: WarnRule = Field(default_factory=WarnRule)
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


class Workspace:
    """An opened review folder (see the module docstring). Build it with :meth:`open`."""

    def __init__(self, folder: Path, settings: ReviewSettings) -> None:
        self.folder = folder
        self.settings = settings
        self._lock_fd: int | None = None

    @property
    def log_path(self) -> Path:
        """The label log."""
        return self.folder / LOG_FILE

    @property
    def dataset_path(self) -> Path:
        """The compacted labelled JSONL."""
        return self.folder / DATASET_FILE

    @property
    def report_dir(self) -> Path:
        """Where ``appliance review report`` writes by default."""
        return self.folder / REPORT_DIR

    @classmethod
    def open(cls, folder: Path, *, create: bool = True, lock: bool = False) -> Workspace:
        """Open ``folder``, creating it (mode 0700) and ``review.json`` when ``create``. With ``lock``, take
        the folder's lock (see :meth:`lock`) before anything in it is read or written, so a second server
        refused on a folder in use changes nothing there.

        Raises WorkspaceError when the folder is missing (and not ``create``), is not a folder, may be
        read or entered by others (mode & 0o077), is locked by another process (``lock``), or
        ``review.json`` is damaged.
        """
        folder = Path(folder)
        if not folder.exists():
            if not create:
                raise WorkspaceError(f"review folder not found: {folder}")
            folder.mkdir(mode=0o700, parents=True)
            os.chmod(folder, 0o700)
        if not folder.is_dir():
            raise WorkspaceError(f"{folder} is not a folder")
        mode = stat.S_IMODE(folder.stat().st_mode)
        if mode & 0o077:
            raise WorkspaceError(
                f"review folder {folder} has mode {mode:04o}: others could read the decrypted transcripts and "
                f"labels; run `chmod 700 {folder}` (or choose a new folder)"
            )
        ws = cls(folder, ReviewSettings())
        if lock:
            ws.lock()
        try:
            ws.settings = ws._load_settings(create)
        except BaseException:
            ws.unlock()
            raise
        return ws

    def _load_settings(self, create: bool) -> ReviewSettings:
        folder = self.folder
        path = folder / SETTINGS_FILE
        if path.exists():
            try:
                settings = ReviewSettings.model_validate_json(path.read_bytes())
            except ValidationError as e:
                first = e.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "(file)"
                raise WorkspaceError(f"{path}: {where}: {first['msg']}") from None
        elif create:
            settings = ReviewSettings()
            durable_write(path, settings.model_dump_json(indent=2).encode() + b"\n", 0o600)
        else:
            raise WorkspaceError(f"{folder} is not a review folder (no {SETTINGS_FILE})")
        return settings

    def update_settings(self, **changes: object) -> ReviewSettings:
        """Change settings (``audit_rate``, ``warn``) and write ``review.json`` durably; returns them.

        Raises pydantic ValidationError for values out of range.
        """
        data = json.loads(self.settings.model_dump_json())
        for k, v in changes.items():
            data[k] = v.model_dump() if isinstance(v, BaseModel) else v
        self.settings = ReviewSettings.model_validate(data)
        durable_write(self.folder / SETTINGS_FILE, self.settings.model_dump_json(indent=2).encode() + b"\n", 0o600)
        return self.settings

    def lock(self) -> None:
        """Hold the folder's lock until :meth:`unlock` or the process ends (one server per folder).

        Raises WorkspaceError when another process holds it.
        """
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WorkspaceError(
                f"another review session is using {self.folder}; close it first (one server per folder)"
            ) from None
        self._lock_fd = fd

    def unlock(self) -> None:
        """Release the lock taken by :meth:`lock` (no-op when not held)."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
