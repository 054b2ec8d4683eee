"""The failure policy: the one place where a failure becomes a reason code, a retry or a quarantine.

* An ``InputError`` (read, parse, or the pipeline saying the document is unusable) is quarantined at
  once with its own code: trying again cannot help.
* An input interrupted more than ``retries.max_attempts`` times (its attempt counter says so at the
  next start) is quarantined as ``interrupted``: a file that crashes the process is set aside.
* Pipeline and storage errors are retried with exponential backoff (``RetriesConfig.delay``) and
  quarantined as ``pipeline_error``/``storage_error`` after ``retries.max_attempts`` attempts.
* An error outside that contract (a bug, a folder that cannot be written) is ``internal_error``:
  retried silently with backoff, counted per work file in memory, quarantined after
  ``retries.max_attempts``; while even the quarantine fails (the disk is full) it keeps being retried.

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
RETRIED = frozenset({Reason.PIPELINE_ERROR, Reason.STORAGE_ERROR, Reason.INTERNAL_ERROR})


class FailurePolicy:
    """Decides what becomes of a failed input (``decide``); remembers unexpected errors per work file."""

    def __init__(self, retries: RetriesConfig) -> None:
        self.retries = retries
        self._unexpected: dict[Path, int] = {}  # unexpected errors per work file (bounded retries)

    def decide(self, path: Path, failed: Failed) -> Decision:
        """The decision for a failure of the input at ``path`` (its work file, or its inbox name for
        ``Stage.CLAIM``).

        Raises ``ValueError`` for an ``InputError`` whose code is not a ``Reason`` member (a bug: the
        daemon then treats it as an unexpected error).
        """
        error = failed.error
        if failed.stage is Stage.INTERNAL:
            assert error is not None
            return self._unexpected_error(path, error)
        if failed.stage is Stage.ATTEMPTS:
            n = failed.attempts or 0
            return Quarantine(
                Reason.INTERRUPTED,
                detail=f"processing was interrupted {n} time(s) (crash or kill)",
                attempts=n,
                bytes_sha256=failed.bytes_sha256,
                size=failed.size,
            )
        if isinstance(error, InputError) and failed.stage is not Stage.STORAGE:
            return Quarantine(
                Reason(error.reason),
                detail=str(error),
                attempts=failed.attempts,
                bytes_sha256=failed.bytes_sha256,
                size=failed.size,
            )
        assert error is not None and failed.attempts is not None
        reason = Reason.PIPELINE_ERROR if failed.stage is Stage.PIPELINE else Reason.STORAGE_ERROR
        if failed.attempts >= self.retries.max_attempts:
            return Quarantine(
                reason,
                detail=os_error_detail(error),
                error=error,
                attempts=failed.attempts,
                bytes_sha256=failed.bytes_sha256,
                size=failed.size,
            )
        return Retry(reason, self.retries.delay(failed.attempts), failed.attempts, error)

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
        """The quarantine of an unexpected error failed too: retry with the backoff reached so far."""
        n = self._unexpected.get(path, 1)
        return Retry(Reason.INTERNAL_ERROR, self.retries.delay(n), n, error, announce=False)

    def settled(self, path: Path) -> None:
        """The input at ``path`` was handled without an unexpected error: forget its count."""
        self._unexpected.pop(path, None)


def os_error_detail(exc: BaseException) -> str | None:
    """``ENOSPC: No space left on device``: the error code only (an OSError's text names the file)."""
    if isinstance(exc, OSError) and exc.errno:
        return f"{errno.errorcode.get(exc.errno, str(exc.errno))}: {os.strerror(exc.errno)}"
    return None


def retried(reason: Reason) -> str:
    """The integration guide's "retried" column: ``yes`` (backoff, then quarantine), ``no``
    (quarantined at once), ``—`` for ``interrupted`` (the guard against retrying a crash forever)."""
    if reason is Reason.INTERRUPTED:
        return "—"
    return "yes" if reason in RETRIED else "no"


def reason_table(suffixes: str) -> str:
    """The Markdown table of every reason code for docs/integration.md. ``suffixes``: the supported
    input suffixes as words (``\\`.txt\\` or \\`.json\\```), for ``unsupported_type``."""
    lines = ["| reason | meaning | retried |", "|---|---|---|"]
    for r in Reason:
        meaning = r.meaning.replace("{suffixes}", suffixes)
        lines.append(f"| `{r.value}` | {meaning} | {retried(r)} |")
    return "\n".join(lines) + "\n"
