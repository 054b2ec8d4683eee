"""Timed transcripts → speaker turns and a cue timeline: shared by every timed input format.

A timed format (WebVTT, SubRip, Whisper-style JSON, a ``.txt`` with ``[start --> end]`` lines) reads its
cues into ``TimedCue`` records; ``check_times`` refuses impossible times and ``assemble`` lays the cues
out as the text the extractor reads, one speaker turn per line::

    Doctor: Any nausea or vomiting?
    Patient: No, not at all.

Turn rules (the same for every format):

* a cue line that starts with a speaker (a WebVTT ``<v Name>`` voice, a ``speaker`` field, or a label
  ``Name: `` or ``[Name]: `` (whisperX's subtitle and text writers) of at most ``MAX_LABEL_WORDS`` words
  starting with a letter, or whisper.cpp's stereo ``--diarize`` prefix ``(speaker 1)``) starts a turn of
  that speaker (whisper.cpp's ``(speaker ?)``, a channel it could not tell, names none),
  unless the turn before is the same speaker's: then it is appended to it (consecutive cues of one
  speaker merged);
* a line starting with a dash (``- ``, the subtitle convention for a change of speaker) starts a new turn;
* any other line continues the turn before it (subtitles name a speaker only where it changes); the
  first lines without a speaker form a turn without a label.

Before that, two things that are display, not speech, leave the cue lines: bidirectional-text controls
(``BIDI_CONTROLS``: the embedding marks right-to-left subtitle editors put around Persian or Arabic
lines) and roll-up repeats (``drop_repeats``: the leading lines of a cue that repeat the last lines of
the cue just before it, as YouTube's automatic captions and Whisper's ``--highlight_words`` write them).

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
# `[Name]: text`, as whisperX writes a speaker into its .srt, .vtt and .txt output. The colon right after
# the bracket is what makes it a label: a bracketed run without one (`[inaudible] yes`) is a tag.
_BRACKET_LABEL = re.compile(r"\[(?P<label>[^\W\d_][\w.'’ -]*?)\][ \t]*:(?:\s+(?P<rest>.*)|$)", re.DOTALL)
# whisper.cpp's `--diarize` (stereo channels) prefix in its .srt and printed output: `(speaker 0) text`,
# `(speaker ?) text` when it cannot tell (then no speaker is named).
_CHANNEL_SPEAKER = re.compile(r"\((?P<label>speaker (?:\d{1,3}|\?))\)(?:\s+(?P<rest>.*)|$)", re.DOTALL)
_DASH = ("- ", "– ", "— ")
#: Unicode bidirectional controls (LRM, RLM, ALM, the embeddings, overrides and isolates): display
#: directives of a subtitle renderer, removed from cue lines (they would hide a ``Name: `` label).
BIDI_CONTROLS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
#: A cue whose leading lines repeat the cue before it is a roll-up only when it starts where that one
#: ends (seconds of tolerance): a repeat said later is speech.
ROLLUP_GAP_S = 0.05


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
    """``("Doctor", "Any fever?")`` for ``"Doctor: Any fever?"`` (or ``"[Doctor]: Any fever?"``); ``(None,
    line)`` when the line does not
    start with a speaker label (see the module docstring). Bracketed non-speech tags before the label
    (``[inaudible]``, ``(coughs)``) are never taken as a name: they stay in the text, after the label."""
    m = _CHANNEL_SPEAKER.match(line)
    if m:
        rest = (m.group("rest") or "").strip()
        return (None, rest) if m.group("label").endswith("?") else (m.group("label"), rest)
    m = _BRACKET_LABEL.match(line)
    tags = ""
    if m is None:
        m = _LABEL.match(line)
        if not m:
            return None, line
        tags = m.group("tags").strip()
    label = m.group("label").strip()
    if not label or len(label) > MAX_LABEL_CHARS or len(label.split()) > MAX_LABEL_WORDS:
        return None, line
    parts = (tags, (m.group("rest") or "").strip())
    return label, " ".join(part for part in parts if part)


@dataclass
class _Turn:
    speaker: str | None
    # (cue number, text, start_s, end_s, speaker): one piece per cue and turn
    pieces: list[tuple[int, str, float, float, str | None]] = field(default_factory=list)


def _clean(line: str) -> str:
    return " ".join(BIDI_CONTROLS.sub("", line).split())


def drop_repeats(cues: list[TimedCue]) -> list[TimedCue]:
    """The cues without roll-up repeats: where a cue starts when the cue before it ends (within
    ``ROLLUP_GAP_S``) and its first non-empty lines are the last non-empty lines of that cue (same text
    once white space and bidi controls are folded, same explicit speakers), those lines are dropped; a
    cue left empty extends the end time of the cue it repeats. Roll-up captions (YouTube's automatic
    captions) and Whisper's ``--highlight_words`` output (one cue per word, the whole line each time)
    repeat text that way; without this every sentence would be read two or three times."""
    out: list[TimedCue] = []
    prev: list[tuple[str, str | None]] = []  # the cue before, as written (non-empty lines, speakers)
    prev_end = None
    for cue in cues:
        lines = [(_clean(line), cue.speaker_of(i)) for i, line in enumerate(cue.lines)]
        kept = [(i, t) for i, (t, _) in enumerate(lines) if t]
        said = [lines[i] for i, _ in kept]
        k = 0
        if prev_end is not None and abs(cue.start_s - prev_end) <= ROLLUP_GAP_S:
            k = next((n for n in range(min(len(said), len(prev)), 0, -1) if said[:n] == prev[-n:]), 0)
        prev, prev_end = said, cue.end_s
        if k == 0:
            out.append(cue)
            continue
        rest = [i for i, _ in kept[k:]]
        if not rest:
            if out:
                last = out[-1]
                out[-1] = TimedCue(last.number, last.start_s, max(last.end_s, cue.end_s), last.lines, last.speakers)
            continue
        out.append(TimedCue(cue.number, cue.start_s, cue.end_s, [cue.lines[i] for i in rest],
                            [cue.speaker_of(i) for i in rest]))
    return out


def _turns(cues: list[TimedCue]) -> list[_Turn]:
    turns: list[_Turn] = []
    for cue in drop_repeats(cues):
        for i, raw in enumerate(cue.lines):
            line = _clean(raw)
            if not line:
                continue
            speaker, new_turn = cue.speaker_of(i), False
            if line.startswith(_DASH):
                line, new_turn = line[2:].strip(), True
            if speaker is None:
                speaker, line = split_label(line)
            else:
                speaker = _clean(speaker) or None
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
