"""``.srt``: a SubRip subtitle file, read with the ``srt`` library.

Each cue's text, with its markup removed (``<i>``, ``<font …>``, and the ``{\\an8}``-style override tags
that subtitles converted from ASS/SSA carry; character references decoded), becomes
part of a speaker turn (``appliance.inputs.timeline``): a ``Name: `` label names the speaker, a line
starting with ``- `` starts a new turn. Cue numbers are not text. The id is the file name without
``.srt``; the language is detected.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import srt
import webvtt

from ..document import Document
from ..errors import InputError
from ..reasons import Reason
from .decoding import check_id, decode_text
from .registry import ParseLimits
from .timeline import TimedCue, assemble, check_times

# An ASS/SSA override block: `{\an8}`, `{\i1}`, `{\pos(10,20)\c&H00FFFF&}` (always opens with a backslash).
_ASS_OVERRIDE = re.compile(r"\{\\[^{}\n]*\}")


def strip_markup(line: str) -> str:
    """A subtitle text line without its tags (the ``webvtt-py`` library's cue-tag stripping, which
    covers SubRip's HTML-like tags, and ASS/SSA override blocks ``{\\an8}``) and with character
    references (``&amp;``) decoded."""
    return html.unescape(webvtt.Caption(text=_ASS_OVERRIDE.sub("", line)).text)


def parse(raw: bytes, name: str, limits: ParseLimits) -> Document:
    """Bytes of ``name`` → ``Document`` with ``cues`` (``limits`` unused: no nesting or metadata).

    Raises ``InputError``: the codes of ``decode_text``, ``whitespace_only``, ``subtitle_invalid`` (text
    that is not SubRip cues; the detail gives the line), ``no_cues``, ``cue_times``, ``bad_id``.
    """
    text = decode_text(raw)
    if not text.strip():
        raise InputError(Reason.WHITESPACE_ONLY, "input text is empty or only whitespace")
    try:
        subtitles = list(srt.parse(text))
    except srt.SRTParseError as e:
        # The exception's message quotes the unmatched text: only its position is reported.
        line = text.count("\n", 0, e.expected_start) + 1
        raise InputError(Reason.SUBTITLE_INVALID, f"not a SubRip cue at line {line}") from None
    except srt.TimestampParseError:
        raise InputError(Reason.SUBTITLE_INVALID, "a SubRip cue has an unreadable time") from None
    if not subtitles:
        raise InputError(Reason.NO_CUES, "the SubRip file has no cues")
    cues = [
        TimedCue(number, s.start.total_seconds(), s.end.total_seconds(),
                 [strip_markup(line) for line in s.content.split("\n")])
        for number, s in enumerate(subtitles, start=1)
    ]
    check_times(cues)
    body, timeline = assemble(cues)
    return Document(id=check_id(Path(name).stem), text=body, source_name=name, cues=timeline)
