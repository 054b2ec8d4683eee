"""The research table: many encrypted results → one row per transcript, as CSV or Parquet.

Streams: one result is decrypted, turned into a row and written before the next is read (CSV row by
row; Parquet in row groups, :mod:`appliance.workstation.parquet`), so any number of files fits in
memory. The
table is written to a hidden temporary file in the target folder (mode 0600: it holds patient-
derived values) and renamed into place only when complete.

Columns: :data:`BASE_COLUMNS`, then per feature ``<key>__value``, ``__status``, ``__reason`` and
``__confidence``. A ``missing`` feature has an empty value (CSV) or null (Parquet) and status
``missing``: never ``false``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ApplianceError
from ..resultvalues import ResultValues
from ..tasks import BUILTIN_TASKS, Task, load_task
from .reading import read_file, result_files

MODEL_ROLES = ("extractor", "translator", "rules")
BASE_COLUMNS = (
    "file", "input_id", "input_sha256", "source_name", "language", "language_detected", "created", "task",
    "task_version", "task_sha256", "strategy", "app_version", "prompt_hash",
    *(c for role in MODEL_ROLES for c in (role, f"{role}_hash")),
)
FEATURE_FIELDS = ("value", "status", "reason", "confidence")


class TableError(ApplianceError):
    """The table cannot be made: mixed tasks, an unreadable result, an output that exists..."""


@dataclass
class TableReport:
    """What :func:`write_table` did: rows written, files skipped (second format of a result)."""

    rows: int = 0
    skipped: list[Path] = field(default_factory=list)


TaskId = tuple[str, str, tuple[str, ...]]


def task_id(v: ResultValues) -> TaskId:
    """A result's task as the table tells tasks apart: name, version and feature keys in order."""
    return (v.task, v.task_version, tuple(v.features))


def feature_columns(keys: Sequence[str]) -> list[str]:
    """The per-feature column names, in feature order."""
    return [f"{k}__{f}" for k in keys for f in FEATURE_FIELDS]


def row_of(path: Path, v: ResultValues, keys: Sequence[str]) -> dict[str, Any]:
    """One row: base columns, then each feature of ``keys`` (None where the result lacks it)."""
    row: dict[str, Any] = {
        "file": path.name, "input_id": v.input_id, "input_sha256": v.input_sha256, "source_name": v.source_name,
        "language": v.language, "language_detected": v.language_detected, "created": v.created, "task": v.task,
        "task_version": v.task_version, "task_sha256": v.task_sha256, "strategy": v.strategy,
        "app_version": v.app_version, "prompt_hash": v.prompt_hash,
    }
    for role in MODEL_ROLES:
        models = [m for m in v.models if m.role == role]
        row[role] = ";".join(m.name for m in models) or None
        row[f"{role}_hash"] = ";".join(m.bundle_hash for m in models) or None
    for k in keys:
        fr = v.features.get(k)
        row[f"{k}__value"] = fr.value if fr is not None and fr.status == "extracted" else None
        row[f"{k}__status"] = fr.status if fr is not None else None
        row[f"{k}__reason"] = fr.reason if fr is not None else None
        row[f"{k}__confidence"] = fr.confidence if fr is not None else None
    return row


def csv_cell(value: Any) -> str:
    """A CSV cell: None → empty, booleans ``true``/``false``, lists as JSON, times ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class _CsvSink:
    """Rows to a CSV file (RFC 4180 quoting, UTF-8, header first), one write per row."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.columns = columns
        self.fh = open(path, "w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.fh)
        self.writer.writerow(columns)

    def add(self, row: dict[str, Any]) -> None:
        self.writer.writerow([csv_cell(row.get(c)) for c in self.columns])

    def close(self) -> None:
        self.fh.close()


def resolve_task(tid: TaskId, given: Sequence[Task]) -> Task | None:
    """The task of ``tid`` among ``given`` (name and version), else the built-in of that name when its
    keys match, else None."""
    name, version, keys = tid
    for t in given:
        if (t.name, t.version) == (name, version):
            return t
    if name in BUILTIN_TASKS:
        t = load_task(name)
        if t.version == version and tuple(t.keys) == keys:
            return t
    return None


def _read_all(files: list[Path], identities: Sequence[Any]) -> Iterator[tuple[Path, ResultValues]]:
    for p in files:
        try:
            yield p, read_file(p, identities).values
        except ApplianceError as e:
            raise TableError(f"{p}: {e}") from None


def _scan_tasks(files: list[Path], identities: Sequence[Any]) -> tuple[list[TaskId], list[str]]:
    """First pass for mixed tasks: every task seen, and the union of feature keys in order."""
    tids: list[TaskId] = []
    keys: list[str] = []
    for _, v in _read_all(files, identities):
        tid = task_id(v)
        if tid not in tids:
            tids.append(tid)
            keys += [k for k in tid[2] if k not in keys]
    return tids, keys


def write_table(paths: Sequence[Path], identities: Sequence[Any], out: Path, *, allow_mixed_tasks: bool = False,
                tasks: Sequence[Task] = (), force: bool = False) -> TableReport:
    """Write the table of every result under ``paths`` to ``out`` (``.csv`` or ``.parquet``).

    One row per result file (:func:`~appliance.workstation.reading.result_files`: a result written in
    two formats counts once). Raises TableError when ``out`` exists (without ``force``), its folder
    does not, it has another suffix, a file cannot be decrypted or validated (the table is not
    written), results are of more than one task without ``allow_mixed_tasks``, or a Parquet table
    lacks a task to type its value columns (``tasks``: task files for tasks that are not built in).
    """
    kind = out.suffix.lower()
    if kind not in (".csv", ".parquet"):
        raise TableError(f"{out}: the table is written as .csv or .parquet")
    if out.exists() and not force:
        raise TableError(f"{out} exists (use --force to replace it)")
    if not out.parent.is_dir():
        raise TableError(f"{out.parent}: no such folder")
    files, skipped = result_files(paths)
    if not files:
        raise TableError("no result files found")
    report = TableReport(skipped=skipped)
    tids: list[TaskId] = []
    keys: list[str] | None = None
    if allow_mixed_tasks:
        tids, keys = _scan_tasks(files, identities)
    tmp = out.parent / f".{out.name}.tmp"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))  # private before any byte is in it
    sink: Any = None
    try:
        for path, v in _read_all(files, identities):
            tid = task_id(v)
            if keys is None:
                tids, keys = [tid], list(tid[2])
            elif tid not in tids:
                raise TableError(
                    f"{path}: results of more than one task ({tids[0][0]} v{tids[0][1]} and {tid[0]} v{tid[1]}, "
                    "or the same task with other features); use --allow-mixed-tasks to put them in one table"
                )
            if sink is None:
                columns = [*BASE_COLUMNS, *feature_columns(keys)]
                sink = _CsvSink(tmp, columns) if kind == ".csv" else _parquet_sink(tmp, columns, keys, tids, tasks)
            sink.add(row_of(path, v, keys))
            report.rows += 1
        sink.close()
        sink = None
        os.replace(tmp, out)
    except BaseException:
        if sink is not None:
            try:
                sink.close()
            except Exception:  # already failing: the first error is the one to report
                pass
        tmp.unlink(missing_ok=True)
        raise
    return report


def _parquet_sink(tmp: Path, columns: list[str], keys: list[str], tids: list[TaskId],
                  tasks: Sequence[Task]) -> Any:
    """A Parquet writer on ``tmp`` with value columns typed from the tasks' feature types."""
    from .parquet import ParquetSink, value_types

    resolved: list[Task] = []
    for tid in tids:
        t = resolve_task(tid, tasks)
        if t is None:
            raise TableError(
                f"results of task {tid[0]} v{tid[1]}: give its task file (--task FILE) so the Parquet table can "
                "type its value columns (or write .csv)"
            )
        resolved.append(t)
    try:
        return ParquetSink(tmp, columns, value_types(resolved, keys))
    except (ValueError, ImportError) as e:
        raise TableError(str(e)) from None

