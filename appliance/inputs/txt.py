"""``.txt``: a UTF-8 transcript. The id is the file name without ``.txt``; the language is detected.

A text whose non-empty lines mostly (more than half) start with a cue time range is speech-recognition
output with times, as whisper.cpp and faster-whisper print it::

    [00:00:01.200 --> 00:00:03.000] SPEAKER_00: Any nausea or vomiting?
    [1.20s -> 3.00s] Doctor: Any nausea or vomiting?

It becomes speaker turns with a cue timeline, exactly like a subtitle file (``appliance.inputs.timeline``):
the times leave the text, a ``Name: `` label after them names the speaker. Lines without a time range
continue the cue before them; lines before the first cue stay, untimed, at the top. Any other text is
taken as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

from webvtt.errors import MalformedCaptionError
from webvtt.models import Timestamp

from ..document import Document
from ..errors import InputError
from ..reasons import Reason
from .decoding import check_id, decode_text
from .registry import ParseLimits
from .timeline import TimedCue, assemble, check_times

# `[start --> end] text` (or `->`); the times themselves are read by `_seconds`.
_TIMED = re.compile(r"\s*\[\s*(?P<start>[^\]\s]+)\s*--?>\s*(?P<end>[^\]\s]+)\s*\]\s*(?P<rest>.*)")
_SECONDS = re.compile(r"\d+(?:\.\d+)?s?")
_WHOLE_SECONDS = re.compile(r"\d+:\d{2}(?::\d{2})?")  # `00:00:01`, `00:01`: no fraction written


def parse(raw: bytes, name: str, limits: ParseLimits) -> Document:
    """Bytes of ``name`` → ``Document`` (``limits`` unused: a text file has no nesting or metadata);
    with ``cues`` when the text is timed (see the module docstring).

    Raises ``InputError``: the codes of ``decode_text``, ``whitespace_only``, ``bad_id``; for timed text
    also ``cue_times`` (an unreadable or impossible time, with the cue number) and ``no_cues`` (no cue
    has text).
    """
    text = decode_text(raw)
    if not text.strip():
        raise InputError(Reason.WHITESPACE_ONLY, "input text is empty or only whitespace")
    doc_id = check_id(Path(name).stem)
    lines = text.splitlines()
    timed = [_TIMED.fullmatch(line) for line in lines]
    nonempty = sum(1 for line in lines if line.strip())
    if sum(1 for m in timed if m) * 2 <= nonempty:
        return Document(id=doc_id, text=text, source_name=name)
    head: list[str] = []
    cues: list[TimedCue] = []
    for line, m in zip(lines, timed):
        if m:
            n = len(cues) + 1
            start, end = _seconds(m.group("start"), n), _seconds(m.group("end"), n)
            cues.append(TimedCue(n, start, end, [m.group("rest")]))
        elif cues:
            cues[-1].lines.append(line)
        else:
            head.append(line)
    check_times(cues)
    body, timeline = assemble(cues, head="\n".join(head))
    return Document(id=doc_id, text=body, source_name=name, cues=timeline)


def _seconds(value: str, n: int) -> float:
    """``00:00:01.200`` / ``0:01.2`` (read by ``webvtt-py``; a decimal comma as SubRip writes it is
    accepted, the fraction may be left out: ``00:00:01``) or ``1.20s`` / ``1.2`` → seconds.
    ``InputError`` ``cue_times`` otherwise."""
    if _SECONDS.fullmatch(value):
        return float(value.rstrip("s"))
    if _WHOLE_SECONDS.fullmatch(value):
        value += ".000"
    try:
        hours, minutes, seconds, millis = Timestamp.from_string(value.replace(",", ".")).to_tuple()
    except MalformedCaptionError:
        raise InputError(Reason.CUE_TIMES, f"cue {n} has an unreadable time") from None
    return hours * 3600 + minutes * 60 + seconds + millis / 1000
