"""Typed records passed between the daemon's parts.

``Processor`` turns one ``WorkItem`` into an ``Outcome`` (by way of ``Started`` when the pipeline is
next); ``FailurePolicy`` turns a ``Failed`` outcome into a ``Decision``; ``Daemon`` applies both
(logs, status, quarantine, retry). None of these records holds a message: facts, codes, exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..document import Document
from ..reasons import Reason
from ..store import WorkItem


class Stage(str, Enum):
    """Where a failure happened; with the exception it decides the reason code (``FailurePolicy``)."""

    CLAIM = "claim"  # before a claim: the inbox name cannot be claimed (too long)
    READ = "read"  # reading the claimed file's bytes
    PARSE = "parse"  # bytes → Document (an input format's parser)
    ATTEMPTS = "attempts"  # the attempt counter: interrupted too often (crash, kill)
    PIPELINE = "pipeline"  # Pipeline.process
    STORAGE = "storage"  # render, encrypt, durable writes, ledger, clean-up
    INTERNAL = "internal"  # anything else: an error outside the per-input contract


@dataclass(frozen=True)
class Started:
    """An input read, parsed, not done before, its attempt counted: the pipeline is next."""

    item: WorkItem
    doc: Document
    raw: bytes  # the dropped bytes (patient data: never logged)
    key: str  # result_key(doc.id, bytes_sha256)
    bytes_sha256: str  # hex sha256 of ``raw``
    attempts: int  # this attempt's number, 1-based
    t0: float  # time.monotonic() when processing of the item began


@dataclass(frozen=True)
class Processed:
    """Every result written, the ledger entry made, the input removed or archived."""

    key: str
    bytes_sha256: str
    features: int  # features in the result
    missing: int  # of which with status `missing`
    seconds: float  # wall time from the start of reading to the end of clean-up, rounded to ms


@dataclass(frozen=True)
class Duplicate:
    """The ledger already had the key: the input was only cleaned up."""

    key: str


@dataclass(frozen=True)
class Recovered:
    """Its results existed but not its ledger entry (a crash in between): ledger written, input cleaned up."""

    key: str


@dataclass(frozen=True)
class Vanished:
    """The claimed file disappeared before it was read (someone removed it from work/)."""


@dataclass(frozen=True)
class Failed:
    """Processing stopped at ``stage``; ``error`` is the exception (None for ``ATTEMPTS``)."""

    stage: Stage
    error: BaseException | None = None
    bytes_sha256: str | None = None  # when the bytes were read
    size: int | None = None  # input size in bytes, where known
    attempts: int | None = None  # attempts counted so far, where known (else the store's counter is used)


Outcome = Processed | Duplicate | Recovered | Vanished | Failed


@dataclass(frozen=True)
class Quarantine:
    """Move the input to failed/ with a sidecar."""

    reason: Reason
    detail: str | None = None  # positions and sizes only
    error: BaseException | None = None  # for unexpected errors: named in the sidecar and the log
    attempts: int | None = None  # None: the store's attempt counter (at least 1)
    bytes_sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Retry:
    """Try the input again after ``delay`` seconds."""

    reason: Reason
    delay: float  # seconds
    attempt: int  # the attempt (or unexpected-error count) that failed
    error: BaseException
    announce: bool = True  # log `retry_scheduled` and count it in the status (unexpected errors are
    # logged as `unexpected_error` instead)


@dataclass(frozen=True)
class Forget:
    """Nothing to do: the input is gone."""


Decision = Quarantine | Retry | Forget
