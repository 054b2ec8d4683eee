"""Typed records passed between the daemon's parts.

``Processor`` turns one ``WorkItem`` into an ``Outcome`` (by way of ``Started`` when the pipeline is
next); ``FailurePolicy`` turns a ``Failed`` outcome into a ``Decision``; ``Daemon`` applies both
(logs, status, quarantine, retry). None of these records holds a message: facts, codes, exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..claims import AttemptRecord, WorkItem
from ..document import Document
from ..reasons import Reason


class Stage(str, Enum):
    """Where a failure happened; with the exception it decides the reason code (``FailurePolicy``)."""

    CLAIM = "claim"  # before a claim: the inbox entry cannot be claimed
    READ = "read"  # reading the claimed file's bytes
    PARSE = "parse"  # bytes → Document (an input format's parser)
    CRASH = "crash"  # a suspect's child process died while extracting it
    PIPELINE = "pipeline"  # Pipeline.process
    ENVIRONMENT = "environment"  # the extraction could not run: models gone, no child process
    STORAGE = "storage"  # writing: attempt record, results, ledger, archive, clean-up (an OSError)
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
    record: AttemptRecord  # its attempt record, ``in_flight`` set


@dataclass(frozen=True)
class Isolate:
    """A suspect (its process died while it was in flight): read, its attempt counted; it is parsed and
    extracted alone in a child process next (``appliance.daemon.isolation``)."""

    item: WorkItem
    raw: bytes  # the dropped bytes (patient data: never logged)
    bytes_sha256: str
    record: AttemptRecord  # ``in_flight`` set, ``suspect`` True
    t0: float


@dataclass(frozen=True)
class Processed:
    """Every result written, the ledger entry made, the input removed or archived."""

    key: str
    bytes_sha256: str
    features: int  # features in the result
    missing: int  # of which with status `missing`
    seconds: float  # wall time from the start of reading to the end of clean-up, rounded to ms
    isolated: bool = False  # extracted in a child process (it was a suspect)


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
    """Processing stopped at ``stage``; ``error`` is the exception."""

    stage: Stage
    error: BaseException | None = None
    bytes_sha256: str | None = None  # when the bytes were read
    size: int | None = None  # input size in bytes, where known
    attempts: int | None = None  # attempts (crashes for ``CRASH``) counted so far, where known


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
    hold: bool = False  # storage: claim nothing new until an input is written again (or ``delay`` passed)


@dataclass(frozen=True)
class Forget:
    """Nothing to do: the input is gone."""


Decision = Quarantine | Retry | Forget
