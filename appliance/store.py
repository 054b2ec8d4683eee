"""Folder lifecycle: claim, durable writes, idempotency, quarantine, recovery bookkeeping.

Invariants (what the daemon relies on):

* An input is in exactly one place: ``inbox/`` (waiting), ``work/`` (claimed; the only copy while it is
  processed), ``failed/`` (quarantined with an ``.error.json``) — or gone, and then its result exists.
* Results are written ``outbox/.tmp-*`` → fsync → ``os.replace`` → fsync(outbox), one file per
  configured output format (``<key><suffix>.age``), *before* the ledger entry and before the input
  leaves ``work/``. A crash at any point leaves either the input in ``work/`` (recovered at start) or
  every result in the outbox and the ledger (the input is then only cleaned up).
* The idempotency key is ``<id-slug>.<bytes_sha256[:16]>`` (the sha256 of the dropped bytes): the
  results' name and the ledger entry. An input is done when its ledger entry exists, or when *every*
  configured result file does. The ledger survives the integrator taking results out of the outbox.
* Nothing here reads or writes document text except the opaque bytes it is handed (already encrypted
  for the outbox and the archive).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import __version__
from .config import FOLDERS, PathsConfig
from .durable import TMP_PREFIX, durable_write, fsync_dir
from .errors import ApplianceError
from .reader import MAX_NAME_BYTES, display_name, is_ignored

AGE_SUFFIX = ".age"  # every file written to the outbox and the archive is age-encrypted
ERROR_SUFFIX = ".error.json"
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


class StoreError(ApplianceError):
    """A data folder is missing, unwritable, or on the wrong file system."""


@dataclass(frozen=True)
class WorkItem:
    """A claimed input: the only copy of it, in ``work/`` under ``<claim>~<name>``."""

    path: Path  # in work/
    name: str  # the name it had in the inbox
    claim: str  # unique claim id (sortable by claim time)

    @property
    def label(self) -> str:
        """The name as text for logs, status and sidecars (non-UTF-8 bytes shown as ``\\xNN``)."""
        return display_name(self.name)


class FailureRecord(BaseModel):
    """The ``.error.json`` sidecar of a quarantined input. Codes, classes, hashes: never content."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    input_name: str
    reason: str = Field(description="Stable reason code (see docs/integration.md).")
    detail: str | None = Field(
        default=None, description="Reader/validator explanation (positions and sizes only)."
    )
    exception: str | None = Field(default=None, description="Exception class, for unexpected failures.")
    attempts: int
    input_sha256: str | None = Field(
        default=None,
        description="sha256 (hex) of the input file's raw bytes as dropped, before any decoding; null when "
        "the file was refused without being read (too large, unreadable, not a regular file, bad name) or "
        "the failure came before it was read.",
    )
    input_bytes: int | None = Field(
        default=None, description="Size of the input file in bytes, where known; null for a non-regular file."
    )
    failed_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    app_version: str = __version__


def slug(doc_id: str, limit: int = 80) -> str:
    """A document id as a file-name part: runs of characters other than ``A-Za-z0-9._-`` become ``_``,
    leading/trailing ``._-`` are stripped, at most ``limit`` characters; ``input`` if nothing is left."""
    s = _SLUG.sub("_", doc_id).strip("._-")[:limit]
    return s or "input"


def result_key(doc_id: str, bytes_sha256: str) -> str:
    """The idempotency key ``<slug(id)>.<first 16 hex digits of the dropped bytes' sha256>``."""
    return f"{slug(doc_id)}.{bytes_sha256[:16]}"


class Store:
    """The data folders of one daemon (``[paths]``), and every move and write between them.

    ``result_suffixes``: the suffixes of the configured output formats (``".json"``), in order; an
    input's results are ``outbox/<key><suffix>.age`` for each. ``result_mode``: their permission bits.
    Raises ``OSError`` from the file system as it comes, except where a method says otherwise.
    """

    def __init__(
        self, paths: PathsConfig, *, result_mode: int = 0o640, result_suffixes: Sequence[str] = ()
    ) -> None:
        self.paths = paths
        self.inbox = paths.folder("inbox")
        self.work = paths.folder("work")
        self.outbox = paths.folder("outbox")
        self.failed = paths.folder("failed")
        self.archive_dir = paths.folder("archive")
        self.state = paths.folder("state")
        self.ledger = self.state / "ledger"
        self.attempts_dir = self.state / "attempts"
        self.result_mode = result_mode
        self.result_suffixes = tuple(result_suffixes)

    # ----------------------------------------------------------------------------------- set-up

    def prepare(self) -> None:
        """Create missing folders, check they are writable and that renames between them are atomic.
        Raises ``StoreError`` naming the ``paths.*`` key."""
        for name in FOLDERS:
            folder = self.paths.folder(name)
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"paths.{name}: cannot create {folder}: {e.strerror}") from None
            if not folder.is_dir():
                raise StoreError(f"paths.{name}: {folder} is not a folder")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise StoreError(f"paths.{name}: {folder} is not writable by this user")
        for sub in (self.ledger, self.attempts_dir):
            sub.mkdir(exist_ok=True)
        dev = self.work.stat().st_dev
        for name in ("inbox", "failed"):
            if self.paths.folder(name).stat().st_dev != dev:
                raise StoreError(
                    f"paths.{name} ({self.paths.folder(name)}) and paths.work ({self.work}) are on different "
                    "file systems: claims and quarantine are renames, which must be atomic"
                )
        self.remove_stale_temp()

    def remove_stale_temp(self) -> int:
        """Our own temp files left by a crash (never an integrator's: those live in the inbox)."""
        n = 0
        folders = [self.outbox, self.archive_dir, self.failed, self.state, self.ledger, self.attempts_dir]
        folders += [p for p in self.ledger.iterdir() if p.is_dir()] if self.ledger.is_dir() else []
        for folder in folders:
            for p in folder.glob(f"{TMP_PREFIX}*"):
                p.unlink(missing_ok=True)
                n += 1
        return n

    # ----------------------------------------------------------------------------------- inbox / work

    def inbox_candidates(self, include_special: bool = False) -> list[Path]:
        """Regular, non-hidden, non-temporary files in the inbox, oldest first.

        ``include_special`` adds every other non-hidden entry (symbolic links, folders, named pipes):
        the daemon takes those too, to set them aside with reason ``not_regular_file``.
        """
        out = []
        try:
            entries = list(os.scandir(self.inbox))
        except FileNotFoundError:
            return []
        for e in entries:
            if is_ignored(e.name):
                continue
            try:
                if not include_special and not e.is_file(follow_symlinks=False):
                    continue
                mtime = e.stat(follow_symlinks=False).st_mtime_ns
            except FileNotFoundError:
                continue
            out.append((mtime, e.name, Path(e.path)))
        return [p for _, _, p in sorted(out)]

    def claim(self, path: Path) -> WorkItem | None:
        """Atomically move an inbox file into work/. None if it is gone (someone else took it)."""
        claim = f"{time.time_ns():x}{secrets.token_hex(2)}"
        target = self.work / f"{claim}~{path.name}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        fsync_dir(self.work)
        return WorkItem(path=target, name=path.name, claim=claim)

    def work_items(self) -> list[WorkItem]:
        """Everything left in work/ (any kind of entry: a folder or link claimed before a crash is
        refused properly at the next start, not left behind)."""
        items = []
        for p in self.work.iterdir():
            if p.name.startswith("."):
                continue
            claim, sep, name = p.name.partition("~")
            if not sep:  # placed here by hand: give it a claim id so its attempts are counted
                claim, name = f"{time.time_ns():x}{secrets.token_hex(2)}", p.name
                target = self.work / f"{claim}~{name}"
                os.rename(p, target)
                p = target
            items.append(WorkItem(path=p, name=name, claim=claim))
        return sorted(items, key=lambda i: i.claim)

    # ----------------------------------------------------------------------------------- results

    def result_path(self, key: str, suffix: str) -> Path:
        """The encrypted result of output suffix ``suffix`` (``".json"``): ``outbox/<key><suffix>.age``."""
        return self.outbox / f"{key}{suffix}{AGE_SUFFIX}"

    def ledger_path(self, key: str) -> Path:
        """``state/ledger/<first 2 hex digits of the hash>/<key>.json``."""
        digest = key.rsplit(".", 1)[-1]
        return self.ledger / digest[:2] / f"{key}.json"

    def is_done(self, key: str) -> bool:
        """Its ledger entry exists, or every configured result file does (a crash after the last result
        and before the ledger entry). A partial set of results is not done: the input is processed again."""
        if self.ledger_path(key).exists():
            return True
        return bool(self.result_suffixes) and all(
            self.result_path(key, s).exists() for s in self.result_suffixes
        )

    def write_result(self, key: str, suffix: str, encrypted: bytes) -> Path:
        """Durably write one encrypted result (mode ``result_mode``); returns its path."""
        return durable_write(self.result_path(key, suffix), encrypted, self.result_mode)

    def mark_done(self, key: str, info: dict[str, Any]) -> None:
        """Write the ledger entry ``{"key", "done_at", **info}`` (ids and hashes only), durably."""
        p = self.ledger_path(key)
        p.parent.mkdir(exist_ok=True)
        record = {"key": key, "done_at": datetime.now(timezone.utc).isoformat(), **info}
        durable_write(p, json.dumps(record, sort_keys=True).encode() + b"\n")

    def archive_path(self, key: str, suffix: str) -> Path:
        """The encrypted copy of a processed input: ``archive/<key><input suffix>.age``."""
        return self.archive_dir / f"{key}{suffix}{AGE_SUFFIX}"

    def archive(self, key: str, suffix: str, encrypted: bytes) -> Path:
        """Durably write an input's encrypted copy (mode 0600); returns its path."""
        return durable_write(self.archive_path(key, suffix), encrypted, 0o600)

    def remove_work(self, item: WorkItem) -> None:
        """Delete a claimed input (its results are durable) and its attempt counter."""
        item.path.unlink(missing_ok=True)
        fsync_dir(self.work)
        self.clear_attempts(item)

    # ----------------------------------------------------------------------------------- failures

    def fail(self, item: WorkItem, record: FailureRecord) -> Path:
        """Quarantine: sidecar first (durably), then move the input next to it."""
        target = self.failed / item.name
        if os.path.lexists(target):  # (a sidecar without its input is an orphan of an interrupted quarantine)
            target = self.failed / f"{item.claim}~{item.name}"
        sidecar = self.failed / f"{target.name}{ERROR_SUFFIX}"
        durable_write(sidecar, record.model_dump_json(indent=2).encode() + b"\n", 0o640)
        os.rename(item.path, target)
        fsync_dir(self.failed)
        fsync_dir(self.work)
        self.clear_attempts(item)
        return target

    def fail_from_inbox(self, path: Path, record: FailureRecord) -> Path | None:
        """Quarantine straight from the inbox, under a shortened name, an input whose name is too long
        to be claimed (``<claim>~<name>`` must fit the file system's name limit). None if it is gone."""
        claim = f"{time.time_ns():x}{secrets.token_hex(2)}"
        cut = os.fsdecode(os.fsencode(path.name)[: MAX_NAME_BYTES // 2])
        target = self.failed / f"{claim}~{cut}"
        sidecar = self.failed / f"{target.name}{ERROR_SUFFIX}"
        if not os.path.lexists(path):
            return None
        durable_write(sidecar, record.model_dump_json(indent=2).encode() + b"\n", 0o640)
        try:
            os.rename(path, target)
        except FileNotFoundError:
            sidecar.unlink(missing_ok=True)
            return None
        fsync_dir(self.failed)
        return target

    def failures(self) -> list[tuple[Path, FailureRecord | None]]:
        """Every quarantined input with its sidecar (None where the sidecar cannot be read), by name."""
        out = []
        for side in sorted(self.failed.glob(f"*{ERROR_SUFFIX}")):
            if side.name.startswith("."):
                continue
            try:
                rec: FailureRecord | None = FailureRecord.model_validate_json(side.read_bytes())
            except (OSError, ValueError):
                rec = None
            out.append((self.failed / side.name[: -len(ERROR_SUFFIX)], rec))
        return out

    def requeue(self, name: str) -> Path:
        """Move a quarantined input back into the inbox (under its original name) and drop its sidecar."""
        src = self.failed / name
        sidecar = self.failed / f"{name}{ERROR_SUFFIX}"
        if name.endswith(ERROR_SUFFIX) or not os.path.lexists(src):
            raise StoreError(f"{name}: not in {self.failed}")
        original = name.partition("~")[2] if "~" in name else name
        target = self.inbox / original
        if os.path.lexists(target):
            raise StoreError(f"{original}: a file of that name is already in the inbox")
        os.rename(src, target)
        fsync_dir(self.inbox)
        sidecar.unlink(missing_ok=True)
        fsync_dir(self.failed)
        return target

    # ----------------------------------------------------------------------------------- attempts

    def _attempts_path(self, item: WorkItem) -> Path:
        return self.attempts_dir / f"{item.claim}.json"

    def attempts(self, item: WorkItem) -> int:
        """Attempts counted for a claimed input (0 if none or the counter is unreadable)."""
        try:
            return int(json.loads(self._attempts_path(item).read_text())["attempts"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def bump_attempts(self, item: WorkItem) -> int:
        """Count an attempt *before* it starts, so a crash during it is counted too (poison-pill guard)."""
        n = self.attempts(item) + 1
        durable_write(self._attempts_path(item), json.dumps({"attempts": n, "name": item.name}).encode())
        return n

    def clear_attempts(self, item: WorkItem) -> None:
        """Drop a claimed input's attempt counter."""
        self._attempts_path(item).unlink(missing_ok=True)

    def prune_attempts(self, items: list[WorkItem]) -> int:
        """Drop counters whose input is no longer in work/ (a crash between the clean-up of an input and
        the removal of its counter leaves one behind)."""
        keep = {f"{i.claim}.json" for i in items}
        n = 0
        for p in self.attempts_dir.glob("*.json"):
            if p.name not in keep:
                p.unlink(missing_ok=True)
                n += 1
        return n

    # ----------------------------------------------------------------------------------- counts

    def counts(self, ledger: bool = True) -> dict[str, int]:
        """Entries per folder: ``inbox`` (candidates), ``work``, ``failed`` (sidecars), ``outbox`` (result
        files of the configured formats), ``processed`` (ledger entries; -1 with ``ledger=False``, which
        skips counting the ledger: it grows without bound)."""
        results = tuple(f"{s}{AGE_SUFFIX}" for s in self.result_suffixes)

        def count(folder: Path, pred: Callable[[os.DirEntry[str]], bool]) -> int:
            try:
                return sum(1 for e in os.scandir(folder) if pred(e))
            except FileNotFoundError:
                return 0

        return {
            "inbox": len(self.inbox_candidates()),
            "work": count(self.work, lambda e: not e.name.startswith(".")),
            "failed": count(
                self.failed, lambda e: e.name.endswith(ERROR_SUFFIX) and not e.name.startswith(".")
            ),
            "outbox": count(
                self.outbox, lambda e: e.name.endswith(results) and not e.name.startswith(".")
            ),
            "processed": sum(1 for p in self.ledger.glob("*/*.json") if not p.name.startswith("."))
            if ledger
            else -1,
        }
