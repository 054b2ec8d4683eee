"""The input boundary: what a dropped file becomes once it has been read and checked.

A ``Document`` made from a timed transcript (subtitles, speech-recognition output) also carries its
timeline: ``cues``, each a span of ``text`` with the times of the recording it was spoken at.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Cue(BaseModel):
    """One timed piece of a transcript: ``text[start_char:end_char]`` was spoken from ``start_s`` to
    ``end_s`` seconds into the recording (by ``speaker``, when the input named one).

    Character offsets are Unicode code points into ``Document.text`` (end exclusive); times are seconds
    from the start of the recording, finite, ``0 <= start_s <= end_s``. ``speaker`` is the label as the
    input gave it (a diarization label such as ``SPEAKER_00``, or a role): document content, never log it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_char: int = Field(ge=0)
    end_char: int = Field(gt=0)
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    speaker: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Cue:
        if self.end_char <= self.start_char:
            raise ValueError("a cue's end_char must be after its start_char")
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)) or self.end_s < self.start_s:
            raise ValueError("a cue's times must be finite with start_s <= end_s")
        return self


class Document(BaseModel):
    """One transcript, already decoded and validated. ``text`` is patient data: never log it.

    ``cues``: the timeline of a timed input, empty for an untimed one. Validated: cues lie within
    ``text``, in text order, without overlapping spans (their *times* may overlap: cross-talk).
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=255)
    text: str
    language: str | None = Field(default=None, description="BCP-47-ish code ('en', 'fa'); None = detect.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_name: str | None = Field(default=None, description="File name it came from, if any.")
    cues: list[Cue] = Field(default_factory=list, description="Timeline of a timed input (empty: untimed).")

    @model_validator(mode="after")
    def _cues_within_text(self) -> Document:
        end = 0
        for cue in self.cues:
            if cue.start_char < end:
                raise ValueError("cues must be in text order and must not overlap")
            end = cue.end_char
        if end > len(self.text):
            raise ValueError("a cue ends after the end of the text")
        return self

    @property
    def content_hash(self) -> str:
        """sha256 (hex) of ``text`` as UTF-8 (``text_hash``): what ``Result.input_sha256`` holds."""
        return text_hash(self.text)

    def times_for(self, start: int, end: int) -> tuple[float, float] | None:
        """The recording time span (seconds) of text span ``[start, end)``: from the earliest start to
        the latest end of the cues whose spans overlap it. None without such a cue (an untimed input, a
        span between cues, an empty span). Logarithmic in the number of cues."""
        return cue_times(self.cues, start, end)


def cue_times(cues: list[Cue], start: int, end: int) -> tuple[float, float] | None:
    """``(start_s, end_s)`` over the ``cues`` (in text order, as ``Document.cues``) whose character
    spans overlap ``[start, end)``; None when none does or the span is empty."""
    if end <= start or not cues:
        return None
    # First cue that ends after `start` (cue ends are increasing: spans are ordered and disjoint).
    i = bisect_left(cues, start + 1, key=lambda c: c.end_char)
    hit = []
    while i < len(cues) and cues[i].start_char < end:
        hit.append(cues[i])
        i += 1
    if not hit:
        return None
    return min(c.start_s for c in hit), max(c.end_s for c in hit)


def text_hash(text: str) -> str:
    """sha256 (hex) of the decoded text as UTF-8 (the same as ``PreparedText.text_sha256``); raises
    ``UnicodeEncodeError`` for a lone surrogate."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
