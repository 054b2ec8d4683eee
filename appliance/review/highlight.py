"""Where each evidence quote is in the text it came from, and the text cut into lines and segments for
display.

A quote is placed by its offsets when the result has them and the text between them is exactly the
quote. Otherwise (older results, model-written quotes) it is searched for: in the text normalised the way
the pipeline normalises it (``appliance.normalize``, with its offset map back to the text as read),
case-insensitively, any run of whitespace matching any run, and not inside a word. A quote is highlighted
only where it is known to be: a search that finds it more than once, or not at all, highlights nothing
(the page says so). Offsets are Unicode code points, end exclusive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from ..normalize import normalize, normalize_with_offsets
from .results import EvidenceView

Method = Literal["offsets", "search"]


@dataclass(frozen=True)
class Placement:
    """Where one quote is: ``spans`` [(start, end)] in the text (empty when not placed), how it was
    found, and ``occurrences`` (how many times a search found it; 1 for offsets)."""

    spans: tuple[tuple[int, int], ...]
    method: Method | None
    occurrences: int

    @property
    def placed(self) -> bool:
        """Whether the quote is highlighted."""
        return bool(self.spans)


def find_quote(text: str, quote: str, language: str | None = None) -> list[tuple[int, int]]:
    """Every (start, end) in ``text`` where ``quote`` occurs, whitespace- and case-insensitively, after
    the pipeline's normalisation of both (Persian letter variants, digits, invisible marks), not starting
    or ending inside a word. Spans are in ``text`` as given, covering the first to the last matched
    character. An empty quote matches nowhere."""
    tokens = normalize(quote, language).split()
    if not tokens:
        return []
    norm, offsets = normalize_with_offsets(text, language)
    pattern = r"\s+".join(re.escape(t) for t in tokens)
    if re.match(r"\w", tokens[0][0]):
        pattern = r"(?<!\w)" + pattern
    if re.match(r"\w", tokens[-1][-1]):
        pattern += r"(?!\w)"
    return [(offsets[m.start()], offsets[m.end() - 1] + 1)
            for m in re.finditer(pattern, norm, re.IGNORECASE) if m.end() > m.start()]


def place(text: str, evidence: EvidenceView, language: str | None = None) -> Placement:
    """Where ``evidence`` is in ``text`` (the text its ``source`` names). See the module rules."""
    s, e = evidence.start, evidence.end
    if s is not None and e is not None and 0 <= s < e <= len(text) and text[s:e] == evidence.quote:
        return Placement(((s, e),), "offsets", 1)
    found = find_quote(text, evidence.quote, language)
    if len(found) == 1:
        return Placement((found[0],), "search", 1)
    return Placement((), None, len(found))


@dataclass
class Segment:
    """A run of one line with the same highlights: ``start``/``end`` in the whole text, the feature
    keys highlighting it (empty: plain text)."""

    start: int
    end: int
    text: str
    features: tuple[str, ...] = ()


@dataclass
class Line:
    """One line of the text (without its line break): its ``start`` in the whole text, its segments."""

    start: int
    segments: list[Segment] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The line's characters."""
        return "".join(s.text for s in self.segments)


def segment_lines(text: str, marks: list[tuple[int, int, str]]) -> list[Line]:
    """``text`` cut at its line breaks (``\\n``) and at every mark boundary.

    ``marks`` are (start, end, feature key) spans in ``text``; overlapping marks give segments with
    several keys (sorted, unique). Spans outside ``text`` are clipped. Every character of ``text``
    except the line breaks is in exactly one segment, in order.
    """
    n = len(text)
    clean = [(max(0, s), min(n, e), k) for s, e, k in marks if min(n, e) > max(0, s)]
    cuts = {0, n}
    for s, e, _ in clean:
        cuts.update((s, e))
    lines: list[Line] = []
    pos = 0
    for raw in text.split("\n"):
        lo, hi = pos, pos + len(raw)
        line = Line(lo)
        points = sorted({lo, hi, *(c for c in cuts if lo < c < hi)})
        for a, b in zip(points, points[1:]):
            keys = tuple(sorted({k for s, e, k in clean if s <= a and b <= e}))
            line.segments.append(Segment(a, b, text[a:b], keys))
        lines.append(line)
        pos = hi + 1
    return lines
