"""``.json``: one UTF-8 JSON object with exactly ``id``, ``text`` and optionally ``language``, ``metadata``.

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
from .decoding import check_controls, check_id, decode_text
from .registry import ParseLimits

#: The accepted fields; any other is refused (``json_unknown_field``) so a misspelt ``Text`` is not ignored.
FIELDS = frozenset({"id", "language", "text", "metadata"})
#: Codes that are valid BCP-47 but name no language a transcript can be in (RFC 5646 § 2.2.1 and
#: ISO 639-2: undetermined, uncoded, multiple, no linguistic content).
_NOT_A_LANGUAGE = frozenset({"und", "mis", "mul", "zxx"})


def parse(raw: bytes, name: str, limits: ParseLimits) -> Document:
    """Bytes of ``name`` → ``Document``; ``limits`` bounds nesting and the serialised metadata size.

    Raises ``InputError``: the codes of ``decode_text``, ``whitespace_only``, ``invalid_json``
    (also for ``NaN``/``Infinity``), ``json_duplicate_key``, ``json_too_deep``, ``json_not_object``,
    ``json_unknown_field``, ``json_field``, ``bad_id``, ``binary`` (control characters in ``text``),
    ``bad_language``, ``metadata_too_large``. The language code is lower-cased.
    """
    max_depth = limits.max_json_depth
    text = decode_text(raw)
    if not text.strip():
        raise InputError(Reason.WHITESPACE_ONLY, "input is empty or only whitespace")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InputError(
            Reason.INVALID_JSON, f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    except RecursionError:
        raise InputError(Reason.JSON_TOO_DEEP, f"JSON nests deeper than {max_depth} levels") from None
    _depth(data, max_depth)
    if not isinstance(data, dict):
        raise InputError(
            Reason.JSON_NOT_OBJECT, f"top level is a JSON {type(data).__name__}, not an object"
        )
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        # Only the allowed name a misspelling resembles is shown.
        hints = sorted(
            {m for k in unknown for m in difflib.get_close_matches(k.lower(), FIELDS, n=1, cutoff=0.7)}
        )
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
                Reason.JSON_FIELD, f"field '{key}' must be a string, not {_json_type(data[key])}"
            )
    doc_id = check_id(data["id"])
    body = data["text"]
    if not body.strip():
        raise InputError(Reason.WHITESPACE_ONLY, "field 'text' is empty or only whitespace")
    check_controls(body, "field 'text'")
    language = data.get("language")
    if language is not None:
        if not isinstance(language, str):
            raise InputError(
                Reason.JSON_FIELD, f"field 'language' must be a string or null, not {_json_type(language)}"
            )
        language = check_language(language)
    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise InputError(Reason.JSON_FIELD, f"field 'metadata' must be an object, not {_json_type(metadata)}")
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    if size > limits.max_metadata_bytes:
        raise InputError(
            Reason.METADATA_TOO_LARGE, f"metadata is {size} bytes; the limit is {limits.max_metadata_bytes}"
        )
    return Document(id=doc_id, text=body, language=language, metadata=metadata, source_name=name)


def check_language(code: str) -> str:
    """Return ``code`` lower-cased if it is a valid BCP-47 tag (RFC 5646, hyphen-separated) whose
    every subtag is in the IANA language-subtag registry (``langcodes.tag_is_valid``) and whose
    language is a real one: not private use (``qaa``–``qtz``, ``x-…``) nor ``und``/``mis``/``mul``/``zxx``.

    Raises ``InputError`` ``bad_language`` (the message never quotes the code: it may be content).
    """
    import langcodes  # (IANA registry data; imported on first use)

    hint = "a language code such as 'en', 'fa', 'pt-BR' (or null to detect the language)"
    if not code.isascii() or "_" in code or not langcodes.tag_is_valid(code):
        raise InputError(Reason.BAD_LANGUAGE, f"field 'language' is not a valid BCP-47 tag; give {hint}")
    primary = (langcodes.Language.get(code).language or "").lower()
    if not primary or primary in _NOT_A_LANGUAGE or "qaa" <= primary <= "qtz" or primary.startswith("x-"):
        raise InputError(Reason.BAD_LANGUAGE, f"field 'language' names no known language; give {hint}")
    return code.lower()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise InputError(Reason.JSON_DUPLICATE_KEY, "a JSON object repeats a key")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise InputError(Reason.INVALID_JSON, f"JSON contains {name}, which is not valid JSON")


def _depth(value: Any, limit: int, level: int = 1) -> None:
    if level > limit:
        raise InputError(Reason.JSON_TOO_DEEP, f"JSON nests deeper than {limit} levels")
    if isinstance(value, dict):
        for v in value.values():
            _depth(v, limit, level + 1)
    elif isinstance(value, list):
        for v in value:
            _depth(v, limit, level + 1)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)
