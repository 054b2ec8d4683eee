"""``.vtt``: a WebVTT subtitle file (W3C WebVTT), read with the ``webvtt-py`` library.

Each cue's text, with its markup removed and character references (``&amp;``) decoded, becomes part
of a speaker turn (``appliance.inputs.timeline``): a voice span ``<v Name>`` names the speaker of its
line, otherwise a ``Name: `` label does. Cue
identifiers, settings, ``NOTE``, ``STYLE`` and ``REGION`` blocks are not text. The id is the file name
without ``.vtt``; the language is detected. Blocks that are not cues are ignored, as the standard says;
so are cue settings the library does not know or finds invalid (``align:middle`` of older drafts,
made-up ones): the standard ignores them, and they never carry text.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from ..document import Document
from ..errors import InputError
from ..reasons import Reason
from .decoding import check_id, decode_text
from .registry import ParseLimits
from .timeline import TimedCue, assemble, check_times

# A cue timing line with settings after it: the settings are cut off before the library reads the file
# (its strict mode, which refuses unreadable timings, also refuses any setting it does not know).
_SETTINGS = re.compile(r"^(?P<timing>[ \t]*[\d:.]+[ \t]*-->[ \t]*[\d:.]+)[ \t]+\S[^\n]*$", re.MULTILINE)


def _seconds(ts: webvtt.models.Timestamp) -> float:
    hours, minutes, seconds, millis = ts.to_tuple()
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def parse(raw: bytes, name: str, limits: ParseLimits) -> Document:
    """Bytes of ``name`` → ``Document`` with ``cues`` (``limits`` unused: no nesting or metadata).

    Raises ``InputError``: the codes of ``decode_text``, ``whitespace_only``, ``subtitle_invalid`` (no
    ``WEBVTT`` header, or a cue block with unreadable timings), ``no_cues``, ``cue_times``, ``bad_id``.
    """
    text = decode_text(raw)
    if not text.strip():
        raise InputError(Reason.WHITESPACE_ONLY, "input text is empty or only whitespace")
    try:
        # strict: a cue block whose timing line cannot be read is an error, not silently dropped text.
        captions = webvtt.from_string(_SETTINGS.sub(r"\g<timing>", text), strict=True).captions
    except MalformedFileError:
        raise InputError(Reason.SUBTITLE_INVALID, "not a WebVTT file (it must start with 'WEBVTT')") from None
    except MalformedCaptionError:
        # The library's message quotes the cue: not repeated here.
        raise InputError(
            Reason.SUBTITLE_INVALID, "a WebVTT cue block has an unreadable timing line"
        ) from None
    if not captions:
        raise InputError(Reason.NO_CUES, "the WebVTT file has no cues")
    cues = []
    for number, caption in enumerate(captions, start=1):
        lines, speakers = [], []
        for raw_line in caption.raw_text.split("\n"):
            # One Caption per line: the library reads a voice span at the start of a caption's text
            # and strips the cue markup (<v>, <i>, <c.class>, timestamps).
            line = webvtt.Caption(text=raw_line)
            lines.append(html.unescape(line.text))
            speakers.append(line.voice)
        start, end = _seconds(caption.start_time), _seconds(caption.end_time)
        cues.append(TimedCue(number, start, end, lines, speakers))
    check_times(cues)
    body, timeline = assemble(cues)
    return Document(id=check_id(Path(name).stem), text=body, source_name=name, cues=timeline)
