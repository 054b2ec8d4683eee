"""The reviewed calls as a labelled set: the JSONL that ``appliance evaluate --data`` and
``appliance-export finetune --data`` read (``appliance.evaluate.data``).

One line per finished call whose transcript was available::

    {"id": KEY, "text": ..., "language": "fa", "labels": {feature: true/false},
     "label_status": {feature: "present"/"absent"/"not_mentioned"}, "reviewer": ..., "reviewed_at": ...,
     "input_id": ..., "audit": true/false}

``id`` is the result key (``<id slug>.<16 hex digits>``): unique and stable, so a call stays on the same
side of the fixed dev/test split (``appliance.evaluate.split``) however the file grows. The reviewer's
three choices map to labels as :data:`LABEL_OF`. ``text`` is the input as the box read it (the same
``Document.text`` its pipeline saw), so evaluating on this file measures what the box does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..durable import durable_write
from .labels import ItemState

LABEL_OF: dict[str, bool] = {"present": True, "absent": False, "not_mentioned": False}


def labelled_record(state: ItemState, text: str, language: str | None, features: list[str]) -> dict[str, Any]:
    """The labelled line of one finished call; ``features`` are the boolean features reviewed (a feature
    without a choice is ``null``: unlabelled)."""
    snap = state.snapshot or {}
    return {
        "id": state.key,
        "text": text,
        "language": language,
        "labels": {f: LABEL_OF.get(state.labels.get(f, ""), None) for f in features},
        "label_status": {f: state.labels[f] for f in features if f in state.labels},
        "reviewer": state.done_by,
        "reviewed_at": state.done_at,
        "input_id": snap.get("input_id"),
        "audit": bool(snap.get("audit")),
    }


def read_dataset(path: Path) -> dict[str, dict[str, Any]]:
    """id → record of an existing labelled file (lines that do not parse are ignored: the label log is the
    source of truth and the file is rebuilt from it); {} when the file does not exist."""
    out: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("id"), str) and isinstance(rec.get("text"), str):
            out[rec["id"]] = rec
    return out


def write_dataset(path: Path, records: dict[str, dict[str, Any]]) -> int:
    """Write ``records`` (id → record), sorted by id, to ``path`` atomically (temporary file in the same
    folder, fsync, rename; mode 0600). Returns the number of lines."""
    lines = [json.dumps(records[k], ensure_ascii=False, sort_keys=True) for k in sorted(records)]
    durable_write(path, ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"), 0o600)
    return len(lines)
