"""The drop-folder service: watch the inbox, claim, extract, encrypt, write durably, clean up.

Per input::

    inbox/x ─claim (rename)─▶ work/<claim>~x ─read─▶ bytes ─parse (input format)─▶ Document ─pipeline─▶ Result
      ─render (each output format)─▶ encrypt (age) ─▶ outbox/<key><suffix>.age (tmp, fsync, replace,
      fsync dir) ─▶ ledger/<key> ─▶ work file deleted or archived (encrypted)
      on failure: ─▶ failed/x + x.error.json (reason code), or a retry with backoff

The parts, one job each:

* ``intake.Intake``: watcher events, settle tracker, periodic rescan, claim; recovered and retried items;
* ``processing.Processor``: one claimed input → one ``outcome.Outcome`` (no logging);
* ``policy.FailurePolicy``: the one place where a failure becomes a ``Reason``, a retry or a quarantine;
* ``status.StatusReporter`` and ``status.Heartbeat``: status file, sd_notify, watchdog keep-alives;
* ``service.Daemon``: lifecycle, signals, and the work loop that runs the phases in order.
"""

from __future__ import annotations

from .outcome import Decision, Outcome
from .policy import FailurePolicy
from .processing import PipelineLike, Processor
from .service import ColdStop, Daemon, PipelineLoader, default_loader

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
