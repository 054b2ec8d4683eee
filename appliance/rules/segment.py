"""Dialogue structure without a model: speaker turns, sentences, questions and yes/no answers.

Pure Python (regular expressions), language-aware for English and Persian, and general on purpose:
it does not assume the development set's ``[doctor]`` / ``[patient]`` tags, nor punctuation or case.
It reads the *speech view* of the text (``speech.speech_view``: non-speech tags and cue times blanked
out, same offsets), so ``[inaudible]`` never becomes a speaker.

Turns
  A line that starts with a speaker tag (``speakers``: ``[doctor]``, ``Nurse:``, ``SPEAKER_00:``,
  ``همراه بیمار:``) starts a turn. The text counts as a dialogue when some tag is bracketed, names a known
  role, or is an anonymous diarization label (``SPEAKER_00``, ``Speaker 2``, ``spk0``); then a
  "Label:" of no known role counts as a speaker only when it recurs on two lines or more (a one-off
  "Pain: 7/10" is content), and an untagged line continues the previous turn. A text without such tags
  whose lines open with a bare role word ("nurse hello its ...", "patient no thats fine": speech
  recognition output without colons) is a tagged dialogue too, when at least half of its lines open so
  and with two roles or more (a note's lines that all begin "Patient ..." are not). Without tags every line
  is its own turn with an unknown speaker. Anonymous speakers get a role from how they talk
  (``speakers.infer_roles``).

Checklist lines
  A line made of ``Label: value`` items with a yes/no value (``Constipation: Yes``, ``Fever: no,
  Cough: yes``, ``Nausea: no. Constipation: yes.``, ``- Bleeding: N``, ``Fever - no``: a colon, ``=`` or a dash with spaces around it;
  values in ``CHECKLIST_VALUES``) is never a speaker tag: each item
  is a question (the label) answered by its value, read as a statement about the patient whoever wrote
  the line (its sentences have role ``unknown``). A label that names a role or an anonymous speaker
  ("Patient: yes"), or stands alone before a value on two lines or more ("Mary: No." ... "Mary: Yes."),
  is a speaker, not an item.

Sentences and questions: ``sentences`` (with and without punctuation; the document decides which,
``sentences.is_unpunctuated``). In a tagged dialogue, a clinician's last sentence before a turn that
opens with a plain yes or no is a question too, whatever its punctuation ("[doctor] Blood in your
stool. [patient] No."); so is, for a speaker of no known role, a sentence followed in the same turn by a
``reply`` sentence that says yes or no ("chest pain fever chills no nothing like that").

Answers
  The answer to a question is the first sentence of the next turn when that turn has a different
  speaker and the question is among the trailing questions of its own turn (the asker did not go on
  talking); a ``reply`` sentence of the same turn when the turn's speaker has no known role (several
  voices on one line); a checklist item's value. Without speaker tags it is the next sentence that is
  not a question (a run of questions shares one answer). Its polarity (yes / no / neither) is read by
  ``answers.answer_polarity``.

Entry point: ``segment_dialogue(view) -> Structure``; every offset indexes that text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field, replace

from .answers import CHECKLIST_VALUES, answer_polarity
from .sentences import continues, is_question, is_unpunctuated, split_region
from .speakers import Role, infer_roles, is_anonymous, is_bracket_tag, match_tag, speaker_role

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
    """One sentence: offsets into the segmented text, its turn (index), speaker role, question or not;
    ``reply``: it opens with a reply cue of unpunctuated speech or is a checklist value."""

    index: int
    start: int  # first non-space character of the sentence (after any speaker tag)
    end: int  # end, trailing whitespace excluded
    seg_start: int  # where the token-level sentence starts (turn start, tag included, for a turn's first)
    turn: int
    role: Role
    question: bool
    reply: bool = False


@dataclass(frozen=True)
class Structure:
    """A segmented dialogue: turns and sentences in document order (``index`` = position in the list);
    ``links``: question index -> answer index fixed by the layout (checklist items)."""

    turns: list[Turn]
    sentences: list[Sentence]
    tagged: bool  # True when the text has speaker tags
    links: dict[int, int] = field(default_factory=dict)
    unpunctuated: bool = False

    def answer_to(self, s: Sentence) -> Sentence | None:
        """The sentence that answers question ``s`` (see module docstring), or None."""
        if not s.question:
            return None
        sents = self.sentences
        if s.index in self.links:
            return sents[self.links[s.index]]
        nxt = s.index + 1
        if not self.tagged:
            while nxt < len(sents) and sents[nxt].question and not sents[nxt].reply:
                nxt += 1
            return sents[nxt] if nxt < len(sents) else None
        while nxt < len(sents) and sents[nxt].turn == s.turn:
            if sents[nxt].reply and self.turns[s.turn].role == "unknown":
                return sents[nxt]
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


# -- checklist lines ------------------------------------------------------------------------------

_VALUE = "|".join(re.escape(v) for v in sorted(CHECKLIST_VALUES, key=len, reverse=True))
_ITEM = (
    r"(?P<label>[^\W\d_][^:\n=,;|]{0,58}?)(?:[ \t]*[:=][ \t]*|[ \t]+[-–—][ \t]+)(?P<value>" + _VALUE + r")(?![\w+\-✓✔✗✘])[ \t]*\.?"
)
_ITEM_RE = re.compile(_ITEM, re.IGNORECASE)
_CHECKLIST_LINE = re.compile(
    r"^[ \t]*(?:[-*•][ \t]*)?" + re.sub(r"\(\?P<\w+>", "(?:", _ITEM) + r"(?:(?:[ \t]*[,;|][ \t]*|(?<=\.)[ \t]+)"
    + re.sub(r"\(\?P<\w+>", "(?:", _ITEM) + r")*[ \t]*$",
    re.IGNORECASE,
)


def checklist_items(text: str, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """``[(label_start, label_end, value_start, value_end)]`` when ``text[start:end]`` (one line) is a
    checklist line (module docstring), else []."""
    line = text[start:end]
    if not _CHECKLIST_LINE.match(line):
        return []
    items = [(start + m.start("label"), start + m.end("label"), start + m.start("value"), start + m.end("value"))
             for m in _ITEM_RE.finditer(line)]
    if len(items) == 1:
        label = text[items[0][0] : items[0][1]]
        if speaker_role(label) != "unknown" or is_anonymous(label):
            return []  # "Patient: yes" is a turn
    return items


# -- segmentation ---------------------------------------------------------------------------------


def _line_spans(text: str) -> list[tuple[int, int]]:
    lines: list[tuple[int, int]] = []
    pos = 0
    for m in re.finditer(r"\n", text):
        lines.append((pos, m.start()))
        pos = m.end()
    lines.append((pos, len(text)))
    return lines


def _speaker_tags(text: str, lines: list[tuple[int, int]], items: list[list]) -> tuple[list, bool]:
    """The speaker tag of each line (None for none) and whether the text is a tagged dialogue."""
    tags = [None if items[i] else match_tag(text[s:e]) for i, (s, e) in enumerate(lines)]
    bracketed = any(not items[i] and is_bracket_tag(text[s:e]) for i, (s, e) in enumerate(lines))
    known = [bool(t) and (speaker_role(t[0]) != "unknown" or is_anonymous(t[0])) for t in tags]
    # "Label:" lines are speakers only when some label is a known role or an anonymous speaker; otherwise
    # they are more likely headings or review-of-systems items ("Fever: no").
    tagged = bracketed or any(known)
    if not tagged:
        bare = [None if items[i] else _bare_tag(text[s:e]) for i, (s, e) in enumerate(lines)]
        said = sum(1 for s, e in lines if text[s:e].strip())
        if len({speaker_role(b[0]) for b in bare if b}) >= 2 and 2 * sum(1 for b in bare if b) >= said:
            return bare, True
    if tagged:
        counts = Counter(t[0].lower() for t in tags if t)
        tags = [t if (not t or k or is_bracket_tag(text[s:e]) or counts[t[0].lower()] >= 2) else None
                for t, k, (s, e) in zip(tags, known, lines)]
    return tags, tagged


_BARE_TAG = re.compile(r"[ \t]*([^\W\d_]+)[ \t]+(?=\S)")


def _bare_tag(line: str) -> tuple[str, int] | None:
    """(label, length of the tag prefix) when ``line`` opens with a single role word and more words
    ("patient no thats fine"), else None."""
    m = _BARE_TAG.match(line)
    if m is None or speaker_role(m.group(1)) == "unknown":
        return None
    return m.group(1), m.end()


def segment_dialogue(text: str) -> Structure:
    """Turns and sentences of ``text`` (normalised, ``appliance.normalize``, best its speech view,
    ``speech.speech_view``); offsets index ``text``. An empty or whitespace-only text gives no turns and
    no sentences."""
    lines = _line_spans(text)
    items = [checklist_items(text, s, e) for s, e in lines]
    # a label on two lines or more is a speaker ("Mary: No." ... "Mary: Yes."), not a checklist item
    labels = Counter(text[its[0][0] : its[0][1]].strip().lower() for its in items if len(its) == 1)
    items = [its if len(its) != 1 or labels[text[its[0][0] : its[0][1]].strip().lower()] < 2 else []
             for its in items]
    tags, tagged = _speaker_tags(text, lines, items)

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
        # No tags: one turn per line, a wrapped line (no terminal mark before it, a lower-case start)
        # joined to the one before; speaker unknown.
        for s, e in lines:
            if not text[s:e].strip():
                continue
            if turns and continues(text[turns[-1].start : turns[-1].end], text[s:e]):
                turns[-1] = replace(turns[-1], end=e)
                continue
            turns.append(_turn(len(turns), s, s, e, None, ""))

    unpunct = is_unpunctuated(text)
    line_starts = [s for s, _ in lines]
    sentences: list[Sentence] = []
    links: dict[int, int] = {}
    for t in turns:
        first = True
        for s, e, reply, role, link in _turn_pieces(text, t, lines, line_starts, items, unpunct):
            if link:
                links[len(sentences) - 1] = len(sentences)
            question = not reply if role is not None else is_question(text[s:e])
            sentences.append(Sentence(index=len(sentences), start=s, end=e, seg_start=t.start if first else s,
                                      turn=t.index, role=role or t.role, question=question, reply=reply))
            first = False
    if tagged:
        turns, sentences = _anonymous_roles(text, turns, sentences, set(links) | set(links.values()))
    sentences = _implicit_questions(text, turns, sentences, tagged)
    return Structure(turns=turns, sentences=sentences, tagged=tagged, links=links, unpunctuated=unpunct)


def _turn_pieces(text: str, t: Turn, lines: list[tuple[int, int]], line_starts: list[int], items: list[list],
                 unpunct: bool):
    """``(start, end, reply, role, linked)`` per sentence of turn ``t``: checklist items as label (role
    'unknown', a question) + value (linked to the label as its answer); other lines split by
    ``sentences.split_region``. ``role`` None: the turn's."""
    pending = t.content_start
    for k in range(bisect_right(line_starts, t.start) - 1, len(lines)):
        (s, e), its = lines[k], items[k]
        if s >= t.end:
            break
        if e <= t.content_start or not its:
            continue
        if pending < s:
            for p in split_region(text, pending, s, unpunct):
                yield p.start, p.end, p.reply, None, False
        for ls, le, vs, ve in its:
            yield ls, le, False, "unknown", False
            yield vs, ve, True, "unknown", True
        pending = e
    if pending < t.end:
        for p in split_region(text, pending, t.end, unpunct):
            yield p.start, p.end, p.reply, None, False


def _anonymous_roles(text: str, turns: list[Turn], sentences: list[Sentence],
                     checklist: set[int]) -> tuple[list[Turn], list[Sentence]]:
    """Roles for anonymous speakers (``speakers.infer_roles``), applied to their turns and sentences
    (not to checklist sentences, which keep 'unknown')."""
    anon = {t.speaker.lower() for t in turns if t.speaker and is_anonymous(t.speaker)}
    if not anon:
        return turns, sentences
    if any(t.role == "clinician" for t in turns):
        return turns, sentences  # a named clinician is there: anonymous voices stay unknown
    talk: dict[str, list[tuple[str, bool]]] = {}
    for s in sentences:
        spk = turns[s.turn].speaker
        if spk and spk.lower() in anon:
            talk.setdefault(spk.lower(), []).append((text[s.start : s.end], s.question))
    roles = infer_roles(talk)
    if not roles:
        return turns, sentences
    turns = [replace(t, role=roles.get(t.speaker.lower(), t.role)) if t.speaker else t for t in turns]
    sentences = [s if s.index in checklist else replace(s, role=turns[s.turn].role) for s in sentences]
    return turns, sentences


_FIRST_PERSON = re.compile(r"^\W*(?:(?:um|uh|so|and|well|oh)\s+)*(?:i|i'm|i've|my|we|we're)\b", re.IGNORECASE)


def _implicit_questions(text: str, turns: list[Turn], sentences: list[Sentence], tagged: bool) -> list[Sentence]:
    """A clinician's last sentence that the next speaker answers with a plain yes or no was a
    question, whatever its punctuation ("[doctor] Blood in your stool. [patient] No."); so was an
    unknown speaker's sentence followed in its turn by a reply that says yes or no."""
    out = list(sentences)
    for k, s in enumerate(sentences[:-1]):
        nxt = sentences[k + 1]
        if s.question or s.role in ("patient", "family"):
            continue
        if nxt.turn == s.turn:
            if not (nxt.reply and s.role == "unknown") or _FIRST_PERSON.match(text[s.start : s.end]):
                continue
        elif not tagged or nxt.role == "clinician":
            continue
        else:
            t_s, t_n = turns[s.turn], turns[nxt.turn]
            if t_s.speaker and t_n.speaker and t_s.speaker.lower() == t_n.speaker.lower():
                continue
        if answer_polarity(text[nxt.start : nxt.end]) is not None:
            out[k] = replace(s, question=True)
    return out


def _turn(index: int, start: int, content_start: int, end: int, speaker: str | None, tag: str) -> Turn:
    return Turn(index, start, content_start, end, speaker, speaker_role(speaker), tag)
