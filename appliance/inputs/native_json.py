"""The appliance's own ``.json`` shape: one object with exactly ``id``, ``text`` and optionally
``language``, ``metadata``.

The shape is documented in docs/integration.md. Field *names* other than the four are document content
as much as values, so they are never echoed in a message.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from ..document import Document
from ..errors import InputError
from ..reasons import Reason
from .decoding import check_controls, check_id
from .jsonload import check_language, json_type
from .registry import ParseLimits

#: The accepted fields; any other is refused (``json_unknown_field``) so a misspelt ``Text`` is not ignored.
FIELDS = frozenset({"id", "language", "text", "metadata"})
#: What the shape needs, for the message that refuses a ``.json`` of no known shape.
NEEDS = "the appliance's shape needs 'id' and 'text' (optional 'language', 'metadata')"


def _resembles(key: str) -> str | None:
    """The field ``key`` is or resembles (a misspelling), or None."""
    match = difflib.get_close_matches(key.lower(), FIELDS, n=1, cutoff=0.7)
    return match[0] if match else None


def matches(data: dict[str, Any]) -> bool:
    """True when the object is meant as this shape: one of its keys is a field of it or a misspelling
    of one (so a misspelt ``Text`` gets its own message, not a 'no known shape' one)."""
    return any(_resembles(k) for k in data)


def from_data(data: dict[str, Any], name: str, limits: ParseLimits) -> Document:
    """A loaded JSON object (see ``jsonload.load_object``) of ``name`` → ``Document``; ``limits`` bounds
    the serialised metadata size.

    Raises ``InputError``: ``json_unknown_field``, ``json_field``, ``bad_id``, ``whitespace_only``,
    ``binary`` (control characters in ``text``), ``bad_language``, ``metadata_too_large``. The language
    code is lower-cased.
    """
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        # Only the allowed name a misspelling resembles is shown.
        hints = sorted({m for k in unknown if (m := _resembles(k))})
        hint = f" (did you mean {', '.join(repr(h) for h in hints)}?)" if hints else ""
        raise InputError(
            Reason.JSON_UNKNOWN_FIELD,
            f"{len(unknown)} unknown field(s){hint}; allowed: id, language, text, metadata "
            "(unknown names are not shown: they may be document content)",
        )
    for key in ("id", "text"):
        if key not in data:
            raise InputError(Reason.JSON_FIELD, f"field '{key}' is missing")
        if not isinstance(data[key], str):
            raise InputError(
                Reason.JSON_FIELD, f"field '{key}' must be a string, not {json_type(data[key])}"
            )
    doc_id = check_id(data["id"])
    body = data["text"]
    if not body.strip():
        raise InputError(Reason.WHITESPACE_ONLY, "field 'text' is empty or only whitespace")
    check_controls(body, "field 'text'")
    language = check_language(data.get("language"))
    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise InputError(Reason.JSON_FIELD, f"field 'metadata' must be an object, not {json_type(metadata)}")
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    if size > limits.max_metadata_bytes:
        raise InputError(
            Reason.METADATA_TOO_LARGE, f"metadata is {size} bytes; the limit is {limits.max_metadata_bytes}"
        )
    return Document(id=doc_id, text=body, language=language, metadata=metadata, source_name=name)
