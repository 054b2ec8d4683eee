"""Applying outcomes: the log line, the status counts, and the policy's decision carried out (a
quarantine, a retry, a hold of the queue while storage fails).

Conditions that last (storage, a worker process that cannot start, an unwritable ``failed/``) are
logged through the ``Throttle``: one line when they begin, at most one per interval while they last,
one ``…_recovered`` line when they end; not a line per retry.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..logfmt import event, exception_fields
from ..reader import display_name
from ..reasons import Reason
from ..state import utcnow
from ..store import FailureRecord, Store, WorkItem
from .intake import Intake
from .isolation import ChildCrashed
from .outcome import (
    Duplicate,
    Failed,
    Forget,
    Outcome,
    Processed,
    Quarantine,
    Recovered,
    Retry,
    Stage,
    Vanished,
)
from .policy import FailurePolicy
from .status import StatusReporter
from .throttle import Throttle

log = logging.getLogger("appliance.daemon")

#: Retry reasons that describe a lasting condition of the box: logged through the throttle.
_CONDITIONS = {Reason.STORAGE_ERROR: "storage", Reason.ENVIRONMENT_ERROR: "environment"}


class OutcomeHandler:
    """Carries out outcomes for the daemon. ``pending``: quarantines that could not be written
    (``failed/`` full or read-only), retried as such when their input comes round again."""

    def __init__(
        self,
        store: Store,
        intake: Intake,
        policy: FailurePolicy,
        reporter: StatusReporter,
        throttle: Throttle,
    ) -> None:
        self.store = store
        self.intake = intake
        self.policy = policy
        self.reporter = reporter
        self.throttle = throttle
        self.pending: dict[Path, Quarantine] = {}

    def apply(self, item: WorkItem, outcome: Outcome) -> None:
        """Log the outcome, count it in the status, and carry out the policy's decision on a failure."""
        st = self.reporter.status
        if isinstance(outcome, (Processed, Duplicate, Recovered, Vanished)):
            self.policy.settled(item.path)
        if isinstance(outcome, (Processed, Duplicate, Recovered)):
            self._storage_works()
        if isinstance(outcome, Processed):
            st.processed += 1
            st.last_success = utcnow()
            extra = {"isolated": True} if outcome.isolated else {}
            event(
                log,
                logging.INFO,
                "processed",
                file=item.label,
                key=outcome.key,
                input_sha256=outcome.bytes_sha256[:16],
                features=outcome.features,
                missing=outcome.missing,
                seconds=outcome.seconds,
                **extra,
            )
        elif isinstance(outcome, Duplicate):
            st.duplicates += 1
            event(log, logging.INFO, "duplicate", file=item.label, key=outcome.key)
        elif isinstance(outcome, Recovered):
            st.recovered += 1
            event(log, logging.INFO, "recovered", file=item.label, key=outcome.key)
        elif isinstance(outcome, Vanished):
            event(log, logging.WARNING, "vanished", file=item.label)
        elif isinstance(outcome, Failed):
            self._decided(item, self.policy.decide(item.path, outcome))

    def unexpected(self, item: WorkItem, exc: Exception) -> None:
        """An error outside the per-input contract (a bug, or a folder we cannot write). The input is
        not forgotten in work/: the policy retries it (see ``FailurePolicy``)."""
        event(log, logging.ERROR, "unexpected_error", file=item.label, **exception_fields(exc))
        self.reporter.record_error(Reason.INTERNAL_ERROR, item.label)
        self._decided(item, self.policy.decide(item.path, Failed(Stage.INTERNAL, exc)))

    def _decided(self, item: WorkItem, decision: Quarantine | Retry | Forget) -> None:
        if isinstance(decision, Quarantine):
            self.quarantine(item, decision)
        elif isinstance(decision, Retry):
            self._retry(item, decision)

    def _storage_works(self) -> None:
        self.intake.release()
        self.throttle.resolved("storage")

    def _retry(self, item: WorkItem, r: Retry) -> None:
        self.intake.schedule_retry(item, r.delay)
        if r.hold:
            self.intake.hold(r.delay)
        if not r.announce:
            return
        self.reporter.status.retries += 1
        self.reporter.record_error(r.reason, item.label)
        fields: dict[str, Any] = {
            "file": item.label,
            "reason": r.reason.value,
            "attempt": r.attempt,
            "delay_seconds": round(r.delay, 3),
            **exception_fields(r.error),
        }
        if isinstance(r.error, ChildCrashed):
            fields["crash"] = r.error.how
        if r.reason in _CONDITIONS:  # one line per condition and interval, not one per retry
            self.throttle.problem(_CONDITIONS[r.reason], logging.WARNING, "retry_scheduled", **fields)
        else:
            event(log, logging.WARNING, "retry_scheduled", **fields)

    def quarantine(self, item: WorkItem, q: Quarantine) -> None:
        """Move the input to failed/ with its sidecar. When ``failed/`` cannot be written, the input
        stays in work/ and the quarantine is retried with backoff (``pending``); other inputs flow."""
        if not os.path.lexists(item.path):  # (removed from work/ by hand meanwhile)
            self.pending.pop(item.path, None)
            self.policy.settled(item.path)
            event(log, logging.WARNING, "vanished", file=item.label)
            return
        record = _record(item.label, q, lambda: max(1, self.store.attempt_record(item).attempts))
        try:
            target = self.store.fail(item, record)
        except OSError as e:
            self.pending[item.path] = q
            self.throttle.problem(
                "quarantine",
                logging.ERROR,
                "quarantine_failed",
                file=item.label,
                reason=q.reason.value,
                **exception_fields(e),
            )
            self._retry(item, self.policy.quarantine_failed(item.path, e))
            return
        self.pending.pop(item.path, None)
        self.policy.settled(item.path)
        self.throttle.resolved("quarantine")
        st = self.reporter.status
        st.failed += 1
        self.reporter.record_error(q.reason, item.label)
        fields: dict[str, Any] = {"input_sha256": (q.bytes_sha256 or "")[:16]}
        if q.error is not None:
            fields.update(exception_fields(q.error))
        event(
            log,
            logging.WARNING,
            "failed",
            file=item.label,
            moved_to=display_name(target.name),
            reason=q.reason.value,
            attempts=record.attempts,
            **fields,
        )


def _record(label: str, q: Quarantine, default_attempts: Callable[[], int]) -> FailureRecord:
    return FailureRecord(
        input_name=label,
        reason=q.reason.value,
        detail=q.detail,
        exception=q.error.__class__.__name__ if q.error is not None else None,
        attempts=q.attempts if q.attempts is not None else default_attempts(),
        input_sha256=q.bytes_sha256,
        input_bytes=q.size,
    )
