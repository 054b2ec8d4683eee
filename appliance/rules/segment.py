"""Dialogue structure without a model: speaker turns, sentences, questions and yes/no answers.

Pure Python (regular expressions), language-aware for English and Persian, and general on purpose:
it does not assume the development set's ``[doctor]`` / ``[patient]`` tags.

Turns
  A line that starts with a speaker tag (``speakers``: ``[doctor]``, ``Nurse:``, ``همراه بیمار:``) starts a
  turn. "Label:" lines count as speaker tags only when at least one label names a known role, so
  "Fever: no" / "Plan: ..." notes are not read as dialogue. When the text has tags, an untagged line
  continues the previous turn; when it has none, every line is its own turn with an unknown speaker.

Sentences (the documented splitter used for every language; see docs/rules-baseline.md for why not
PyRuSH or pysbd)
  A sentence ends at ``. ! ? ؟ …`` followed by whitespace (closing quotes/brackets allowed in between),
  except after a known abbreviation (``Dr.``, ``Mr.``, ``e.g.``, ``vs.``, …) or a single letter
  written without a space (``J. Smith``); at a turn boundary; and at a line break unless the next
  line continues the sentence (the line before has no terminal punctuation and the next one starts
  with a lower-case Latin letter). Persian has no case, so a Persian line break is always a boundary.

Questions
  A sentence is a question when it ends with ``?`` or ``؟``; when it starts with Persian ``آیا``;
  when it ends with "or not" / ``یا نه`` / ``یا خیر``; or, if it has no terminal punctuation at all
  (unpunctuated speech-recognition output), when it opens like an English question ("do you",
  "any", "have you", …).

  In a tagged dialogue, a clinician's last sentence before a turn that opens with a plain yes or no
  is a question too, whatever its punctuation ("[doctor] Blood in your stool. [patient] No.").

Answers
  The answer to a question is the first sentence of the next turn when that turn has a different
  speaker and the question is among the trailing questions of its own turn (the asker did not go on
  talking). Without speaker tags it is the next sentence. Its polarity (yes / no / neither) is read
  by ``answers.answer_polarity``.

Entry point: ``segment_dialogue(normalised_text) -> Structure``; every offset indexes that text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .answers import answer_polarity
from .speakers import Role, is_bracket_tag, match_tag, speaker_role

# -- data -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One speaker turn: character offsets into the segmented text, the speaker label and its role."""

    index: int
    start: int  # start of the line (the tag included)
    content_start: int  # after the tag
    end: int
    speaker: str | None
    role: Role
    tag: str  # the tag as written ("[doctor]", "Nurse:") or ""


@dataclass(frozen=True)
class Sentence:
    """One sentence: offsets into the segmented text, its turn (index), speaker role, question or not."""

    index: int
    start: int  # first non-space character of the sentence (after any speaker tag)
    end: int  # end, trailing whitespace excluded
    seg_start: int  # where the token-level sentence starts (turn start, tag included, for a turn's first)
    turn: int
    role: Role
    question: bool


@dataclass(frozen=True)
class Structure:
    """A segmented dialogue: turns and sentences in document order (``index`` = position in the list)."""

    turns: list[Turn]
    sentences: list[Sentence]
    tagged: bool  # True when the text has speaker tags

    def answer_to(self, s: Sentence) -> Sentence | None:
        """The sentence that answers question ``s`` (see module docstring), or None."""
        if not s.question:
            return None
        sents = self.sentences
        nxt = s.index + 1
        if not self.tagged:
            if nxt < len(sents) and not sents[nxt].question:
                return sents[nxt]
            return None
        while nxt < len(sents) and sents[nxt].turn == s.turn:
            if not sents[nxt].question:
                return None  # the asker went on talking
            nxt += 1
        if nxt >= len(sents):
            return None
        a = sents[nxt]
        t_q, t_a = self.turns[s.turn], self.turns[a.turn]
        if t_q.speaker is not None and t_a.speaker is not None and t_q.speaker.lower() == t_a.speaker.lower():
            return None
        return a

# -- sentence splitting ---------------------------------------------------------------------------

_ABBREV = {
    "dr",
    "mr",
    "mrs",
    "ms",
    "st",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "eg",
    "ie",
    "approx",
    "fig",
    "jr",
    "sr",
    "prof",
    "inc",
    "no",
    "nos",
    "dept",
    "wk",
    "wks",
    "min",
    "hr",
    "hrs",
    "mg",
    "ml",
    "cc",
    "pt",
    "pts",
    "mt",
    "ft",
    "oz",
    "lb",
    "lbs",
    "sgt",
    "capt",
    "gen",
    "rev",
    "hon",
    "ca",
    "cf",
    "al",
}
_END = re.compile(r"[.!?؟…]+[\"'”’»)\]]*(?=\s)")
_Q_END = re.compile(r"[?؟][\"'”’»)\]]*\s*$")
_TERMINAL = re.compile(r"[.!?؟…][\"'”’»)\]]*\s*$")
_Q_OPENERS = re.compile(
    r"^(?:(?:and|so|um|uh|okay|ok|now|also|well|yeah|alright|right|hmm|oh|but|then|and then|all right|sure)\s*,?\s+)*"
    r"(?:do|does|did|are|is|was|were|have|has|had|any|anything|can|could|would|will|how|what|when|where|"
    r"which|who|why|ever)\b",
    re.IGNORECASE,
)
# Where a question starts inside an unpunctuated run ("okay i see that how is the pain are you ...").
_Q_CUE = re.compile(
    r"\b(?:(?:how|what|when|where|which|why)\s+(?:about|is|are|was|were|do|does|did|have|has|can|could|would|will)\b"
    r"|(?<!\bthat )(?<!\bthis )(?<!\bwhat )(?:do|does|did|are|is|was|were|have|has|can|could|will|would)\s+"
    r"(?:you|it|they|he|she|there|your|we|that|this)\b"
    r"|any\s+other\b|anything\s+else\b)",
    re.IGNORECASE,
)
_Q_ANY = re.compile(r"\b(?:symptoms?|like|about|also|okay|ok|alright|now|so|sure)\s+(any)\b", re.IGNORECASE)
_Q_TAIL = re.compile(r"(?:\bor\s+not|یا\s+نه|یا\s+خیر)\s*[.!]?\s*$", re.IGNORECASE)
_LATIN_LOWER = re.compile(r"[a-z]")
_WORD_BEFORE = re.compile(r"([\w.]+)$")


def _is_question(text: str) -> bool:
    t = text.strip()
    if not t:
        return False
    if _Q_END.search(t) or t.startswith("آیا") or _Q_TAIL.search(t):
        return True
    return bool(not _TERMINAL.search(t) and _Q_OPENERS.match(t))


def _split_region(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence (start, end) pairs inside text[start:end]; whitespace trimmed, empties dropped."""
    pieces: list[tuple[int, int]] = []
    region = text[start:end]
    # 1) line breaks
    lines: list[tuple[int, int]] = []
    pos = 0
    for m in re.finditer(r"\n", region):
        lines.append((pos, m.start()))
        pos = m.end()
    lines.append((pos, len(region)))
    merged: list[list[int]] = []
    for ls, le in lines:
        seg = region[ls:le]
        if not seg.strip():
            if merged:
                merged[-1].append(-1)  # blank line: hard boundary marker
            continue
        if merged and merged[-1][-1] != -1:
            prev = region[merged[-1][0] : merged[-1][1]]
            first = seg.lstrip()[:1]
            if not _TERMINAL.search(prev) and first and _LATIN_LOWER.match(first):
                merged[-1][1] = le  # continuation of a wrapped line
                continue
        merged.append([ls, le])
    # 2) terminal punctuation inside each line
    for item in merged:
        ls, le = item[0], item[1]
        seg = region[ls:le]
        cur = 0
        for m in _END.finditer(seg):
            if m.group().startswith(".") and len(m.group()) == 1:
                w = _WORD_BEFORE.search(seg[max(0, m.start() - 40) : m.start()])
                if w:
                    word = w.group(1).lower().rstrip(".")
                    if word in _ABBREV or (len(word) == 1 and word.isalpha()):
                        continue
            pieces.append((ls + cur, ls + m.end()))
            cur = m.end()
        pieces.append((ls + cur, le))
    # 3) unpunctuated speech: a question cue after the start splits statement | question
    split: list[tuple[int, int]] = []
    for s, e in pieces:
        seg = region[s:e]
        if not _TERMINAL.search(seg) and not _Q_OPENERS.match(seg.strip()):
            cut = [m.start() for m in (_Q_CUE.search(seg),) if m]
            cut += [m.start(1) for m in (_Q_ANY.search(seg),) if m]
            cut = [c for c in cut if seg[:c].strip()]
            if cut:
                c = min(cut)
                split.append((s, s + c))
                split.append((s + c, e))
                continue
        split.append((s, e))
    out: list[tuple[int, int]] = []
    for s, e in split:
        seg = region[s:e]
        lead = len(seg) - len(seg.lstrip())
        trail = len(seg) - len(seg.rstrip())
        if e - trail > s + lead:
            out.append((start + s + lead, start + e - trail))
    return out


def segment_dialogue(text: str) -> Structure:
    """Turns and sentences of ``text`` (already normalised, ``appliance.normalize``); offsets index ``text``.
    An empty or whitespace-only text gives no turns and no sentences."""
    lines: list[tuple[int, int]] = []
    pos = 0
    for m in re.finditer(r"\n", text):
        lines.append((pos, m.start()))
        pos = m.end()
    lines.append((pos, len(text)))

    tags = [match_tag(text[s:e]) for s, e in lines]
    bracketed = any(is_bracket_tag(text[s:e]) for s, e in lines)
    # "Label:" lines are speakers only when some label is a known role ("Doctor:", "بیمار:"); otherwise
    # they are more likely headings or review-of-systems items ("Fever: no").
    tagged = bracketed or any(t and speaker_role(t[0]) != "unknown" for t in tags)

    turns: list[Turn] = []
    if tagged:
        cur: list | None = None
        for (s, e), tag in zip(lines, tags):
            if tag:
                if cur:
                    turns.append(_turn(len(turns), *cur))
                spk, n = tag
                cur = [s, s + n, e, spk, text[s : s + n].strip()]
            elif cur is None:
                if text[s:e].strip():
                    cur = [s, s, e, None, ""]
            else:
                cur[2] = e
        if cur:
            turns.append(_turn(len(turns), *cur))
    else:
        # No tags: one turn per paragraph-ish line group; speaker unknown.
        for s, e in lines:
            if text[s:e].strip():
                turns.append(_turn(len(turns), s, s, e, None, ""))

    sentences: list[Sentence] = []
    for t in turns:
        first = True
        for s, e in _split_region(text, t.content_start, t.end):
            sentences.append(
                Sentence(
                    index=len(sentences),
                    start=s,
                    end=e,
                    seg_start=t.start if first else s,
                    turn=t.index,
                    role=t.role,
                    question=_is_question(text[s:e]),
                )
            )
            first = False
    if tagged:
        sentences = _implicit_questions(text, turns, sentences)
    return Structure(turns=turns, sentences=sentences, tagged=tagged)


def _implicit_questions(text: str, turns: list[Turn], sentences: list[Sentence]) -> list[Sentence]:
    """A clinician's last sentence that the next speaker answers with a plain yes or no was a
    question, whatever its punctuation ("[doctor] Blood in your stool. [patient] No.")."""
    out = list(sentences)
    for k, s in enumerate(sentences[:-1]):
        nxt = sentences[k + 1]
        if s.question or nxt.turn == s.turn or s.role in ("patient", "family") or nxt.role == "clinician":
            continue
        t_s, t_n = turns[s.turn], turns[nxt.turn]
        if t_s.speaker and t_n.speaker and t_s.speaker.lower() == t_n.speaker.lower():
            continue
        if answer_polarity(text[nxt.start : nxt.end]) is not None:
            out[k] = replace(s, question=True)
    return out


def _turn(index: int, start: int, content_start: int, end: int, speaker: str | None, tag: str) -> Turn:
    return Turn(index, start, content_start, end, speaker, speaker_role(speaker), tag)

