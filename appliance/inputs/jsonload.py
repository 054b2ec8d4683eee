"""Strict JSON loading shared by the ``.json`` input shapes: one object, no duplicate keys, no
``NaN``/``Infinity``, bounded nesting; and the checks both shapes make on their fields.

Field *names* other than a shape's own are document content as much as values, so they are never
echoed in a message.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InputError
from ..reasons import Reason
from .decoding import decode_text

#: Codes that are valid BCP-47 but name no language a transcript can be in (RFC 5646 § 2.2.1 and
#: ISO 639-2: undetermined, uncoded, multiple, no linguistic content).
_NOT_A_LANGUAGE = frozenset({"und", "mis", "mul", "zxx"})


def load_object(raw: bytes, max_depth: int) -> dict[str, Any]:
    """Bytes → the top-level JSON object, nesting at most ``max_depth`` levels.

    Raises ``InputError``: the codes of ``decode_text``, ``whitespace_only``, ``invalid_json`` (also for
    ``NaN``/``Infinity``), ``json_duplicate_key``, ``json_too_deep``, ``json_not_object``.
    """
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
    return data


def check_language(language: Any) -> str | None:
    """The ``language`` field, lower-cased, or None when absent/null. Raises ``InputError``
    ``json_field`` (not a string) or ``bad_language`` (see ``check_language_code``)."""
    if language is None:
        return None
    if not isinstance(language, str):
        raise InputError(
            Reason.JSON_FIELD, f"field 'language' must be a string or null, not {json_type(language)}"
        )
    return check_language_code(language)


def check_language_code(code: str) -> str:
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


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (``null``, ``boolean``, ``number``, ``string``, ``array``,
    ``object``), for messages."""
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
