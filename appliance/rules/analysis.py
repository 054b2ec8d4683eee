"""The rules' analysis of one document, computed once and then queried per feature.

``analyse_document(task, prepared, language)``: segment the normalised text (``segment``), run the
shared spaCy pipeline over blocks of whole sentences (``matcher``), read every matched mention
(``assertion``) and keep the mentions per feature. ``RuleAnalysis`` answers the per-feature questions:
``findings()`` / ``finding(key)`` (the vote, ``findings``) and ``select_evidence(key)`` (the excerpt an
LLM is asked about).

Two texts, on purpose: every ``Span`` (offsets, ``text``, ``sentence``, ``answer``) is a verbatim slice of
the user's text (``PreparedText.original``, through its offsets); the excerpts of ``select_evidence`` are
built from the *normalised* text, which is what the model reads (its prompts must not change).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .answers import answer_polarity
from .assertion import (
    PATIENT_QUESTIONS_ARE_STATEMENTS,
    Assertion,
    answer_particle,
    question_assertion,
    statement_assertion,
)
from .findings import CLINICIAN_WEIGHT, RuleFinding, Span, confidence, decide
from .lexicon import EXCLUDE
from .matcher import pipeline_for
from .matchtext import MatchText
from .segment import Sentence, Structure, segment_dialogue
from .speech import speech_view

if TYPE_CHECKING:
    from ..prepared import PreparedText
    from ..tasks import Task

#: Vote of a clinician's statement in a long turn (``LONG_TURN_WORDS`` words or more: an assessment and
#: plan, a dictation) of unpunctuated speech. Its sentence boundaries are guessed from word cues, so a
#: plan ("call us if you develop a fever"), a list of risks or an explanation is not told apart from a
#: finding as surely as in punctuated text: it needs a second mention (or a patient's). Chosen on the
#: development split (bench/asr_rules.py; docs/rules-baseline.md): clean-text errors 47 -> 42 against
#: 1.0, median sensitivity kept (weighting every unpunctuated clinician statement cost 0.06 of it).
UNPUNCTUATED_CLINICIAN_WEIGHT = 0.5
LONG_TURN_WORDS = 150

# Order in which passages are kept when the excerpt budget is short: assertions first.
_EVIDENCE_PRIORITY = {
    "present": 0,
    "absent": 1,
    "history_only": 2,
    "family": 3,
    "hypothetical": 3,
    "unanswered": 4,
    "exam": 4,
}


@dataclass
class Mention:
    """One matched mention of a feature; ``start`` / ``end`` index the normalised text."""

    key: str
    start: int
    end: int
    sentence: Sentence
    assertion: Assertion
    weight: float
    answer: Sentence | None = None


class RuleAnalysis:
    """One document as the rules read it. Built by ``RuleExtractor.analyse``; not thread-safe for
    concurrent first calls of ``findings`` (harmless: the result is the same), otherwise read-only.

    ``prepared``: the text analysed; ``language``: the rules language code; ``structure``: its turns and
    sentences (normalised offsets); ``mentions``: feature key -> mentions in document order; ``keys``:
    the task's boolean feature keys (the features the rules decide)."""

    def __init__(self, task: Task, prepared: PreparedText, language: str, structure: Structure,
                 mentions: dict[str, list[Mention]], keys: list[str]) -> None:
        self.task = task
        self.prepared = prepared
        self.language = language
        self.structure = structure
        self.mentions = mentions
        self.keys = keys
        self._findings: dict[str, RuleFinding] | None = None

    # -- findings -----------------------------------------------------------------------------------
    def findings(self) -> dict[str, RuleFinding]:
        """``{feature_key: RuleFinding}`` for every boolean feature of the task, in task order (computed
        once; do not mutate)."""
        if self._findings is None:
            self._findings = {key: self._finding(self.mentions.get(key, [])) for key in self.keys}
        return self._findings

    def finding(self, key: str) -> RuleFinding | None:
        """The finding for one feature; None for a feature the rules do not decide (not boolean).
        Raises ``KeyError`` for a key the task does not have."""
        self.task.feature(key)
        return self.findings().get(key)

    def _finding(self, mentions: list[Mention]) -> RuleFinding:
        status, votes, support = decide(mentions)
        return RuleFinding(value=status == "present", status=status, confidence=confidence(status, votes),
                           evidence=[self._span(m) for m in support])

    def _span(self, m: Mention) -> Span:
        """A mention as offsets into, and verbatim slices of, the user's text."""
        p = self.prepared
        s = m.sentence
        kw: dict[str, Any] = {}
        if m.answer is not None:
            a0, a1 = p.to_original(m.answer.start, m.answer.end)
            kw = {"answer": p.original[a0:a1], "answer_start": a0, "answer_end": a1}
        t0, t1 = p.to_original(m.start, m.end)
        s0, s1 = p.to_original(s.start, s.end)
        return Span(start=t0, end=t1, text=p.original[t0:t1], sentence=p.original[s0:s1], sentence_start=s0,
                    sentence_end=s1, assertion=m.assertion, speaker=s.role, question=s.question, **kw)

    # -- evidence for a model -----------------------------------------------------------------------
    def select_evidence(self, key: str, context_sentences: int = 1, max_chars: int = 1200) -> list[str]:
        """Passages (in document order) around every mention of the feature, each with
        ``context_sentences`` sentences either side (and, for a question, its answer), speaker tags
        kept, overlapping windows merged, at most ``max_chars`` characters in all (one newline between
        passages counted). Statements that assert the feature are kept first when the budget is short.
        Built from the normalised text. [] when nothing matched; ``KeyError`` for an unknown feature."""
        self.task.feature(key)  # KeyError for an unknown feature
        mentions = self.mentions.get(key, [])
        if not mentions:
            return []
        last = len(self.structure.sentences) - 1
        windows: list[list[int]] = []  # [lo, hi, priority, core_lo, core_hi]
        for m in mentions:
            i = m.sentence.index
            j = m.answer.index if m.answer is not None else i
            windows.append([max(0, i - context_sentences), min(last, j + context_sentences),
                            _EVIDENCE_PRIORITY[m.assertion], i, j])
        windows.sort()
        merged: list[list[int]] = []
        for w in windows:
            if merged and w[0] <= merged[-1][1] + 1:
                mw = merged[-1]
                mw[1] = max(mw[1], w[1])
                mw[2] = min(mw[2], w[2])
                mw[3] = min(mw[3], w[3])
                mw[4] = max(mw[4], w[4])
            else:
                merged.append(list(w))
        chosen: list[tuple[int, str]] = []
        budget = max_chars
        for w in sorted(merged, key=lambda w: (w[2], w[0])):
            passage = self._render(w[0], w[1])
            if len(passage) > budget:
                passage = self._render(w[3], w[4])
            if len(passage) > budget:
                if not chosen and budget > 0:
                    chosen.append((w[0], passage[:budget]))
                    budget = 0
                continue
            chosen.append((w[0], passage))
            budget -= len(passage) + 1
        return [p for _, p in sorted(chosen)]

    def _render(self, lo: int, hi: int) -> str:
        """Sentences lo..hi of the normalised text, one line per turn, each with its speaker tag."""
        norm = self.prepared.normalized
        sents = self.structure.sentences[lo : hi + 1]
        lines: list[str] = []
        i = 0
        while i < len(sents):
            j = i
            while j + 1 < len(sents) and sents[j + 1].turn == sents[i].turn:
                j += 1
            turn = self.structure.turns[sents[i].turn]
            body = norm[sents[i].start : sents[j].end]
            tag = norm[turn.start : turn.content_start].strip() if turn.tag else ""
            lines.append(f"{tag} {body}" if tag else body)
            i = j + 1
        return "\n".join(lines)


def analyse_document(task: Task, prepared: PreparedText, language: str) -> RuleAnalysis:
    """Run the rules once over ``prepared.normalized`` in rules language ``language`` (``rules_language``).

    The segmentation reads the speech view of the normalised text (``speech.speech_view``: non-speech
    tags and cue times blanked, same offsets); the matcher reads its match text (``matchtext``: shorthand
    expanded, fillers and repetitions dropped, misspellings corrected), whose offsets map back."""
    pipe = pipeline_for(task, language)
    view = speech_view(prepared.normalized)
    structure = segment_dialogue(view)
    mentions: dict[str, list[Mention]] = {}
    sents = structure.sentences
    if sents:
        starts = sorted({t.start for t in structure.turns} | {s.start for s in sents})
        sent_starts = [s.start for s in sents]
        polarity_cache: dict[int, str | None] = {}
        mt = pipe.match_text(view)
        hard = mt.from_source(hard_starts(view, starts))
        for doc, off in pipe.run_blocks(mt.text, mt.from_source(starts), hard):
            _collect(mentions, doc, off, mt, sent_starts, structure, view, polarity_cache)
        # A question answered by a sentence that itself mentions the feature ("Any pain?" - "Not pain,
        # but ...") defers to that mention: the answer's own words are more specific than yes/no.
        for key, ms in mentions.items():
            said = {m.sentence.index for m in ms if not m.sentence.question}
            mentions[key] = [m for m in ms if m.answer is None or m.answer.index not in said]
    return RuleAnalysis(task, prepared, language, structure, mentions, list(pipe.keys))


_TERMINAL = frozenset(".?!؟…")


def hard_starts(view: str, starts: list[int]) -> list[int]:
    """The sentence ``starts`` (sorted offsets into ``view``) that begin a line or follow terminal
    punctuation (``. ? ! ؟ …``, then only spaces): boundaries the text itself marks, which no lexicon
    term may span (``matcher.RulePipeline.run``). Starts guessed inside unpunctuated speech are left out."""
    out = []
    for p in starts:
        q = p - 1
        while q >= 0 and view[q] in " \t":
            q -= 1
        if q < 0 or view[q] in "\n\r" or view[q] in _TERMINAL:
            out.append(p)
    return out


def _collect(mentions: dict[str, list[Mention]], doc: Any, off: int, mt: MatchText, sent_starts: list[int],
             structure: Structure, norm: str, polarity_cache: dict[int, str | None]) -> None:
    """Turn one block's matched targets (offsets into ``mt``'s text, block at ``off``) and their ConText
    modifiers into mentions (offsets into ``norm``, the text segmented)."""
    sents = structure.sentences
    for ent in doc.ents:
        if ent.label_ == EXCLUDE:
            continue
        start_char, end_char = mt.to_source(ent.start_char + off, ent.end_char + off)
        k = bisect_right(sent_starts, start_char) - 1
        if k < 0 or start_char >= sents[k].end:
            continue  # inside a speaker tag
        s = sents[k]
        cats = {mod.category.upper() for mod in ent._.modifiers if not answer_particle(doc, mod, ent)}
        answer = None
        if s.question and not (PATIENT_QUESTIONS_ARE_STATEMENTS and s.role in ("patient", "family")):
            answer, pol = _answer(structure, s, norm, polarity_cache)
            assertion = question_assertion(cats, answer.role if answer else s.role, pol)
            weight = 1.0
        else:
            assertion = statement_assertion(cats, s.role)
            weight = CLINICIAN_WEIGHT if s.role == "clinician" else 1.0
            if s.role == "clinician" and structure.unpunctuated:
                t = structure.turns[s.turn]
                if norm.count(" ", t.content_start, t.end) >= LONG_TURN_WORDS:
                    weight = UNPUNCTUATED_CLINICIAN_WEIGHT
        mentions.setdefault(ent.label_, []).append(
            Mention(ent.label_, start_char, end_char, s, assertion, weight, answer)
        )


def _answer(structure: Structure, q: Sentence, norm: str,
            cache: dict[int, str | None]) -> tuple[Sentence | None, str | None]:
    """The answer to question ``q`` and its polarity; when the answer's first sentence says
    neither yes nor no ("Um.", "Well, let me think."), the next sentence of the same turn may."""
    first = structure.answer_to(q)
    if first is None:
        return None, None
    cand = [first]
    nxt = first.index + 1
    if nxt < len(structure.sentences) and structure.sentences[nxt].turn == first.turn:
        cand.append(structure.sentences[nxt])
    for c in cand:
        if c.index not in cache:
            cache[c.index] = answer_polarity(norm[c.start : c.end])
        if cache[c.index] is not None:
            return c, cache[c.index]
        if c.question:
            break
    return first, None
