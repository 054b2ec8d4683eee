"""The file-level side of the drop contract: which names are taken, and reading a file's bytes safely.

Turning bytes into a ``Document`` is the input formats' job (``appliance.inputs``). Every refusal here
is an ``InputError`` with a stable ``appliance.reasons.Reason`` code; messages name positions and
sizes, never content: they end up in logs and in ``.error.json`` sidecars.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import InputError
from .reasons import Reason

#: Names ending in these (any case) are a writer's temporary files: never touched.
TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".swp", ".filepart", "~")
#: The longest file name Linux allows (NAME_MAX, bytes). Every such name is taken: claims and quarantine
#: never prepend anything to it (``appliance.claims``).
MAX_NAME_BYTES = 255


def is_ignored(name: str) -> bool:
    """Hidden and temporary names are never touched: writers use them while a file is incomplete."""
    lower = name.lower()
    return name.startswith(".") or lower.endswith(TEMP_SUFFIXES)


def display_name(name: str) -> str:
    """A file name as text for logs and JSON: bytes that are not UTF-8 are shown as ``\\xNN``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def check_name(name: str) -> None:
    """Refuse (``InputError`` ``bad_name``) file names that cannot be carried as UTF-8 text (ids, logs,
    results), or longer than ``MAX_NAME_BYTES`` (only possible on a file system other than Linux's)."""
    raw = os.fsencode(name)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(
            Reason.BAD_NAME,
            f"the file name is not valid UTF-8 (first bad byte at offset {e.start}); rename it",
        ) from None
    if len(raw) > MAX_NAME_BYTES:
        raise InputError(
            Reason.BAD_NAME, f"the file name is {len(raw)} bytes long; the limit is {MAX_NAME_BYTES}"
        )


def file_size(path: Path) -> int | None:
    """Size in bytes of a regular file (a link is not followed); None for anything else or a missing file."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _kind(mode: int) -> str:
    for test, what in (
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISFIFO, "named pipe"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return what
    return "special file"


def _not_regular(mode: int) -> InputError:
    return InputError(
        Reason.NOT_REGULAR_FILE, f"input is a {_kind(mode)}, not a regular file: it is not read"
    )


_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # opening a named pipe must not wait for a writer
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def read_bytes(path: Path, max_bytes: int, *, follow_symlinks: bool = True) -> bytes:
    """Read a whole regular file, refusing (without reading) one over ``max_bytes`` bytes.

    Folders, named pipes and devices are refused (``not_regular_file``) without being opened for
    reading. ``follow_symlinks=False`` (the daemon) refuses a symbolic link too, wherever it points:
    an input must be a plain file in the inbox, not a pointer to one elsewhere. (``appliance extract``
    reads the files its user names, links included.)

    Raises ``InputError`` (``too_large``, ``unreadable``, ``not_regular_file``), ``FileNotFoundError``
    when the file is gone, and other ``OSError`` as they come.
    """
    flags = _OPEN_FLAGS | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    try:
        st = os.stat(path) if follow_symlinks else os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(st.st_mode)
        fd = os.open(path, flags)
    except PermissionError:
        raise InputError(Reason.UNREADABLE, "input cannot be read: permission denied") from None
    except OSError as e:
        if e.errno == errno.ELOOP and not follow_symlinks:  # replaced by a link after the lstat
            raise _not_regular(stat.S_IFLNK) from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(st.st_mode)
        if st.st_size > max_bytes:
            raise InputError(Reason.TOO_LARGE, f"input is {st.st_size} bytes; the limit is {max_bytes}")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(Reason.TOO_LARGE, f"input is over {max_bytes} bytes")
    return data
