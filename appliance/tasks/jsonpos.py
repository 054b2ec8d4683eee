"""Find the line of a value inside JSON text, given its path (as pydantic reports errors).

The standard ``json`` module keeps no positions, so this is a small scanner that walks the text
along the path. It only needs to be right for text that ``json.loads`` already accepted.
"""

from __future__ import annotations

import json
from typing import Sequence

_decoder = json.JSONDecoder()
_WS = " \t\r\n"


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _skip_value(text: str, i: int) -> int:
    _, end = _decoder.raw_decode(text, i)
    return end


def _find_in_object(text: str, i: int, key: str) -> int | None:
    i = _skip_ws(text, i + 1)  # after '{'
    while i < len(text) and text[i] != "}":
        k, i = _decoder.raw_decode(text, i)
        i = _skip_ws(text, i)
        i = _skip_ws(text, i + 1)  # after ':'
        if k == key:
            return i
        i = _skip_ws(text, _skip_value(text, i))
        if text[i] == ",":
            i = _skip_ws(text, i + 1)
    return None


def _find_in_array(text: str, i: int, index: int) -> int | None:
    i = _skip_ws(text, i + 1)  # after '['
    n = 0
    while i < len(text) and text[i] != "]":
        if n == index:
            return i
        i = _skip_ws(text, _skip_value(text, i))
        if text[i] == ",":
            i = _skip_ws(text, i + 1)
        n += 1
    return None


def locate(text: str, path: Sequence[str | int]) -> int:
    """1-based line of the deepest part of ``path`` that exists in ``text`` (else of its first value).

    ``path`` is a pydantic error location: object keys (str) and array indices (int). ``text`` should
    be JSON that ``json.loads`` accepts; scanning errors on other text are swallowed and give the best
    line found so far. Never raises.
    """
    i = _skip_ws(text, 0)
    best = i
    try:
        for part in path:
            if i >= len(text):
                break
            if text[i] == "{" and isinstance(part, str):
                nxt = _find_in_object(text, i, part)
            elif text[i] == "[" and isinstance(part, int):
                nxt = _find_in_array(text, i, part)
            else:
                nxt = None
            if nxt is None:
                break
            i = best = nxt
    except (ValueError, IndexError):
        pass
    return text.count("\n", 0, best) + 1
