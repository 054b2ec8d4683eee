"""The failure policy: the one place where a failure becomes a reason code, a retry or a quarantine.

Only faults of the input itself set it aside; the environment never does:

* An ``InputError`` (read, parse, or the pipeline saying the document is unusable) is quarantined at
  once with its own code: trying again cannot help.
* A suspect whose child process died on it (``Stage.CRASH``: a signal, an exit, a hang past
  ``service.max_file_seconds``) is retried, in a new child, and quarantined as ``interrupted`` after
  ``retries.max_attempts`` such deaths: a file that crashes the extraction is set aside. A kill of the
  daemon itself is never counted (``appliance.daemon.isolation``).
* Pipeline errors are retried with exponential backoff (``RetriesConfig.delay``) and quarantined as
  ``pipeline_error`` after ``retries.max_attempts`` attempts.
* Storage errors (an ``OSError`` writing results, the ledger, an attempt record, a claim: a full
  disk, a read-only or missing folder) are retried with backoff (capped at
  ``retries.backoff_max_seconds``) for as long as they last and never quarantined; meanwhile nothing
  new is claimed (``Retry.hold``). So are environment errors (``Stage.ENVIRONMENT``: models that cannot
  be loaded again, a child process that cannot start) and unexpected errors that are such an
  ``OSError`` (``ENVIRONMENTAL_ERRNOS``).
* Any other error outside that contract (a bug) is ``internal_error``: retried silently with backoff,
  counted per work file in memory, quarantined after ``retries.max_attempts``; when even the
  quarantine fails (``failed/`` full or read-only) the input stays in ``work/`` and the quarantine is
  retried with backoff (``quarantine_failed``), while other inputs keep flowing.

The integration guide's table of reason codes is rendered from this module (``reason_table``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ..config import RetriesConfig
from ..errors import InputError
from ..reasons import Reason
from .outcome import Decision, Failed, Forget, Quarantine, Retry, Stage

#: Reasons retried with backoff before the input is quarantined.
RETRIED = frozenset({Reason.PIPELINE_ERROR, Reason.INTERNAL_ERROR, Reason.INTERRUPTED})
#: Reasons retried for as long as the condition lasts: never a reason to set an input aside.
ALWAYS_RETRIED = frozenset({Reason.STORAGE_ERROR, Reason.ENVIRONMENT_ERROR})
#: ``OSError`` codes that describe the box, not the input: full, read-only, missing, failing, denied.
ENVIRONMENTAL_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ENOSPC EDQUOT EROFS EIO ENOENT ENOTDIR EACCES EPERM ENOMEM EMFILE ENFILE EAGAIN EBUSY ESTALE EXDEV "
        "ENODEV ENXIO ETIMEDOUT ENOLCK"
    ).split()
)


def is_environmental(exc: BaseException | None) -> bool:
    """An ``OSError`` whose code says the box is at fault (``ENVIRONMENTAL_ERRNOS``)."""
    return isinstance(exc, OSError) and exc.errno in ENVIRONMENTAL_ERRNOS


class FailurePolicy:
    """Decides what becomes of a failed input (``decide``); remembers, per work file and in memory,
    unexpected errors and consecutive storage or environment failures (for their backoff)."""

    def __init__(self, retries: RetriesConfig) -> None:
        self.retries = retries
        self._unexpected: dict[Path, int] = {}  # unexpected errors per work file (bounded retries)
        self._waits: dict[Path, int] = {}  # consecutive storage/environment failures (backoff only)

    def decide(self, path: Path, failed: Failed) -> Decision:
        """The decision for a failure of the input at ``path`` (its work file, or its inbox name for
        ``Stage.CLAIM``).

        Raises ``ValueError`` for an ``InputError`` whose code is not a ``Reason`` member (a bug: the
        daemon then treats it as an unexpected error).
        """
        error = failed.error
        if failed.stage is Stage.INTERNAL and not is_environmental(error):
            assert error is not None
            return self._unexpected_error(path, error)
        self._unexpected.pop(path, None)  # (an attempt that ended without an unexpected error)
        if failed.stage in (Stage.STORAGE, Stage.INTERNAL, Stage.ENVIRONMENT) or (
            failed.stage is Stage.CLAIM and is_environmental(error)
        ):
            assert error is not None
            reason = Reason.ENVIRONMENT_ERROR if failed.stage is Stage.ENVIRONMENT else Reason.STORAGE_ERROR
            return self.wait(path, reason, error)
        self._waits.pop(path, None)
        if isinstance(error, InputError):
            return Quarantine(
                Reason(error.reason),
                detail=str(error),
                attempts=failed.attempts,
                bytes_sha256=failed.bytes_sha256,
                size=failed.size,
            )
        assert error is not None and failed.attempts is not None
        crash = failed.stage is Stage.CRASH
        reason = Reason.INTERRUPTED if crash else Reason.PIPELINE_ERROR
        if failed.attempts >= self.retries.max_attempts:
            n = failed.attempts
            return Quarantine(
                reason,
                detail=(
                    f"the extraction crashed {n} time(s), each time alone in a child process (last: {error})"
                    if crash
                    else os_error_detail(error)
                ),
                error=None if crash else error,
                attempts=n,
                bytes_sha256=failed.bytes_sha256,
                size=failed.size,
            )
        return Retry(reason, self.retries.delay(failed.attempts), failed.attempts, error)

    def wait(self, path: Path, reason: Reason, error: BaseException) -> Retry:
        """Retry after the next step of the backoff (capped): the box is at fault, not the input."""
        n = self._waits.get(path, 0) + 1
        self._waits[path] = n
        return Retry(reason, self.retries.delay(n), n, error, hold=reason is Reason.STORAGE_ERROR)

    def _unexpected_error(self, path: Path, error: BaseException) -> Decision:
        if not os.path.lexists(path):
            self._unexpected.pop(path, None)
            return Forget()
        n = self._unexpected.get(path, 0) + 1
        self._unexpected[path] = n
        if n >= self.retries.max_attempts:
            return Quarantine(Reason.INTERNAL_ERROR, error=error, attempts=n)
        return Retry(Reason.INTERNAL_ERROR, self.retries.delay(n), n, error, announce=False)

    def quarantine_failed(self, path: Path, error: BaseException) -> Retry:
        """The quarantine failed (``failed/`` cannot be written): keep the input in work/ and retry the
        quarantine with backoff (capped); nothing new is held back for it."""
        n = self._waits.get(path, 0) + 1
        self._waits[path] = n
        return Retry(Reason.STORAGE_ERROR, self.retries.delay(n), n, error, announce=False)

    def settled(self, path: Path) -> None:
        """The input at ``path`` is done with (processed, a duplicate, gone, or quarantined): forget its
        counts."""
        self._unexpected.pop(path, None)
        self._waits.pop(path, None)


def os_error_detail(exc: BaseException) -> str | None:
    """``ENOSPC: No space left on device``: the error code only (an OSError's text names the file)."""
    if isinstance(exc, OSError) and exc.errno:
        return f"{errno.errorcode.get(exc.errno, str(exc.errno))}: {os.strerror(exc.errno)}"
    return None


def retried(reason: Reason) -> str:
    """The integration guide's "retried" column: ``yes`` (backoff, then quarantine), ``no``
    (quarantined at once), ``until it succeeds`` (never quarantined: the box, not the input)."""
    if reason in ALWAYS_RETRIED:
        return "until it succeeds (never set aside)"
    return "yes" if reason in RETRIED else "no"


def reason_table(suffixes: str) -> str:
    """The Markdown table of every reason code for docs/integration.md. ``suffixes``: the supported
    input suffixes as words (``\\`.txt\\` or \\`.json\\```), for ``unsupported_type``."""
    lines = ["| reason | meaning | retried |", "|---|---|---|"]
    for r in Reason:
        meaning = r.meaning.replace("{suffixes}", suffixes)
        lines.append(f"| `{r.value}` | {meaning} | {retried(r)} |")
    return "\n".join(lines) + "\n"
