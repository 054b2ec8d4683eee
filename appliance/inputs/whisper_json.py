"""The ``.json`` that Whisper-family speech recognisers write (openai-whisper, faster-whisper,
whisperX): an object with ``segments``, each with ``start`` and ``end`` (seconds), ``text`` and, from
whisperX's diarization, an optional ``speaker`` (``SPEAKER_00``).

Segments become speaker turns with a cue timeline (``appliance.inputs.timeline``); a segment without a
``speaker`` takes the one most of its ``words`` carry (whisperX labels words on their own, and a
segment no diarization turn overlaps has none), or may name one with a ``Name: `` label. Every other
field (the top-level ``text``, ``tokens``, the rest of ``words``, ``avg_logprob``…) is ignored.
``language`` (top level), when present, must be a language code. The id is the file name without ``.json``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..document import Document
from ..errors import InputError
from ..reasons import Reason
from .decoding import check_controls, check_id
from .jsonload import check_language, json_type
from .registry import ParseLimits
from .timeline import TimedCue, assemble, check_times

#: What the shape needs, for the message that refuses a ``.json`` of no known shape.
NEEDS = (
    "a Whisper transcript needs 'segments': a list of objects with 'start', 'end', 'text' "
    "(optional 'speaker')"
)


def matches(data: dict[str, Any]) -> bool:
    """True when the object has a ``segments`` field: it is meant as a Whisper transcript."""
    return "segments" in data


def _number(segment: dict[str, Any], key: str, n: int) -> float:
    if key not in segment:
        raise InputError(Reason.JSON_SEGMENTS, f"segment {n} has no '{key}'")
    value = segment[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(
            Reason.JSON_SEGMENTS, f"segment {n}: '{key}' must be a number, not {json_type(value)}"
        )
    return float(value)


def _cue(segment: Any, n: int) -> TimedCue:
    if not isinstance(segment, dict):
        raise InputError(Reason.JSON_SEGMENTS, f"segment {n} is {json_type(segment)}, not an object")
    start, end = _number(segment, "start", n), _number(segment, "end", n)
    if "text" not in segment:
        raise InputError(Reason.JSON_SEGMENTS, f"segment {n} has no 'text'")
    text = segment["text"]
    if not isinstance(text, str):
        raise InputError(Reason.JSON_SEGMENTS, f"segment {n}: 'text' must be a string, not {json_type(text)}")
    speaker = segment.get("speaker")
    if speaker is not None and not isinstance(speaker, str):
        raise InputError(
            Reason.JSON_SEGMENTS, f"segment {n}: 'speaker' must be a string, not {json_type(speaker)}"
        )
    if speaker is None:
        speaker = _words_speaker(segment.get("words"))
    lines = text.split("\n")
    return TimedCue(n, start, end, lines, [speaker or None] + [None] * (len(lines) - 1))


def _words_speaker(words: Any) -> str | None:
    """The ``speaker`` most of a segment's ``words`` carry (the first such on a tie), or None. Words that
    are not objects or carry no string ``speaker`` are left out: ``words`` is otherwise ignored."""
    if not isinstance(words, list):
        return None
    said = [w["speaker"] for w in words if isinstance(w, dict) and isinstance(w.get("speaker"), str)]
    said = [s for s in said if s.strip()]
    return Counter(said).most_common(1)[0][0] if said else None


def from_data(data: dict[str, Any], name: str, limits: ParseLimits) -> Document:
    """A loaded JSON object with ``segments`` (see ``jsonload.load_object``) of ``name`` → ``Document``
    with ``cues`` (``limits``: already applied by the loader).

    Raises ``InputError``: ``json_segments`` (segments not a list of objects with numeric ``start``,
    ``end``, string ``text``, optional string ``speaker``), ``no_cues``, ``cue_times``, ``json_field`` /
    ``bad_language`` (``language``), ``binary`` (control characters in a text), ``bad_id``.
    """
    segments = data["segments"]
    if not isinstance(segments, list):
        raise InputError(
            Reason.JSON_SEGMENTS, f"field 'segments' must be an array, not {json_type(segments)}"
        )
    if not segments:
        raise InputError(Reason.NO_CUES, "field 'segments' is empty")
    cues = [_cue(s, n) for n, s in enumerate(segments, start=1)]
    language = check_language(data.get("language"))
    check_times(cues)
    body, timeline = assemble(cues)
    check_controls(body, "the segments' text")
    doc_id = check_id(Path(name).stem)
    return Document(id=doc_id, text=body, language=language, source_name=name, cues=timeline)
