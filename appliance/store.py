"""Folder lifecycle: claim, durable writes, idempotency, quarantine, recovery bookkeeping.

Invariants (what the daemon relies on):

* An input is in exactly one place: ``inbox/`` (waiting), ``work/<claim>/`` (claimed; the only copy
  while it is processed), ``failed/`` (quarantined with an ``.error.json``) — or gone, and then its
  result exists. Names on disk: ``appliance.claims``.
* Results are written ``outbox/.tmp-*`` → fsync → ``os.replace`` → fsync(outbox), one file per
  configured output format (``<key><suffix>.age``), *before* the ledger entry and before the input
  leaves ``work/``. A crash at any point leaves either the input in ``work/`` (recovered at start) or
  every result in the outbox and the ledger (the input is then only cleaned up).
* The idempotency key (``appliance.resultkey.result_key``) is unique per exact id and dropped bytes;
  the ledger entry under it records the sha256 of both, and ``is_done`` compares them. An input is
  done when its ledger entry exists, or when *every* configured result file does. The ledger
  survives the integrator taking results out of the outbox.
* Nothing here reads or writes document text except the opaque bytes it is handed (already encrypted
  for the outbox and the archive).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .claims import (
    CLAIM_RE,
    ERROR_SUFFIX,
    AttemptRecord,
    FailureRecord,
    WorkItem,
    failed_name,
    new_claim,
    original_name,
    parse_legacy,
)
from .config import FOLDERS, PathsConfig
from .durable import TMP_PREFIX, durable_write, fsync_dir
from .errors import ApplianceError
from .reader import is_ignored
from .resultkey import key_digest, result_key, slug

__all__ = ["AGE_SUFFIX", "ERROR_SUFFIX", "FailureRecord", "KeyCollision", "Store", "StoreError", "WorkItem"]
__all__ += ["durable_write", "result_key", "slug"]  # (re-exported: callers name them from here)

AGE_SUFFIX = ".age"  # every file written to the outbox and the archive is age-encrypted


class StoreError(ApplianceError):
    """A data folder is missing, unwritable, or on the wrong file system."""


class KeyCollision(ApplianceError):
    """A ledger entry under an input's key records another id or other bytes (never taken for done)."""


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
        """Atomically move an inbox entry to ``work/<claim>/<name>``. None if it is gone (someone else
        took it). Raises ``OSError`` when the claim folder cannot be made (e.g. ``ENOSPC``)."""
        claim = new_claim()
        folder = self.work / claim
        os.mkdir(folder, 0o700)
        try:
            os.rename(path, folder / path.name)
        except BaseException:
            os.rmdir(folder)
            if not os.path.lexists(path):
                return None
            raise
        fsync_dir(folder)
        fsync_dir(self.work)
        return WorkItem(path=folder / path.name, name=path.name, claim=claim)

    def work_items(self) -> list[WorkItem]:
        """Everything left in work/, oldest claim first (any kind of entry: a folder or link claimed
        before a crash is refused properly at the next start, not left behind).

        Empty claim folders (a crash between making one and the rename, or between the removal of an
        input and of its folder) are removed. Entries of the pre-#12 layout (``<claim>~<name>``) and
        ones placed by hand are moved into claim folders (a legacy claim id is kept: its record applies).
        """
        items: list[WorkItem] = []
        adopt: list[tuple[Path, str, str, bool]] = []
        for entry in sorted(os.scandir(self.work), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if CLAIM_RE.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                inner = sorted(os.listdir(entry.path))
                if not inner:
                    os.rmdir(entry.path)
                    continue
                items.append(WorkItem(Path(entry.path) / inner[0], inner[0], entry.name))
                adopt += [(Path(entry.path) / n, new_claim(), n, False) for n in inner[1:]]
                continue
            legacy = parse_legacy(entry.name)
            claim, name = legacy if legacy else (new_claim(), entry.name)
            adopt.append((Path(entry.path), claim, name, legacy is not None))
        for src, claim, name, legacy in adopt:
            if (self.work / claim).is_dir() and os.listdir(self.work / claim):  # (taken: a fresh id)
                claim = new_claim()
            folder = self.work / claim
            folder.mkdir(mode=0o700, exist_ok=True)
            os.rename(src, folder / name)
            fsync_dir(folder)
            items.append(WorkItem(folder / name, name, claim, legacy=legacy))
        if adopt:
            fsync_dir(self.work)
        return sorted(items, key=lambda i: i.claim)

    # ----------------------------------------------------------------------------------- results

    def result_path(self, key: str, suffix: str) -> Path:
        """The encrypted result of output suffix ``suffix`` (``".json"``): ``outbox/<key><suffix>.age``."""
        return self.outbox / f"{key}{suffix}{AGE_SUFFIX}"

    def ledger_path(self, key: str) -> Path:
        """``state/ledger/<first 2 hex digits of the bytes hash>/<key>.json``."""
        return self.ledger / key_digest(key)[:2] / f"{key}.json"

    def _ledger_entry(self, key: str) -> dict[str, Any] | None:
        """The ledger entry under ``key``; None if there is none; ``{}`` if unreadable (a torn write of
        an older version: its name still says done)."""
        try:
            entry = json.loads(self.ledger_path(key).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return entry if isinstance(entry, dict) else {}

    def in_ledger(
        self,
        key: str,
        *,
        id_sha256: str | None = None,
        bytes_sha256: str | None = None,
        legacy_key: str | None = None,
    ) -> bool:
        """A ledger entry says this input is done: the one under ``key`` (recording this id and these
        bytes, where given and recorded), or one under ``legacy_key`` (the key versions before issue #12
        gave it) written before entries recorded ids. Raises ``KeyCollision`` if the entry under
        ``key`` records another input."""
        entry = self._ledger_entry(key)
        if entry is not None:
            for field, mine in (("id_sha256", id_sha256), ("bytes_sha256", bytes_sha256)):
                theirs = entry.get(field)
                if mine is not None and isinstance(theirs, str) and theirs != mine:
                    raise KeyCollision(f"ledger entry {key}: recorded {field} differs")
            return True
        if legacy_key and legacy_key != key:
            old = self._ledger_entry(legacy_key)
            if old is not None and "id_sha256" not in old:
                return bytes_sha256 is None or old.get("bytes_sha256", bytes_sha256) == bytes_sha256
        return False

    def is_done(self, key: str, **ledger: str | None) -> bool:
        """``in_ledger(key, **ledger)``, or every configured result file exists (a crash after the last
        result and before the ledger entry). A partial set of results is not done: the input is
        processed again."""
        return self.in_ledger(key, **ledger) or self.has_results(key)

    def has_results(self, key: str) -> bool:
        """Every configured result file of ``key`` exists."""
        return bool(self.result_suffixes) and all(
            self.result_path(key, s).exists() for s in self.result_suffixes
        )

    def write_result(self, key: str, suffix: str, encrypted: bytes) -> Path:
        """Durably write one encrypted result (mode ``result_mode``); returns its path."""
        return durable_write(self.result_path(key, suffix), encrypted, self.result_mode)

    def mark_done(self, key: str, info: dict[str, Any]) -> None:
        """Write the ledger entry ``{"key", "done_at", **info}`` (ids' hashes and bytes' hashes only:
        ``id_sha256``, ``bytes_sha256``, ``id_slug``), durably."""
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
        """Delete a claimed input (its results are durable), its claim folder and its attempt record."""
        item.path.unlink(missing_ok=True)
        self._drop_claim_folder(item)
        self.clear_attempts(item)

    def _drop_claim_folder(self, item: WorkItem) -> None:
        try:
            os.rmdir(item.folder)
        except FileNotFoundError:
            pass
        fsync_dir(self.work)

    # ----------------------------------------------------------------------------------- failures

    def fail(self, item: WorkItem, record: FailureRecord) -> Path:
        """Quarantine: sidecar first (durably), then move the input next to it (``claims.failed_name``).
        Raises ``OSError`` when ``failed/`` cannot be written; the input then stays in ``work/``."""
        taken = os.path.lexists(self.failed / item.name)  # (a sidecar alone is an orphan: replaced)
        target = self.failed / failed_name(item.name, item.claim, taken)
        sidecar = self.failed / f"{target.name}{ERROR_SUFFIX}"
        durable_write(sidecar, record.model_dump_json(indent=2).encode() + b"\n", 0o640)
        os.rename(item.path, target)
        fsync_dir(self.failed)
        self._drop_claim_folder(item)
        self.clear_attempts(item)
        return target

    def failures(self) -> list[tuple[Path, FailureRecord | None]]:
        """Every quarantined input with its sidecar (None where the sidecar cannot be read), by name."""
        out = []
        for side in sorted(self.failed.glob(f"*{ERROR_SUFFIX}")):
            if side.name.startswith("."):
                continue
            out.append((self.failed / side.name[: -len(ERROR_SUFFIX)], self._sidecar(side)))
        return out

    @staticmethod
    def _sidecar(path: Path) -> FailureRecord | None:
        try:
            return FailureRecord.model_validate_json(path.read_bytes())
        except (OSError, ValueError):
            return None

    def requeue(self, name: str) -> Path:
        """Move a quarantined input back into the inbox under its original name (its sidecar's
        ``input_name``; ``claims.original_name``) and drop its sidecar. Raises ``StoreError``."""
        src = self.failed / name
        sidecar = self.failed / f"{name}{ERROR_SUFFIX}"
        if name.endswith(ERROR_SUFFIX) or not os.path.lexists(src):
            raise StoreError(f"{name}: not in {self.failed}")
        rec = self._sidecar(sidecar) if sidecar.exists() else None
        original = original_name(name, rec.input_name if rec else None)
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

    def attempt_record(self, item: WorkItem) -> AttemptRecord:
        """A claimed input's attempt record (a fresh one if none or unreadable)."""
        try:
            data = self._attempts_path(item).read_bytes()
        except OSError:
            return AttemptRecord(name=item.label)
        rec = AttemptRecord.parse(data)
        rec.name = item.label
        return rec

    def save_attempts(self, item: WorkItem, rec: AttemptRecord, *, sync: bool = True) -> None:
        """Replace the attempt record atomically; ``sync=False`` skips the fsyncs (for clearing
        ``in_flight``: survives a process kill, may be lost in a power cut, which only costs a run
        in a child process). Raises ``OSError``."""
        durable_write(self._attempts_path(item), rec.model_dump_json().encode(), sync=sync)

    def clear_attempts(self, item: WorkItem) -> None:
        """Drop a claimed input's attempt record."""
        self._attempts_path(item).unlink(missing_ok=True)

    def prune_attempts(self, items: list[WorkItem]) -> int:
        """Drop records whose input is no longer in work/ (a crash between the clean-up of an input and
        the removal of its record leaves one behind)."""
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
            "work": count(self.work, lambda e: not e.name.startswith(".")),  # (claim folders)
            "failed": count(
                self.failed, lambda e: e.name.endswith(ERROR_SUFFIX) and not e.name.startswith(".")
            ),
            "outbox": count(self.outbox, lambda e: e.name.endswith(results) and not e.name.startswith(".")),
            "processed": sum(1 for p in self.ledger.glob("*/*.json") if not p.name.startswith("."))
            if ledger
            else -1,
        }
