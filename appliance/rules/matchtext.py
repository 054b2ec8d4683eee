"""The text the target matcher reads, and the offset map back to the text the rules segmented.

``build_match_text(view, persian, shorthand, correct)`` starts from the speech view of the normalised
text (``speech.speech_view``: non-speech tags and cue times already blanked) folded like every lexicon
term (``lexicon.match_form``) and then, in that order of precedence where two overlap:

1. expands clinical shorthand (``shorthand/<language>.json``: ``N/V`` -> "nausea vomiting", ``SOB``
   -> "shortness of breath", ``c/o`` -> "complains of"; entries marked case-sensitive only as
   written, so "HA" is a headache and "ha" a laugh), each part of a ``/`` list aligned to its letter;
2. drops fillers (``speech.FILLERS``: "um", "uh") and a word or a two-word group said twice or more in a
   row ("my my stomach", "not great not great"), so "throw uh throw up" is a match of "throw up";
3. replaces a misspelt word by the lexicon word ``correct`` returns (``fuzzy``);
4. squeezes the runs of spaces left by blanked tags to one (a phrase broken by "[inaudible]" still
   matches).

``MatchText.back`` maps every character of the match text to an offset in the view (monotonic), so a
match maps back to a verbatim slice of the user's text; an expansion maps each of its words to the
source letter or word it came from.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy

from .lexicon import match_form
from .speech import FILLERS


@dataclass(frozen=True)
class MatchText:
    """The match text and, per character (plus one past the end), its offset in the source view."""

    text: str
    back: numpy.ndarray  # int64, len(text) + 1, non-decreasing; back[len(text)] == len(source)

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        """Source (view) offsets of the match-text span ``[start, end)`` (``end > start``)."""
        return int(self.back[start]), int(self.back[end - 1]) + 1

    def from_source(self, offsets: list[int]) -> list[int]:
        """Match-text offsets of source offsets (sorted or not): the first character at or after each."""
        return numpy.searchsorted(self.back, numpy.asarray(offsets, dtype=numpy.int64), side="left").tolist()


@dataclass(frozen=True)
class Shorthand:
    """One shorthand entry: its expansion per ``/``-separated part (or one expansion for the whole)."""

    parts: tuple[str, ...]
    case_sensitive: bool


@lru_cache(maxsize=8)
def shorthand_table(language: str) -> tuple[re.Pattern | None, re.Pattern | None, dict[str, Shorthand]]:
    """(case-insensitive pattern, case-sensitive pattern, entries by key) of ``shorthand/<language>.json``
    (``{"n/v": "nausea / vomiting", "=HA": "headache"}``: a ``=`` prefix makes the key case-sensitive, a
    `` / `` in the expansion aligns its parts to the key's ``/`` parts); empty for a language without a
    file."""
    ref = resources.files(__package__).joinpath("shorthand", f"{language}.json")
    if not ref.is_file():
        return None, None, {}
    raw = json.loads(ref.read_text(encoding="utf-8"))
    entries: dict[str, Shorthand] = {}
    for key, exp in raw.items():
        if key.startswith("_"):
            continue
        cs = key.startswith("=")
        key = key[1:] if cs else key.lower()
        parts = tuple(p.strip() for p in exp.split(" / "))
        if len(parts) > 1 and len(parts) != len(re.split(r"[/&+]", key)):
            raise ValueError(f"shorthand {key!r}: {len(parts)} expansion parts for a key of other parts")
        entries[key] = Shorthand(parts, cs)

    def pattern(keys: list[str], flags: int) -> re.Pattern | None:
        if not keys:
            return None
        alt = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
        return re.compile(rf"(?<![\w/&+])(?:{alt})(?![\w/&+])", flags)

    return (pattern([k for k, v in entries.items() if not v.case_sensitive], re.IGNORECASE),
            pattern([k for k, v in entries.items() if v.case_sensitive], 0), entries)


_FILLER = re.compile(r"(?<![\w'’-])(?:" + "|".join(sorted(FILLERS, key=len, reverse=True)) + r")(?![\w'’-])",
                     re.IGNORECASE)
_REPEAT = re.compile(r"(?<![\w'’-])([^\W\d_]+(?:['’][^\W\d_]+)?(?:[ \t]+[^\W\d_]+(?:['’][^\W\d_]+)?)?)"
                     r"(?:[ \t]+\1)+(?![\w'’-])", re.IGNORECASE)
_WORD = re.compile(r"(?<![\w'’-])[^\W\d_]{5,}(?![\w'’-])")
_SPACES = re.compile(r"[ \t]{2,}")

Op = tuple[int, int, str]


def build_match_text(view: str, persian: bool, language: str = "en",
                     correct: Callable[[str], str | None] | None = None) -> MatchText:
    """The match text of ``view`` (module docstring); ``correct``: misspelt word (lower case) -> lexicon
    word or None (``fuzzy.SpellingCorrector``), or None for no correction."""
    base = match_form(view, persian)
    ops: list[Op] = []
    ops += _shorthand_ops(base, language)
    ops += [(m.start(), m.end(), "") for m in _FILLER.finditer(base)]
    for m in _REPEAT.finditer(base):
        last = m.end() - len(m.group(1))
        ops.append((m.start(), last, ""))
    if correct is not None:
        for m in _WORD.finditer(base):
            fix = correct(m.group().lower())
            if fix is not None:
                ops.append((m.start(), m.end(), fix))
    text, back = _apply(base, _disjoint(ops))
    text2, back2 = _apply(text, [(m.start(), m.end(), " ") for m in _SPACES.finditer(text)])
    return MatchText(text2, back[back2])


def _shorthand_ops(text: str, language: str) -> list[Op]:
    insensitive, sensitive, entries = shorthand_table(language)
    ops: list[Op] = []
    for pat, fold in ((sensitive, False), (insensitive, True)):
        if pat is None:
            continue
        for m in pat.finditer(text):
            entry = entries[m.group().lower() if fold else m.group()]
            if len(entry.parts) == 1:
                ops.append((m.start(), m.end(), entry.parts[0]))
                continue
            pos = m.start()
            for i, piece in enumerate(re.split(r"([/&+])", m.group())):
                ops.append((pos, pos + len(piece), entry.parts[i // 2] if i % 2 == 0 else " "))
                pos += len(piece)
    return ops


def _disjoint(ops: list[Op]) -> list[Op]:
    """Ops sorted by start, a later-listed op dropped where it overlaps a kept one (list order =
    precedence)."""
    starts: list[int] = []
    kept: list[Op] = []
    for op in ops:
        if op[1] <= op[0]:
            continue
        i = bisect_right(starts, op[0])
        if (i > 0 and kept[i - 1][1] > op[0]) or (i < len(kept) and kept[i][0] < op[1]):
            continue
        starts.insert(i, op[0])
        kept.insert(i, op)
    return kept


def _apply(text: str, ops: list[Op]) -> tuple[str, numpy.ndarray]:
    """``text`` with each ``(start, end, replacement)`` applied (sorted, disjoint) and the offset map
    (len + 1) from the result back to ``text``; a replacement's characters map proportionally into the
    span it replaces."""
    if not ops:
        return text, numpy.arange(len(text) + 1, dtype=numpy.int64)
    parts: list[str] = []
    maps: list[numpy.ndarray] = []
    pos = 0
    for s, e, r in ops:
        parts.append(text[pos:s])
        maps.append(numpy.arange(pos, s, dtype=numpy.int64))
        if r:
            parts.append(r)
            maps.append(s + (numpy.arange(len(r), dtype=numpy.int64) * (e - s)) // len(r))
        pos = e
    parts.append(text[pos:])
    maps.append(numpy.arange(pos, len(text) + 1, dtype=numpy.int64))
    return "".join(parts), numpy.concatenate(maps)
