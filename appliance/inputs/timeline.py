"""Timed transcripts → speaker turns and a cue timeline: shared by every timed input format.

A timed format (WebVTT, SubRip, Whisper-style JSON, a ``.txt`` with ``[start --> end]`` lines) reads its
cues into ``TimedCue`` records; ``check_times`` refuses impossible times and ``assemble`` lays the cues
out as the text the extractor reads, one speaker turn per line::

    Doctor: Any nausea or vomiting?
    Patient: No, not at all.

Turn rules (the same for every format):

* a cue line that starts with a speaker (a WebVTT ``<v Name>`` voice, a ``speaker`` field, or a label
  ``Name: `` of at most ``MAX_LABEL_WORDS`` words starting with a letter) starts a turn of that speaker,
  unless the turn before is the same speaker's: then it is appended to it (consecutive cues of one
  speaker merged);
* a line starting with a dash (``- ``, the subtitle convention for a change of speaker) starts a new turn;
* any other line continues the turn before it (subtitles name a speaker only where it changes); the
  first lines without a speaker form a turn without a label.

Cue times never enter the text: each cue's piece of a turn becomes a ``Cue`` (its character span in
the text, its times, its speaker), so evidence quotes can be traced back to the recording.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..document import Cue
from ..errors import InputError
from ..reasons import Reason

#: A speaker label has at most this many words (``SPEAKER_00``, ``Doctor``, ``Dr. Rahimi``, ``Nurse Ann Lee``)
#: and characters.
MAX_LABEL_WORDS = 3
MAX_LABEL_CHARS = 32
# `Name: text`: the name starts with a letter; the colon is followed by whitespace or the end of the line
# (so `https://…` and `10:30` are not labels).
# Non-speech tags before the name (`(coughs) Doctor: …`) are kept, after the label, in the text.
_LABEL = re.compile(
    r"(?P<tags>(?:(?:\[[^\]\n]{1,40}\]|\([^)\n]{1,40}\))\s*)*)"
    r"(?P<label>[^\W\d_][\w.'’ -]*?)\s*:(?:\s+(?P<rest>.*)|$)",
    re.DOTALL,
)
_DASH = ("- ", "– ", "— ")


@dataclass
class TimedCue:
    """One cue as a format read it: times in seconds from the start of the recording, its text lines
    (markup removed), and per line the speaker the format named explicitly (a WebVTT voice, a JSON
    ``speaker`` field) or None. ``number`` is its 1-based position in the file, for messages."""

    number: int
    start_s: float
    end_s: float
    lines: list[str]
    speakers: list[str | None] = field(default_factory=list)

    def speaker_of(self, i: int) -> str | None:
        """The explicit speaker of line ``i`` (None when the format named none)."""
        return self.speakers[i] if i < len(self.speakers) else None


def check_times(cues: list[TimedCue]) -> None:
    """Refuse (``cue_times``) a cue whose times are negative or not finite, that ends before it starts,
    or that starts before the cue before it (WebVTT requires start times in order; SubRip and Whisper
    write them so). Overlapping cues are accepted (cross-talk). The message gives the cue number only."""
    previous = 0.0
    for cue in cues:
        if not (math.isfinite(cue.start_s) and math.isfinite(cue.end_s)) or cue.start_s < 0 or cue.end_s < 0:
            raise InputError(Reason.CUE_TIMES, f"cue {cue.number} has a negative or non-finite time")
        if cue.end_s < cue.start_s:
            raise InputError(Reason.CUE_TIMES, f"cue {cue.number} ends before it starts")
        if cue.start_s < previous:
            raise InputError(Reason.CUE_TIMES, f"cue {cue.number} starts before the cue before it")
        previous = cue.start_s


def split_label(line: str) -> tuple[str | None, str]:
    """``("Doctor", "Any fever?")`` for ``"Doctor: Any fever?"``; ``(None, line)`` when the line does not
    start with a speaker label (see the module docstring). Bracketed non-speech tags before the label
    (``[inaudible]``, ``(coughs)``) are never taken as a name: they stay in the text, after the label."""
    m = _LABEL.match(line)
    if not m:
        return None, line
    label = m.group("label").strip()
    if not label or len(label) > MAX_LABEL_CHARS or len(label.split()) > MAX_LABEL_WORDS:
        return None, line
    parts = (m.group("tags").strip(), (m.group("rest") or "").strip())
    return label, " ".join(part for part in parts if part)


@dataclass
class _Turn:
    speaker: str | None
    # (cue number, text, start_s, end_s, speaker): one piece per cue and turn
    pieces: list[tuple[int, str, float, float, str | None]] = field(default_factory=list)


def _turns(cues: list[TimedCue]) -> list[_Turn]:
    turns: list[_Turn] = []
    for cue in cues:
        for i, raw in enumerate(cue.lines):
            line = " ".join(raw.split())
            if not line:
                continue
            speaker, new_turn = cue.speaker_of(i), False
            if line.startswith(_DASH):
                line, new_turn = line[2:].strip(), True
            if speaker is None:
                speaker, line = split_label(line)
            else:
                speaker = " ".join(speaker.split()) or None
            current = turns[-1] if turns else None
            if current is None or new_turn or (speaker is not None and speaker != current.speaker):
                current = _Turn(speaker)
                turns.append(current)
            if not line:
                continue
            if current.pieces and current.pieces[-1][0] == cue.number:  # the same cue, the same turn
                _, text, *rest = current.pieces[-1]
                current.pieces[-1] = (cue.number, f"{text} {line}", *rest)
            else:
                current.pieces.append((cue.number, line, cue.start_s, cue.end_s, current.speaker))
    return [t for t in turns if t.pieces]


def assemble(cues: list[TimedCue], head: str = "") -> tuple[str, list[Cue]]:
    """The text the extractor reads (``head``, untimed lines before the first cue, then one turn per
    line, ``Speaker: text`` or ``text``; pieces of one turn joined by a space) and the timeline: one
    ``Cue`` per cue and turn (the lines of a cue within one turn are one piece), spanning exactly its
    text. Raises ``InputError`` ``no_cues`` when no cue has text.
    Times are not checked here (``check_times``)."""
    turns = _turns(cues)
    if not turns:
        raise InputError(Reason.NO_CUES, f"none of the {len(cues)} cue(s) has any text")
    parts: list[str] = []
    timeline: list[Cue] = []
    pos = 0
    head = head.strip()
    if head:
        parts.append(head + "\n")
        pos = len(parts[0])
    for turn in turns:
        label = f"{turn.speaker}: " if turn.speaker else ""
        parts.append(label)
        pos += len(label)
        for j, (_, text, start_s, end_s, speaker) in enumerate(turn.pieces):
            if j:
                parts.append(" ")
                pos += 1
            parts.append(text)
            timeline.append(Cue(start_char=pos, end_char=pos + len(text), start_s=start_s, end_s=end_s,
                                speaker=speaker))
            pos += len(text)
        parts.append("\n")
        pos += 1
    return "".join(parts), timeline
