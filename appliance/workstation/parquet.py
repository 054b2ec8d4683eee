"""The Parquet form of the research table (pyarrow, the ``table`` extra: a workstation's, not the box's).

Columns are typed: value columns by the feature's type in its task (boolean → bool, enum → string,
number → double, string_list → list of string), confidences double, ``created`` a UTC timestamp,
the rest string. Rows are buffered and written as one row group per :data:`ROW_GROUP` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..tasks import Task

ROW_GROUP = 1000


def value_types(tasks: Sequence[Task], keys: Sequence[str]) -> dict[str, str]:
    """Feature key → feature type (``boolean``...), for every key of ``keys``.

    Raises ValueError when two tasks give one key different types, or no task has a key.
    """
    types: dict[str, str] = {}
    for t in tasks:
        for f in t.features:
            if types.setdefault(f.key, f.type) != f.type:
                raise ValueError(f"feature {f.key!r} is a {types[f.key]} in one task and a {f.type} in another")
    lacking = [k for k in keys if k not in types]
    if lacking:
        raise ValueError(f"no task types the feature(s) {', '.join(lacking)}")
    return types


def _arrow_type(pa: Any, column: str, types: dict[str, str]) -> Any:
    if column == "language_detected":
        return pa.bool_()
    if column == "created":
        return pa.timestamp("us", tz="UTC")
    key, _, part = column.rpartition("__")
    if key and part == "confidence":
        return pa.float64()
    if key and part == "value":
        return {"boolean": pa.bool_(), "enum": pa.string(), "number": pa.float64(),
                "string_list": pa.list_(pa.string())}[types[key]]
    return pa.string()


class ParquetSink:
    """Rows to a Parquet file through ``pyarrow.parquet.ParquetWriter``, one row group per ROW_GROUP rows."""

    def __init__(self, path: Path, columns: list[str], types: dict[str, str]) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError("writing .parquet needs pyarrow: pip install 'clinical-appliance[table]'") from None
        self.pa = pa
        self.columns = columns
        self.schema = pa.schema([(c, _arrow_type(pa, c, types)) for c in columns])
        self.writer = pq.ParquetWriter(str(path), self.schema)
        self.floats = {c for c in columns if self.schema.field(c).type == pa.float64()}
        self.buffer: dict[str, list[Any]] = {c: [] for c in columns}
        self.buffered = 0

    def add(self, row: dict[str, Any]) -> None:
        """Buffer one row; write a row group when ROW_GROUP rows are buffered."""
        for c in self.columns:
            v = row.get(c)
            self.buffer[c].append(float(v) if c in self.floats and v is not None else v)
        self.buffered += 1
        if self.buffered >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.buffered:
            self.writer.write_table(self.pa.Table.from_pydict(self.buffer, schema=self.schema))
            self.buffer = {c: [] for c in self.columns}
            self.buffered = 0

    def close(self) -> None:
        """Write the last row group and the footer."""
        self._flush()
        self.writer.close()
