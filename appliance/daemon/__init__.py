"""The drop-folder service: watch the inbox, claim, extract, encrypt, write durably, clean up.

Per input::

    inbox/x ─claim (rename)─▶ work/<claim>/x ─read─▶ bytes ─parse (input format)─▶ Document ─pipeline─▶ Result
      ─render (each output format)─▶ encrypt (age) ─▶ outbox/<key><suffix>.age (tmp, fsync, replace,
      fsync dir) ─▶ ledger/<key> ─▶ work file deleted or archived (encrypted)
      on failure: ─▶ failed/x + x.error.json (reason code), or a retry with backoff

The parts, one job each:

* ``intake.Intake``: watcher events, settle tracker, periodic rescan, claim; recovered and retried items;
* ``processing.Processor``: one claimed input → one ``outcome.Outcome`` (no logging);
* ``isolation``: the poison-pill guard's child process, for inputs in flight when the daemon died;
* ``models``: loading the pipeline (waiting for a bundle not mounted yet), releasing it for a child;
* ``policy.FailurePolicy``: the one place where a failure becomes a ``Reason``, a retry or a quarantine;
* ``apply.OutcomeHandler``: outcomes carried out (logs, counts, quarantine, retry, holding the queue);
* ``status.StatusReporter`` and ``status.Heartbeat``: status file, sd_notify, watchdog keep-alives;
  ``throttle.Throttle``: one log line per lasting condition, not one per failure;
* ``service.Daemon``: lifecycle, signals, and the work loop that runs the phases in order.
"""

from __future__ import annotations

from .models import PipelineLike, PipelineLoader
from .outcome import Decision, Outcome
from .policy import FailurePolicy
from .processing import Processor
from .service import ColdStop, Daemon, default_loader

__all__ = [
    "ColdStop",
    "Daemon",
    "Decision",
    "FailurePolicy",
    "Outcome",
    "PipelineLike",
    "PipelineLoader",
    "Processor",
    "default_loader",
]
