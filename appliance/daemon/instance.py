"""One daemon process per data folder: a lock in the state folder.

Two daemons on one set of folders lose no transcript (claims are atomic renames), but each removes the
other's temporary files at start and they overwrite each other's status file, so a second daemon is
refused at start with the first one's process id. The lock is a POSIX record lock (``fcntl.lockf``) on
``<state>/daemon.lock``: the kernel drops it when the process ends, however it ends (a SIGKILL or a
power cut leaves no stale lock), and it is held per process, so objects of one process (tests) share it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..store import StoreError

LOCK_NAME = "daemon.lock"


class InstanceBusy(StoreError):
    """Another daemon process holds the data folder's lock."""


class InstanceLock:
    """The lock file ``<state>/daemon.lock`` (mode 0600), holding the process id of its holder."""

    def __init__(self, state: Path) -> None:
        self.path = Path(state) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock (at once or never) and write this process id into it.

        Raises ``InstanceBusy`` naming the other daemon's process id when another process holds it.
        A state folder that cannot be created or written is left for ``Store.prepare`` to report: the
        lock is then not taken.
        """
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError:
            return
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise InstanceBusy(
                f"another appliance daemon (pid {other}) is using the data folders of this configuration "
                f"({self.path.parent}): stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (closing the file ends it); a no-op when not held."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
