"""``evaluate``: run the daemon's own ``Pipeline`` over a labelled set and measure it.

There is no second extraction code path: each labelled line becomes the same ``Document`` the daemon
builds, goes through ``Pipeline.process``, and its ``Result`` is cached and scored. The rule baseline runs
through the very same ``Pipeline`` with ``strategy='rules'``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from .. import __version__
from ..document import Document
from ..errors import ApplianceError, InputError
from ..result import Result
from ..settings import PipelineSettings
from ..tasks import Task, load_task
from .cache import PredictionCache, fingerprint, record_from_error, record_from_result
from .data import LabelledDocument, file_sha256, load_labelled, select
from .scoring import DEFAULT_REPLICATES, DEFAULT_SEED, RunArrays, build_arrays, score_run
from .split import SPLIT_RULE, SplitChoice
from .study import STUDY_REFERENCE, STUDY_TABLE

log = logging.getLogger(__name__)

REPORT_FORMAT = "appliance-evaluation/1"
RUN_FILES = {"run": "predictions.jsonl", "baseline": "baseline.jsonl"}
DOCUMENTS_FILE = "documents.jsonl"


class PipelineLike(Protocol):
    """What evaluation needs of a pipeline (``appliance.pipeline.Pipeline`` is one; tests pass fakes)."""

    def process(self, doc: Document) -> Result:
        """One document to its Result; an ApplianceError when the document is refused."""
        ...

    def describe(self) -> dict:
        """JSON-able description of everything that decides the predictions (no timings or temp paths)."""
        ...

    def close(self) -> None:
        """Release the loaded models."""
        ...


PipelineFactory = Callable[[PipelineSettings], PipelineLike]


class Instrument(Protocol):
    """Hooks on a loaded pipeline for a run that records more than the results (e.g. the hybrid's traces,
    ``appliance.evaluate.traces``): ``describe`` maps ``pipeline.describe()`` to what the cache
    fingerprint is computed from; ``extra()`` is called after each processed document and its fields are
    added to that document's cache record (numbers and codes only: no text)."""

    def describe(self, describe: dict[str, Any]) -> dict[str, Any]:
        """What the fingerprint covers."""
        ...

    def extra(self) -> dict[str, Any]:
        """Fields to add to the record of the document just processed."""
        ...


def default_pipeline_factory(settings: PipelineSettings) -> PipelineLike:
    """The daemon's own ``Pipeline`` loaded with ``settings`` (BundleError when a bundle cannot load)."""
    from ..pipeline import Pipeline  # the daemon's pipeline: one code path

    return Pipeline.load(settings)


@dataclass
class EvaluationOutcome:
    """What :func:`evaluate` did: the report dict, the files written and per-run bookkeeping.

    ``files`` maps a file name (``report.json``, ``report.md``, ``report.png``) to its path; ``notes`` are
    remarks for the user; ``cached``/``processed`` count documents reused from the cache/newly run, and
    ``arrays`` holds the scored arrays, each keyed by run name ('run', 'baseline').
    """

    report: dict[str, Any]
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cached: dict[str, int] = field(default_factory=dict)
    processed: dict[str, int] = field(default_factory=dict)
    arrays: dict[str, RunArrays] = field(default_factory=dict)


def run_label(settings: PipelineSettings) -> str:
    """Display label of a run: 'rule baseline', or ``EXTRACTOR (STRATEGY)`` plus the translate policies
    other than 'never' (e.g. ``qwen2.5-1.5b (hybrid), translate fa=always``)."""
    if settings.strategy == "rules":
        return "rule baseline"
    label = f"{Path(settings.extractor).name} ({settings.strategy})"
    translating = sorted(f"{k}={v}" for k, v in settings.translate.items() if v != "never")
    if translating:
        label += f", translate {' '.join(translating)}"
    return label


def boolean_keys(task: Task) -> tuple[list[str], dict[str, str]]:
    """(the task's boolean feature keys in order, {other key: why it is not scored}); only booleans are
    scored."""
    keys = [f.key for f in task.features if f.type == "boolean"]
    skipped = {f.key: f"type '{f.type}' (only booleans are scored)" for f in task.features if f.type != "boolean"}
    return keys, skipped


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_documents(path: Path, all_docs: Sequence[LabelledDocument], evaluated: set[str], keys: Sequence[str]) -> None:
    """Every document of the labelled file (id, split, text hash, labels; ``evaluated`` marks the ones in
    the report). ``compare`` reads the evaluated ones; ``calibrate`` may use any with cached predictions."""
    lines = [
        json.dumps({"id": d.id, "split": d.split, "text_sha256": d.text_sha256, "language": d.language,
                    "evaluated": d.id in evaluated, "labels": {k: d.labels.get(k) for k in keys}},
                   sort_keys=True, ensure_ascii=False)
        for d in sorted(all_docs, key=lambda d: d.id)
    ]
    _write_atomic(path, "\n".join(lines) + "\n")


def predict(
    docs: Sequence[LabelledDocument],
    settings: PipelineSettings,
    cache_path: Path,
    task: Task,
    keys: list[str],
    *,
    factory: PipelineFactory,
    progress: bool = True,
    desc: str = "evaluate",
    instrument: Callable[[PipelineLike], Instrument] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], str, int, int]:
    """Predictions for ``docs`` (cached ones reused). Returns (id → record, describe, fingerprint, hits, new).

    Each new record is appended to the cache at ``cache_path`` as soon as it is made; a document the
    pipeline refuses (ApplianceError) is recorded with every feature of ``keys`` missing. Other exceptions
    propagate. The pipeline is closed on return. ``instrument(pipeline)``, when given, returns the hooks
    (``Instrument``) that shape the fingerprint and add fields to each new record.
    """
    pipeline = factory(settings)
    try:
        describe = pipeline.describe()
        hooks = instrument(pipeline) if instrument is not None else None
        fp = fingerprint(hooks.describe(describe) if hooks else describe, task.content_hash)
        cache = PredictionCache(cache_path, fp)
        records: dict[str, dict[str, Any]] = {}
        todo: list[LabelledDocument] = []
        for d in docs:
            rec = cache.get(d.id, d.text_sha256)
            if rec is None:
                todo.append(d)
            else:
                records[d.id] = rec
        hits = len(records)
        log.info("%s: %d documents, %d cached, %d to process", desc, len(docs), hits, len(todo))
        with tqdm(total=len(docs), initial=hits, desc=desc, unit="doc", disable=not progress,
                  file=sys.stderr, dynamic_ncols=True) as bar:
            for d in todo:
                try:
                    result = pipeline.process(d.document())
                    rec = record_from_result(result, d.id, d.text_sha256, fp)
                    if hooks is not None:
                        rec.update(hooks.extra())
                except ApplianceError as e:
                    log.warning("%s: document %s refused by the pipeline (%s)", desc, d.id, type(e).__name__)
                    rec = record_from_error(e, d.id, d.text_sha256, fp, keys)
                cache.append(rec)
                records[d.id] = rec
                bar.update(1)
        return records, describe, fp, hits, len(todo)
    finally:
        pipeline.close()


def evaluate(
    data: str | Path | Sequence[LabelledDocument],
    settings: PipelineSettings,
    out_dir: str | Path,
    *,
    split: SplitChoice = "all",
    limit: int | None = None,
    baseline: bool = True,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
    plot: bool = True,
    pipeline_factory: PipelineFactory | None = None,
) -> EvaluationOutcome:
    """Run ``settings``' pipeline (and the rule baseline) over a labelled set; write the report files.

    ``out_dir`` holds the prediction caches, so running the same command again resumes (or, when all is
    cached, just rewrites the report) — and reproduces the same ``report.json``.

    ``data`` is a labelled JSONL path or the documents themselves; ``split``/``limit`` select from them
    (see :func:`~appliance.evaluate.data.select`); ``replicates``/``seed`` drive the bootstrap intervals.
    Raises InputError when the selection is empty (``empty``) or no document has a boolean label of the
    task's features (``no_common_features``), TaskError for a bad task, and whatever loading the
    pipeline raises.
    """
    factory = pipeline_factory or default_pipeline_factory
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(data, (str, Path)):
        data_path: Path | None = Path(data)
        all_docs = load_labelled(data_path)
    else:
        data_path, all_docs = None, list(data)
    docs = select(all_docs, split, limit)
    if not docs:
        raise InputError("empty", f"no documents in split '{split}'")
    task = load_task(settings.task)
    keys, skipped = boolean_keys(task)
    if not any(isinstance(d.labels.get(k), bool) for d in docs for k in keys):
        raise InputError(
            "no_common_features",
            f"the labels share no boolean feature with task '{task.name}' ({', '.join(keys)}): wrong --task?",
        )
    runs: list[tuple[str, PipelineSettings]] = [("run", settings)]
    notes: list[str] = []
    if baseline and settings.strategy != "rules":
        # The baseline reads the original text (no translator): the same reference for native and
        # translated runs, and the rules carry their own per-language lexicons.
        runs.append(("baseline", settings.model_copy(
            update={"strategy": "rules", "translator": None, "translate": {"*": "never"}})))
    elif baseline:
        notes.append("the run itself is the rule baseline: no separate baseline")

    outcome = EvaluationOutcome(report={}, out_dir=out, notes=notes)
    labels = {f.key: f.label("en") for f in task.features}
    doc_rows = [(d.id, d.split, d.labels) for d in docs]
    run_reports: dict[str, Any] = {}
    for name, s in runs:
        records, describe, fp, hits, new = predict(
            docs, s, out / RUN_FILES[name], task, keys, factory=factory, progress=progress,
            desc="rule baseline" if name == "baseline" else "evaluate",
        )
        arrays = build_arrays(doc_rows, records, keys)
        outcome.arrays[name] = arrays
        outcome.cached[name], outcome.processed[name] = hits, new
        run_reports[name] = {
            "label": run_label(s),
            "settings": s.model_dump(mode="json"),
            "pipeline": json.loads(json.dumps(describe, default=str)),
            "fingerprint": fp,
            "predictions": RUN_FILES[name],
            **score_run(arrays, replicates=replicates, seed=seed, labels=labels),
        }

    splits = [d.split for d in docs]
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "app_version": __version__,
        "task": {"name": task.name, "version": task.version, "sha256": task.content_hash, "features": keys,
                 "skipped": skipped},
        "data": {
            "path": str(data_path) if data_path else None,
            "sha256": file_sha256(data_path) if data_path else None,
            "documents": len(all_docs),
        },
        "split": split,
        "split_rule": SPLIT_RULE,
        "limit": limit,
        "documents": {"evaluated": len(docs), "dev": splits.count("dev"), "test": splits.count("test")},
        "runs": run_reports,
        "study": {"reference": STUDY_REFERENCE, "columns": ["model", "macro_f1", "mcc", "sensitivity", "specificity"],
                  "table": [list(r) for r in STUDY_TABLE]},
    }
    if split == "all":
        notes.append("split 'all' includes the development split: report figures from '--split test'")
    outcome.report = report
    write_documents(out / DOCUMENTS_FILE, all_docs, {d.id for d in docs}, keys)
    outcome.files.update(write_report(report, out, outcome.arrays, plot=plot, notes=notes))
    return outcome


def write_report(
    report: dict[str, Any], out: Path, arrays: dict[str, RunArrays], *, plot: bool = True,
    notes: list[str] | None = None,
) -> dict[str, Path]:
    """Write ``report.json`` and ``report.md`` (atomically) and, with ``plot``, ``report.png`` into ``out``.

    Returns file name → path of what was written. Without matplotlib the plot is skipped and a note
    appended to ``notes``.
    """
    from .report import render_markdown, write_plot

    files = {"report.json": out / "report.json", "report.md": out / "report.md"}
    _write_atomic(files["report.json"], json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
    _write_atomic(files["report.md"], render_markdown(report))
    if plot:
        png = out / "report.png"
        try:
            write_plot(report, arrays, png)
            files["report.png"] = png
        except ModuleNotFoundError as e:
            if notes is not None:
                notes.append(
                    f"report.png skipped: {e.name} is not installed (pip install 'clinical-appliance[evaluate]')"
                )
    return files
