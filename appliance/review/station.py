"""The review station's service: what the web pages (and tests) call. No HTTP here.

It joins the decrypted results and transcripts (``source``), the review folder (``workspace``), the label
log (``labels``), the queue order (``queue``), quote placement (``highlight``), the labelled file
(``dataset``) and the agreement report (``agreement``). Labels are written to the log (fsync) before a
call returns; the labelled file is rewritten whenever a finished call changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..crypto import load_identities
from ..errors import TaskError
from ..language import is_right_to_left
from ..tasks import Task, load_task
from .agreement import Period, agreement_report
from .dataset import labelled_record, read_dataset, write_dataset
from .highlight import Line, Placement, place, segment_lines
from .labels import CHOICES, ItemState, LabelError, LabelStore
from .queue import Priority, decision_uncertainty, order, priority
from .results import FeatureView, ResultView
from .source import LoadedResult, ReviewSource, Transcript
from .workspace import Workspace



@dataclass(frozen=True)
class FeatureInfo:
    """A reviewed (boolean) feature: key, English label, definition (empty when the task is unknown) and
    the label in the transcript's language when the task has one (else empty)."""

    key: str
    label: str
    definition: str = ""
    local_label: str = ""


@dataclass
class EvidenceRow:
    """One evidence quote as shown: the quote, its source text, where it was placed (``placement``) and
    whether the box found it in its text."""

    quote: str
    source: str
    found_in_text: bool
    placement: Placement


@dataclass
class FeatureRow:
    """One feature on the page: the appliance's decision, the suggested choice (present for True; absent
    for False with a placed quote, i.e. the call mentions it; not mentioned for False without; none for a
    missing value), the current choice, the decision's uncertainty, its evidence."""

    info: FeatureInfo
    decision: FeatureView
    suggestion: str | None
    choice: str | None
    uncertainty: float
    evidence: list[EvidenceRow] = field(default_factory=list)


@dataclass
class ItemPage:
    """Everything the page of one call shows. ``lines``/``translation_lines`` are None when that text is
    not available; ``direction`` is 'rtl' or 'ltr' for the transcript's language."""

    key: str
    result: ResultView
    transcript: Transcript
    lines: list[Line] | None
    translation_lines: list[Line] | None
    direction: str
    features: list[FeatureRow]
    audit: bool
    state: ItemState | None
    position: int | None
    remaining: int


@dataclass(frozen=True)
class QueueRow:
    """One call in the queue: key, result, its priority, how many of its features are labelled, done."""

    key: str
    result: ResultView
    priority: Priority
    labelled: int
    features: int
    done: bool


class ReviewStation:
    """One reviewer's session over a results folder, an optional archive of inputs and a review folder.

    Build it with :meth:`open`. ``tasks`` maps task name → Task for tasks that are not built in.
    Thread-safe.
    """

    def __init__(self, source: ReviewSource, workspace: Workspace, reviewer: str,
                 tasks: dict[str, Task] | None = None) -> None:
        self.source = source
        self.workspace = workspace
        self.store = LabelStore(workspace.log_path)
        self.reviewer = reviewer
        self.tasks = dict(tasks or {})
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}

    @classmethod
    def open(cls, results: Path, inputs: Path | None, identity: Path, folder: Path, reviewer: str, *,
             task_files: tuple[Path, ...] = (), audit_rate: float | None = None,
             lock: bool = False) -> ReviewStation:
        """Load the task files and the identity, open (or create) the review folder, decrypt the results,
        rebuild the labelled file. With ``lock`` (a server), the folder's lock is taken before anything
        in it is written and is held on return (``workspace.unlock()`` releases it). Raises TaskError
        (task files) and CryptoError (identity) before the folder is touched, WorkspaceError (folder,
        or locked by another server), FileNotFoundError (results folder)."""
        tasks = {t.name: t for t in (load_task(p) for p in task_files)}
        identities = load_identities(identity)
        ws = Workspace.open(folder, lock=lock)
        try:
            if audit_rate is not None and audit_rate != ws.settings.audit_rate:
                ws.update_settings(audit_rate=audit_rate)
            station = cls(ReviewSource(results, inputs, identities), ws, reviewer, tasks)
            station.source.refresh()
            station.rebuild_dataset()
        except BaseException:
            ws.unlock()
            raise
        return station

    # -- features and decisions ----------------------------------------------------------------------
    def _task(self, name: str) -> Task | None:
        if name in self.tasks:
            return self.tasks[name]
        try:
            self.tasks[name] = load_task(name)
        except TaskError:
            return None
        return self.tasks[name]

    def features_of(self, result: ResultView) -> list[FeatureInfo]:
        """The boolean features reviewed for ``result``: its task's, in task order; for an unknown task
        (:meth:`unknown_tasks`), the features whose value is a boolean or missing."""
        task = self._task(result.provenance.task)
        lang = (result.language or "en").lower().split("-")[0]
        if task is not None:
            return [FeatureInfo(f.key, f.label("en"), f.definition, f.labels.get(lang, "") if lang != "en" else "")
                    for f in task.features if f.type == "boolean" and f.key in result.features]
        return [FeatureInfo(k, k) for k, f in result.features.items() if isinstance(f.value, bool) or f.value is None]

    def unknown_tasks(self) -> dict[str, int]:
        """Task name → number of results, for the tasks of loaded results that are neither built in nor
        given as task files. Their reviewed features are a guess (see :meth:`features_of`): a missing
        value of a number, enum or list feature cannot be told from a missing yes/no."""
        out: dict[str, int] = {}
        for loaded in self.source.snapshot().values():
            name = loaded.result.provenance.task
            if self._task(name) is None:
                out[name] = out.get(name, 0) + 1
        return dict(sorted(out.items()))

    def _priority(self, loaded: LoadedResult) -> Priority:
        s = self.workspace.settings
        return priority(loaded.key, loaded.result.features, [f.key for f in self.features_of(loaded.result)],
                        s.salt, s.audit_rate)

    def snapshot(self, loaded: LoadedResult) -> dict[str, Any]:
        """The item event's fields for ``loaded`` (decisions without quotes; no text)."""
        r = loaded.result
        return {
            "input_id": r.input_id, "input_sha256": r.input_sha256, "language": r.language,
            "created": r.created.isoformat(), "task": r.provenance.task, "model": r.model_label(),
            "models": [m.model_dump() for m in r.provenance.models], "audit": self._priority(loaded).audit,
            "features": {f.key: (r.features.get(f.key) or FeatureView()).snapshot() for f in self.features_of(r)},
        }

    # -- the queue -----------------------------------------------------------------------------------
    def refresh(self) -> int:
        """Pick up results (and archived inputs) that arrived since; returns how many results were new."""
        return self.source.refresh()

    def queue(self) -> list[QueueRow]:
        """Every call in review order: the calls still to finish first (see ``appliance.review.queue``),
        then the finished ones by key."""
        with self._lock:
            results = self.source.snapshot()
            prios = {k: self._priority(v) for k, v in results.items()}
            rows = []
            for key in order(list(prios.values()), self.workspace.settings.salt):
                st = self.store.items.get(key)
                n = len(self.features_of(results[key].result))
                rows.append(QueueRow(key, results[key].result, prios[key], len(st.labels) if st else 0, n,
                                     bool(st and st.done)))
            return [r for r in rows if not r.done] + [r for r in rows if r.done]

    def next_key(self, after: str | None = None) -> str | None:
        """The first unfinished call in review order other than ``after``; None when all are done."""
        for row in self.queue():
            if not row.done and row.key != after:
                return row.key
        return None

    # -- one call ------------------------------------------------------------------------------------
    def item(self, key: str) -> ItemPage:
        """The page of call ``key``. Raises KeyError for an unknown key."""
        loaded = self.source.results[key]
        r = loaded.result
        t = self.source.transcript(key)
        st = self.store.items.get(key)
        lang = t.language or r.language
        marks: dict[str, list[tuple[int, int, str]]] = {"original": [], "translation": []}
        texts = {"original": t.text, "translation": r.translation.text if r.translation else None}
        rows = []
        for info in self.features_of(r):
            fv = r.features.get(info.key) or FeatureView()
            evidence = []
            for ev in fv.evidence:
                text = texts.get(ev.source)
                src_lang = "en" if ev.source == "translation" else lang
                pl = place(text, ev, src_lang) if text is not None else Placement((), None, 0)
                for s, e in pl.spans:
                    marks[ev.source].append((s, e, info.key))
                evidence.append(EvidenceRow(ev.quote, ev.source, ev.found_in_text, pl))
            rows.append(FeatureRow(info, fv, _suggest(fv, evidence), st.labels.get(info.key) if st else None,
                                   decision_uncertainty(fv), evidence))
        queue = [q.key for q in self.queue() if not q.done]
        return ItemPage(
            key=key, result=r, transcript=t,
            lines=segment_lines(t.text, marks["original"]) if t.text is not None else None,
            translation_lines=(segment_lines(texts["translation"], marks["translation"])
                               if texts["translation"] else None),
            direction="rtl" if is_right_to_left(lang) else "ltr",
            features=rows, audit=self._priority(loaded).audit, state=st,
            position=queue.index(key) + 1 if key in queue else None, remaining=len(queue),
        )

    def _check(self, key: str, features: list[str]) -> LoadedResult:
        loaded = self.source.results.get(key)
        if loaded is None:
            raise LabelError("unknown call")
        known = {f.key for f in self.features_of(loaded.result)}
        unknown = sorted(set(features) - known)
        if unknown:
            raise LabelError(f"not a reviewed feature of this call: {', '.join(unknown)}")
        return loaded

    def set_label(self, key: str, feature: str, choice: str | None) -> ItemState:
        """Record one choice (None clears it), durably. Raises LabelError for an unknown call, feature or
        choice."""
        with self._lock:
            loaded = self._check(key, [feature])
            self.store.record_item(key, self.snapshot(loaded), self.reviewer)
            st = self.store.set_label(key, feature, choice, self.reviewer)
            if st.done:
                self._update_record(key)
            return st

    def complete(self, key: str, labels: dict[str, str], seconds: float | None = None) -> ItemState:
        """Finish call ``key`` with one choice per reviewed feature, durably, and update the labelled file.
        Raises LabelError when a feature lacks a choice or a choice/feature is unknown."""
        with self._lock:
            loaded = self._check(key, list(labels))
            lacking = [f.key for f in self.features_of(loaded.result) if labels.get(f.key) not in CHOICES]
            if lacking:
                raise LabelError(f"no choice yet for: {', '.join(lacking)}")
            self.store.record_item(key, self.snapshot(loaded), self.reviewer)
            st = self.store.complete(key, labels, self.reviewer, seconds)
            self._update_record(key)
            return st

    # -- the labelled file and the report ------------------------------------------------------------
    def _update_record(self, key: str, write: bool = True) -> None:
        st = self.store.items[key]
        loaded = self.source.results.get(key)
        text, language = None, None
        if loaded is not None:
            t = self.source.transcript(key)
            text, language = t.text, t.language
        if text is None and key in self._records:
            text, language = self._records[key]["text"], self._records[key].get("language")
        if text is None:
            return
        snap_features = list((st.snapshot or {}).get("features") or {})
        features = [f.key for f in self.features_of(loaded.result)] if loaded is not None else snap_features
        self._records[key] = labelled_record(st, text, language, features)
        if write:
            write_dataset(self.workspace.dataset_path, self._records)

    def rebuild_dataset(self) -> int:
        """Rewrite the labelled file from the label log (texts from the file itself, else decrypted again).
        Returns the number of calls in it."""
        with self._lock:
            old = read_dataset(self.workspace.dataset_path)
            self._records = {k: v for k, v in old.items() if k in self.store.items and self.store.items[k].done}
            for st in self.store.done_items():
                self._update_record(st.key, write=False)
            write_dataset(self.workspace.dataset_path, self._records)
            return len(self._records)

    def report(self, *, period: Period = "month", replicates: int = 1000) -> dict[str, Any]:
        """The agreement report of this folder's label log (see ``appliance.review.agreement``)."""
        return agreement_report(list(self.store.items.values()), self.workspace.settings.warn, period=period,
                                replicates=replicates, known_tasks=self.tasks)


def _suggest(fv: FeatureView, evidence: list[EvidenceRow]) -> str | None:
    if fv.status != "extracted" or not isinstance(fv.value, bool):
        return None
    if fv.value:
        return "present"
    return "absent" if any(e.placement.placed or e.found_in_text for e in evidence) else "not_mentioned"
