"""Reading an ``evaluate --out`` folder back: its report, the documents it scored and their predictions.

A *run spec* names a folder, optionally with ``:baseline`` (or ``:run``, the default) to pick the rule
baseline recorded in that folder instead of the main run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .cache import iter_records
from .runner import DOCUMENTS_FILE
from .scoring import RunArrays, build_arrays


@dataclass
class LoadedRun:
    """One run of an ``evaluate --out`` folder, read back.

    ``dir`` is the folder, ``name`` 'run' or 'baseline', ``report`` the whole ``report.json``, ``run`` its
    ``runs[name]`` entry, ``arrays`` the labels and predictions of the selected documents.
    """

    dir: Path
    name: str
    report: dict[str, Any]
    run: dict[str, Any]
    arrays: RunArrays

    @property
    def label(self) -> str:
        """The run's display label from the report (e.g. its strategy and model), else its name."""
        return str(self.run.get("label", self.name))


def parse_spec(spec: str | Path) -> tuple[Path, str]:
    """(folder, run name) of a run spec: ``DIR``, ``DIR:run`` or ``DIR:baseline``; 'run' by default.

    Any other ``:suffix`` stays part of the folder path.
    """
    s = str(spec)
    head, sep, tail = s.rpartition(":")
    if sep and tail in ("run", "baseline") and head:
        return Path(head), tail
    return Path(s), "run"


def load_run(spec: str | Path, *, cached: bool = False) -> LoadedRun:
    """The run named by ``spec``: the documents of its report, or with ``cached=True`` every document of
    the labelled file that has a cached prediction of this run's pipeline (calibration uses this, so a
    folder whose report was narrowed to ``--split test`` still offers its development predictions).

    Only cached predictions of the run's pipeline fingerprint and of the same text (sha256) count.
    Raises InputError ``not_a_run`` (no ``report.json`` or documents file), ``no_such_run`` (the report
    lacks that run) or ``inconsistent_run`` (the documents file does not match the report's count).
    """
    folder, name = parse_spec(spec)
    report_path = folder / "report.json"
    if not report_path.is_file():
        raise InputError("not_a_run", f"{folder}: no report.json (is this an 'appliance evaluate --out' folder?)")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    runs = report.get("runs") or {}
    if name not in runs:
        raise InputError("no_such_run", f"{folder}: has no '{name}' run (it has: {', '.join(runs) or 'none'})")
    run = runs[name]
    docs_path = folder / DOCUMENTS_FILE
    if not docs_path.is_file():
        raise InputError("not_a_run", f"{folder}: {DOCUMENTS_FILE} is missing")
    docs = [json.loads(line) for line in docs_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    evaluated = [d for d in docs if d.get("evaluated", True)]
    if len(evaluated) != (report.get("documents") or {}).get("evaluated"):
        raise InputError("inconsistent_run", f"{folder}: {DOCUMENTS_FILE} does not match report.json: run evaluate again")
    want = {(d["id"], d["text_sha256"]) for d in (docs if cached else evaluated)}
    records = {
        r["id"]: r
        for r in iter_records(folder / run["predictions"])
        if r["pipeline"] == run["fingerprint"] and (r["id"], r["text_sha256"]) in want
    }
    docs = [d for d in docs if d["id"] in records] if cached else evaluated
    keys = list(report["task"]["features"])
    arrays = build_arrays([(d["id"], d["split"], d["labels"]) for d in docs], records, keys)
    return LoadedRun(dir=folder, name=name, report=report, run=run, arrays=arrays)
