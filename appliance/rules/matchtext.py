"""The text the target matcher reads, and the offset map back to the text the rules segmented.

``build_match_text(view, persian, shorthand, correct)`` starts from the speech view of the normalised
text (``speech.speech_view``: non-speech tags and cue times already blanked) folded like every lexicon
term (``lexicon.match_form``) and then, in that order of precedence where two overlap:

1. expands clinical shorthand (``shorthand/<language>.json``: ``N/V`` -> "nausea vomiting", ``SOB``
   -> "shortness of breath", ``c/o`` -> "complains of"; entries marked case-sensitive only as
   written, so "HA" is a headache and "ha" a laugh), each part of a ``/`` list aligned to its letter;
   a key said twice or more in a row is not shorthand ("HA HA HA" is a laugh in an upper-case
   transcript too);
2. drops a word said twice or more in a row, fillers between ("my my stomach", "throw uh throw up" is a
   match of "throw up"), and fillers (``speech.FILLERS``: "um", "uh");
3. replaces a misspelt word by the lexicon word ``correct`` returns (``fuzzy``), except a capitalised
   word inside a sentence (a name: "Coughlin");
4. squeezes every run of white space, line breaks included, to one space (a phrase broken by
   "[inaudible]" or by a line wrapped mid-sentence still matches, and a ConText scope counts words, not
   line breaks; sentence boundaries come from the segmentation, by offset).

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


@dataclass(frozen=True)
class ShorthandTable:
    """A language's shorthand: patterns anchored at a word start, entries by key, and the first words of
    the keys (lower case, or as written for case-sensitive keys) that can start one."""

    insensitive: re.Pattern | None
    sensitive: re.Pattern | None
    entries: dict[str, Shorthand]
    first: frozenset[str]


@lru_cache(maxsize=8)
def shorthand_table(language: str) -> ShorthandTable:
    """The table of ``shorthand/<language>.json`` (``{"n/v": "nausea / vomiting", "=HA": "headache"}``: a
    ``=`` prefix makes the key case-sensitive, a `` / `` in the expansion aligns its parts to the key's
    ``/`` parts); empty for a language without a file. ``ValueError`` for misaligned parts."""
    ref = resources.files(__package__).joinpath("shorthand", f"{language}.json")
    if not ref.is_file():
        return ShorthandTable(None, None, {}, frozenset())
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
        return re.compile(rf"(?<!\w)(?:{alt})(?!\w)", flags)

    first = frozenset(_TOKEN.match(k).group() for k in entries if _TOKEN.match(k))
    return ShorthandTable(
        pattern([k for k, v in entries.items() if not v.case_sensitive], re.IGNORECASE),
        pattern([k for k, v in entries.items() if v.case_sensitive], 0),
        entries,
        first,
    )


_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_MID_SENTENCE = re.compile(r"[^\W\d_][\"'’)]*[ \t]*,?[ \t]*$")
_SPACES = re.compile(r"\s{2,}")
_FILLER = re.compile(
    r"(?<![\w'’-])(?:" + "|".join(sorted(FILLERS, key=len, reverse=True)) + r")(?![\w'’-])", re.IGNORECASE
)
_REPEAT = re.compile(r"(?<![\w'’-])([^\W\d_]+(?:['’][^\W\d_]+)?)(?:\s+\1)+(?![\w'’-])")
# a word said again right after itself, with only spaces or light punctuation between ("HA HA, HA")
_SAID_AGAIN = re.compile(r"(?<![\w'’-])([^\W\d_]+)(?:[\s,.!]+\1)+(?![\w'’-])", re.IGNORECASE)
_LONG = re.compile(r"(?<![\w'’-])[^\W\d_]{6,}(?![\w'’-])")
_UPPER2 = re.compile(r"[A-Z]{2}")


def _maybe_shorthand(text: str, table: ShorthandTable) -> bool:
    """Cheap test before the shorthand scan: a ``/ & +``, two capitals, or a key of ``table`` written in
    lower-case letters only ("abd", "bm", "cant") somewhere."""
    if "/" in text or "&" in text or "+" in text or _UPPER2.search(text):
        return True
    low = text.lower()
    return any(k in low for k in table.entries if k.isalpha() and not table.entries[k].case_sensitive)


Op = tuple[int, int, str]


def build_match_text(
    view: str, persian: bool, language: str = "en", correct: Callable[[str], str | None] | None = None
) -> MatchText:
    """The match text of ``view`` (module docstring); ``correct``: misspelt word (lower case) -> lexicon
    word or None (``fuzzy.SpellingCorrector``), or None for no correction."""
    base = match_form(view, persian)
    ops: list[Op] = []
    table = shorthand_table(language)
    if table.entries and _maybe_shorthand(base, table):
        repeated = [(r.start(), r.end()) for r in _SAID_AGAIN.finditer(base)]
        for m in _TOKEN.finditer(base):
            if m.group().lower() in table.first or m.group() in table.first:
                if any(a <= m.start() < b for a, b in repeated):
                    continue  # "HA HA": a laugh, not two headaches
                ops += _shorthand_at(base, m.start(), table)
    fillers = [(m.start(), m.end(), "") for m in _FILLER.finditer(base)]
    quiet = base
    if fillers:  # fillers blanked, so that "throw uh throw up" reads as a repetition
        parts, pos = [], 0
        for s, e, _ in fillers:
            parts += [base[pos:s], " " * (e - s)]
            pos = e
        quiet = "".join(parts) + base[pos:]
    # a word said again right after itself: all but the last said are dropped
    ops += [(m.start(), m.end() - len(m.group(1)), "") for m in _REPEAT.finditer(quiet)]
    ops += fillers
    if correct is not None:
        wrong = {w: f for w in set(_LONG.findall(base)) if (f := correct(w.lower())) is not None}
        if wrong:
            for m in _LONG.finditer(base):
                w = m.group()
                if w not in wrong:
                    continue
                if (
                    w[0].isupper()
                    and not w.isupper()
                    and _MID_SENTENCE.search(base, max(0, m.start() - 8), m.start())
                ):
                    continue  # a capital inside a sentence: a name ("Coughlin"), not a misspelling
                ops.append((m.start(), m.end(), wrong[w]))
    text, back = _apply(base, _disjoint(ops))
    text = text.replace("\n", " ").replace("\r", " ").replace("\t", " ")  # same length: the map holds
    text2, back2 = _apply(text, [(m.start(), m.end(), " ") for m in _SPACES.finditer(text)])
    return MatchText(text2, back[back2])


def _shorthand_at(text: str, pos: int, table: ShorthandTable) -> list[Op]:
    """Expansion ops for a shorthand key starting at ``pos`` (case-sensitive keys first), or []."""
    m = None
    if table.sensitive is not None:
        m = table.sensitive.match(text, pos)
    fold = m is None
    if fold and table.insensitive is not None:
        m = table.insensitive.match(text, pos)
    if m is None:
        return []
    entry = table.entries[m.group().lower() if fold else m.group()]
    if len(entry.parts) == 1:
        return [(m.start(), m.end(), entry.parts[0])]
    ops: list[Op] = []
    at = m.start()
    for i, piece in enumerate(re.split(r"([/&+])", m.group())):
        ops.append((at, at + len(piece), entry.parts[i // 2] if i % 2 == 0 else " "))
        at += len(piece)
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
    span it replaces, its first to the span's first and its last to the span's last."""
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
            maps.append(s + (numpy.arange(len(r), dtype=numpy.int64) * (e - s - 1)) // max(1, len(r) - 1))
        pos = e
    parts.append(text[pos:])
    maps.append(numpy.arange(pos, len(text) + 1, dtype=numpy.int64))
    return "".join(parts), numpy.concatenate(maps)
