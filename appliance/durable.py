"""Crash-safe file writes: a file under its final name is always complete (borgbackup's ``SaveFile``).

Temp file in the target folder → write → fsync → ``os.replace`` → fsync the folder. The temp names
start with ``TMP_PREFIX`` (hidden: integrators ignore names starting with ``.``); ``Store.prepare``
removes those a crash left behind.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    """fsync a folder, so that renames and new names in it survive a power cut."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_write(target: Path, data: bytes, mode: int = 0o600, *, sync: bool = True) -> Path:
    """Temp file in the target folder → fsync → os.replace → fsync the folder (borgbackup's SaveFile).

    ``sync=False`` keeps the atomic replace but skips both fsyncs: for the status heartbeat, which may
    be lost in a power cut but must never be seen half-written.
    """
    folder = target.parent
    # Fixed length, not derived from the target's name: a long name must not overflow NAME_MAX here.
    tmp = folder / f"{TMP_PREFIX}{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # not subject to the umask: the configured mode, exactly
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync:
        fsync_dir(folder)
    return target
