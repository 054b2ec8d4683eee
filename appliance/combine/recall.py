"""Passages the rules could not decide, for the model to read: where the model can *add* a finding.

The rule pre-pass asks the model only about features it found a mention of; a feature nobody mentions
in the lexicon's words is False without a model call. ``NearMisses`` finds, for such a feature, the
sentences that come close to a mention without matching one:

* **near-miss words**: a content word of one of the feature's multi-word terms on its own ("appetite"
  from "loss of appetite", "breath" from "short of breath", "sleep" from "trouble sleeping"), that
  word with a suffix ("sleeping", "breathing") or misspelt as below ("apetite"), when the word belongs
  to this feature's terms only ("stool" is in constipation, diarrhoea and bleeding terms: not a cue);
* **fuzzy matches**: a word within a bounded edit distance of one of the feature's one-word terms
  (1 edit for words of 5-7 letters, 2 from 8; same first letter; words under 5 letters never: the
  short-word guard), the misspellings and mis-hearings of speech recognition that the rules' own
  spelling corrector (``appliance.rules.fuzzy``: 6+ letters, not an English word) leaves alone
  ("nasea", "coguh", a second edit in an 8-letter word); an exact one-word term is not a near miss (the
  rules saw it and an exclusion such as "cough syrup" removed it).

The passage is the sentence with one sentence either side, and when the sentence is a clinician's
question, the turn that answers it. Candidates are ranked (fuzzy matches and more distinct cue words
first) and the caller asks at most a budget of them per document (``settings.recall_calls``). English
lexicons only: other languages get no candidates. Questions the rules found but could not read an
answer to (``unanswered``) are not candidates here: they already have a rule excerpt and are asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..rules import RuleAnalysis
    from ..tasks import Task

_WORD = re.compile(r"[a-z][a-z']+")
MIN_FUZZY = 5
MIN_CUE = 4
# Generic words of multi-word terms that say nothing about which feature is meant.
_STOP = frozenset("""
a about after all always and any are at bad been before better bit can't cannot constantly day days
decreased difficulty down feel feeling felt for from get getting going good got had hard has have having
her high his hard increased in is it keep keeps kept lack less little lost loss lot low more much my night
nights no not of off on or out poor problem problems really reduced run runs some still that the their
this time to trouble up very week weeks well when with worse your you i'm i've she he they them when
most can could would should much many just like also from into only over such than then there these those
time times thing things something everything anything nothing been being doing done make makes made
need needs feels during barely general generalized overall want wants fall turn middle issues easily paper
running cold frequent catch catching killing pressure chest during struggle struggling hunger nocturnal
paroxysmal disturbance staying toss tossing turning enjoy enjoying passing bathroom tissue toilet wipe
""".split())


@dataclass(frozen=True)
class Candidate:
    """One feature's near-miss passage: ``key``, the excerpt (normalised text, speaker tags kept, at most
    ``max_chars``), ``strength`` (rank: 2 per fuzzy hit, 1 per distinct near-miss word) and ``sentences``
    (indexes into ``RuleAnalysis.structure.sentences`` of the sentences with a near miss)."""

    key: str
    excerpt: str
    strength: int
    sentences: tuple[int, ...]


def _edit_distance_at_most(a: str, b: str, k: int) -> bool:
    """Levenshtein distance of ``a`` and ``b`` <= ``k`` (banded dynamic programme, O(len * k))."""
    if abs(len(a) - len(b)) > k:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [k + 1] * len(b)
        lo, hi = max(1, i - k), min(len(b), i + k)
        for j in range(lo, hi + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != b[j - 1]))
        if min(cur[max(0, lo - 1): hi + 1]) > k:
            return False
        prev = cur
    return prev[len(b)] <= k


class NearMisses:
    """Near-miss candidates for one task's boolean features (module docstring). Built once per strategy
    from the task's English terms (``appliance.rules.lexicon.feature_terms``)."""

    def __init__(self, task: Task) -> None:
        from ..rules.lexicon import EXCLUDE, feature_terms

        self.task = task
        self._cue_words: dict[str, frozenset[str]] = {}
        self._singles: dict[str, tuple[str, ...]] = {}
        self._exact: set[str] = set()  # one-word terms of any feature: the rules saw those
        owners: dict[str, set[str]] = {}  # word of any term -> the features whose terms use it
        multi: dict[str, set[str]] = {}
        for f in task.features:
            if f.type != "boolean":
                continue
            terms = [t.text.lower() for t in feature_terms(task, f, "en") if t.feature != EXCLUDE]
            singles: set[str] = set()
            multi[f.key] = set()
            for term in terms:
                parts = [w.rstrip("*") for w in term.split() if w != "_"]
                for w in parts:
                    owners.setdefault(w, set()).add(f.key)
                if len(parts) == 1:
                    self._exact.add(parts[0])
                    if len(parts[0]) >= MIN_FUZZY and parts[0].isalpha():
                        singles.add(parts[0])
                    continue
                multi[f.key].update(w for w in parts if len(w) >= MIN_CUE and w.isalpha() and w not in _STOP)
            self._singles[f.key] = tuple(sorted(singles))
        # A near-miss word must point at one feature only ("stool" is constipation, diarrhoea and bleeding).
        for key, words in multi.items():
            self._cue_words[key] = frozenset(w for w in words
                                             if owners.get(w) == {key} and w not in self._exact)

    def _hits(self, key: str, word: str) -> int:
        """2 for a fuzzy match of a one-word term, 1 for a near-miss word, 0 otherwise."""
        if word in self._exact:
            return 0
        if len(word) >= MIN_FUZZY:
            k = 1 if len(word) < 8 else 2
            for s in self._singles.get(key, ()):
                if s[0] == word[0] and _edit_distance_at_most(word, s, k):
                    return 2
        for c in self._cue_words.get(key, ()):
            if word == c or (word.startswith(c) and len(word) - len(c) <= 3):
                return 1
            if len(word) >= MIN_FUZZY and len(c) >= MIN_FUZZY and c[0] == word[0] \
                    and _edit_distance_at_most(word, c, 1 if len(word) < 8 else 2):
                return 1
        return 0

    def candidate(self, analysis: RuleAnalysis, key: str, max_chars: int) -> Candidate | None:
        """The near-miss passage for feature ``key`` of a document the rules found no mention of it in;
        None when the feature has a mention, no near miss, or the text is not English."""
        if analysis.mentions.get(key) or analysis.language != "en" or key not in self._cue_words:
            return None
        norm = analysis.prepared.normalized
        sents = analysis.structure.sentences
        hit_sents: list[int] = []
        strength, distinct = 0, set()
        for s in sents:
            best = 0
            for w in _WORD.findall(norm[s.start: s.end].lower()):
                h = self._hits(key, w)
                if h and w not in distinct:
                    distinct.add(w)
                    strength += h
                best = max(best, h)
            if best:
                hit_sents.append(s.index)
        if not hit_sents:
            return None
        passages: list[str] = []
        budget = max_chars
        for i in hit_sents:
            hi = i + 1
            answer = analysis.structure.answer_to(sents[i]) if sents[i].question else None
            if answer is not None:
                hi = max(hi, answer.index)
            text = _render(analysis, max(0, i - 1), min(len(sents) - 1, hi))
            if passages and text in passages[-1]:
                continue
            if len(text) > budget:
                if not passages:
                    passages.append(text[:budget])
                break
            passages.append(text)
            budget -= len(text) + 1
        return Candidate(key=key, excerpt="\n".join(passages), strength=strength, sentences=tuple(hit_sents))

    def ranked(self, analysis: RuleAnalysis, keys: list[str], max_chars: int) -> list[Candidate]:
        """Candidates for ``keys`` (features without a mention), strongest first, ties in task order."""
        found = [c for k in keys if (c := self.candidate(analysis, k, max_chars)) is not None]
        order = {k: i for i, k in enumerate(keys)}
        return sorted(found, key=lambda c: (-c.strength, order[c.key]))


def _render(analysis: RuleAnalysis, lo: int, hi: int) -> str:
    """Sentences ``lo..hi`` of the normalised text, one line per turn with its speaker tag (the layout of
    ``RuleAnalysis.select_evidence``)."""
    norm = analysis.prepared.normalized
    structure = analysis.structure
    sents = structure.sentences[lo: hi + 1]
    lines: list[str] = []
    i = 0
    while i < len(sents):
        j = i
        while j + 1 < len(sents) and sents[j + 1].turn == sents[i].turn:
            j += 1
        turn = structure.turns[sents[i].turn]
        body = norm[sents[i].start: sents[j].end]
        tag = norm[turn.start: turn.content_start].strip() if turn.tag else ""
        lines.append(f"{tag} {body}" if tag else body)
        i = j + 1
    return "\n".join(lines)
