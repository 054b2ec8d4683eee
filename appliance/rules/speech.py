"""What speech-recognition engines leave in a transcript that is not speech: non-speech tags, cue times,
fillers. Pure regular expressions, no model.

``speech_view(text)`` blanks out, length-preservingly (every character becomes a space, line breaks
kept), so that every offset into the view is an offset into ``text``:

* **non-speech tags**, glued to words or punctuation or not: ``[inaudible]``, ``[BLANK_AUDIO]``,
  ``(coughs)``, ``[Music]``, ``(upbeat music)``, ``[laughs]``, ``*sighs*``, ``[crosstalk 00:01:02]``,
  ``<noise>``, ``(patient clears throat)``: a bracketed run of at most six words, at least one a sound
  word (``NON_SPEECH_WORDS``: the tags Whisper, whisperX, Otter, Rev and common subtitle styles write)
  and every other one a modifier (``TAG_MODIFIERS``: "soft", "loud", "patient", "the", ...), so a
  note's "(cough and fever)" or "(left knee)" stays text; or a bracketed upper-case name with
  underscores (``[NO_SPEECH]``) other than a speaker label;
* **control-token markup**, glued to words or not: a model's special-token strings typed into a
  transcript (``<|im_end|>``, ``<｜end▁of▁sentence｜>``, ``</s>``, ``<bos>``, ``<start_of_turn>``,
  ``<<SYS>>``, ``[INST]``, ``[/INST]``, ``[CLS]``) and HTML-like tags (``<i>``, ``<br/>``): an angle-bracket
  run without spaces, or one of Mistral's and BERT's bracketed control words (``CONTROL_WORDS``; other
  bracketed words stay, ``[doctor]`` is a speaker). The model never reads them as control tokens
  (``appliance.inference.control_tokens``); here they must not glue to a word ("nausea</s>" is nausea);
* **cue times** at the start of a line: ``[00:00:01.200 --> 00:00:03.000]`` (whisper.cpp, whisperX text
  output), ``[1.20s -> 3.00s]`` (faster-whisper), ``00:00:01,200 --> 00:00:03,000`` (subtitle timing
  lines), ``(00:01:02)``. (The ``.txt`` input parser already takes them out of timed transcripts; this
  catches the rest.)

The segmentation (speaker tags, sentences, questions, answers) and the matcher both read the view, so
a tag never becomes a speaker name and ``(coughs)`` is never a cough. ``FILLERS`` are the hesitation
words the match text drops (``matchtext``) and the question and answer cues skip.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` as a set (word lists written as one string)."""
    return frozenset(text.split())


#: Words that make a short bracketed run a non-speech tag (lower case; plural / -ing forms listed).
NON_SPEECH_WORDS = _words(
    """inaudible unintelligible indiscernible incomprehensible unclear crosstalk overlapping overtalk
    blank_audio blank no_speech silence silent pause pauses paused music musical song singing
    laughter laughs laugh laughing chuckles chuckle chuckling giggles applause noise noises static
    beep beeps beeping cough coughs coughing sneeze sneezes sneezing sniff sniffs sniffles sniffling
    sigh sighs sighing throat breathes breathing exhales inhales gasps groans groaning clears
    clearing crying cries sobbing sobs whispers whispering mumbles mumbling foreign ringing rings
    ring phone door knock knocking typing clicking footsteps sound sounds audio video background
    interference feedback distortion garbled muffled unknown"""
)

#: Words that may stand in a non-speech tag beside a sound word ("soft music", "patient coughs").
TAG_MODIFIERS = _words(
    """a an the and of in on with from soft softly loud loudly quiet quietly upbeat gentle dramatic
    heavy heavily light lightly deep deeply long short brief briefly in background distant continues
    continuing starts stops playing plays speaker speakers patient doctor nurse caller person man
    woman someone multiple several both all word words phrase speech talk talking voice voices
    language spanish english persian farsi arabic"""
)

_BRACKETS = (r"\[", r"\]"), (r"\(", r"\)"), (r"<", r">"), (r"\*", r"\*"), (r"\{", r"\}")
_TAG_BODY = r"[^\[\]()<>*{}\n]{1,60}"
_TAG = re.compile("|".join(f"{o}(?P<b{i}>{_TAG_BODY}){c}" for i, (o, c) in enumerate(_BRACKETS)))
_TIME = r"(?:\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?|\d+(?:\.\d+)?s)"
_CUE = re.compile(
    rf"^[ \t]*(?:\[[ \t]*{_TIME}[ \t]*--?>[ \t]*{_TIME}[ \t]*\]|{_TIME}[ \t]*--?>[ \t]*{_TIME}|[(\[]{_TIME}[)\]])",
    re.MULTILINE,
)
#: Bracketed control words of chat templates and encoders (Mistral, BERT): ``[INST]``, ``[/INST]``, ...
CONTROL_WORDS = _words(
    """INST SYS SYSTEM_PROMPT TOOL_CALLS AVAILABLE_TOOLS TOOL_RESULTS TOOL_CONTENT IMG IMG_BREAK IMG_END
    PREFIX MIDDLE SUFFIX CLS SEP MASK PAD UNK BOS EOS"""
)
_CONTROL = re.compile(
    r"<[|｜][^\s<>]{0,80}?[|｜]>"  # <|im_end|>, <｜begin▁of▁sentence｜>
    r"|<</?SYS>>"  # Llama 2
    r"|</?[^\W\d][\w:.-]{0,60}/?>|<0x[0-9A-Fa-f]{2}>"  # </s>, <start_of_turn>, <i>, <br/>, byte tokens
    r"|\[/?(?:" + "|".join(sorted(CONTROL_WORDS, key=len, reverse=True)) + r")\]"
)
_UPPER_NAME = re.compile(r"^[A-Z]+(?:_[A-Z]+)+$")
_SPEAKERISH = re.compile(r"^(?:SPEAKER|SPK|SPKR|SPEAKER_[A-Z]+)(?:_\w+)?$")

#: Hesitation words: dropped from the match text, skipped by question and answer cues.
FILLERS = frozenset({"um", "uh", "uhm", "umm", "uhh", "er", "erm", "ehm", "hmm", "hm", "mm", "ah", "eh"})


def is_non_speech(body: str) -> bool:
    """True when the inside of a bracketed run (``inaudible``, ``BLANK_AUDIO``, ``upbeat music``) is a
    non-speech tag (module docstring). A speaker label (``SPEAKER_00``, ``doctor``) is not."""
    body = body.strip()
    if not body:
        return False
    if _UPPER_NAME.match(body):
        return not _SPEAKERISH.match(body)
    words = re.findall(r"[^\W\d]+", body.lower())
    return (
        0 < len(words) <= 6
        and any(w in NON_SPEECH_WORDS for w in words)
        and all(w in NON_SPEECH_WORDS or w in TAG_MODIFIERS for w in words)
    )


def _blank(m: re.Match) -> str:
    return re.sub(r"[^\n]", " ", m.group())


def speech_view(text: str) -> str:
    """``text`` with non-speech tags, control-token markup and line-initial cue times replaced by spaces
    (same length, same line breaks; module docstring). Returns ``text`` itself when there is nothing to
    blank."""
    out = _CUE.sub(_blank, text)
    if "<" in out or "[" in out:
        out = _CONTROL.sub(_blank, out)

    def tag(m: re.Match) -> str:
        body = next(g for g in m.groups() if g is not None)
        return _blank(m) if is_non_speech(body) else m.group()

    return _TAG.sub(tag, out)
