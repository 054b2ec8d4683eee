"""Misspelt lexicon words: a bounded edit distance to the words of the task's terms, with guards.

``SpellingCorrector(terms)`` is called with one lower-case word of a document (``matchtext`` calls it
for words of six letters or more) and returns the lexicon word it is a misspelling of, or None. A
word is corrected only when all of these hold:

* it is at least ``MIN_LENGTH`` (6) letters long, and so is the lexicon word (short words are too
  close to each other: "pain"/"paid", "sore"/"sure");
* it is not a word of the lexicon itself, nor an English word (pyspellchecker's English word-frequency
  list, ~160,000 words from subtitles and Wikipedia: "camping" is never "cramping", "breeding" never
  "bleeding", "hunting" never "hurting");
* it starts with the same letter as the lexicon word (typing and spelling slips rarely touch it);
* its optimal-string-alignment distance (Levenshtein with adjacent transpositions, rapidfuzz) to the
  lexicon word is at most 1, or 2 for a word of ``LONG_WORD`` (9) letters or more;
* exactly one lexicon word is that close, and no lexicon word of another feature is within the bound
  (a misspelling between two terms is left alone).

English only (the word list is English; Persian terms keep exact matching). Measured on the
development set: docs/rules-baseline.md ("Misspellings").
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from .lexicon import Term

MIN_LENGTH = 6
LONG_WORD = 9

_COMMON: frozenset[str] | None = None
_COMMON_LOCK = threading.Lock()


def common_words() -> frozenset[str]:
    """The English word list the corrector never touches (pyspellchecker's, lower case), loaded once."""
    global _COMMON
    if _COMMON is None:
        with _COMMON_LOCK:
            if _COMMON is None:
                from spellchecker import SpellChecker

                _COMMON = frozenset(SpellChecker(language="en", distance=1).word_frequency.keys())
    return _COMMON


class SpellingCorrector:
    """Callable ``word -> lexicon word | None`` for the words of ``terms`` (module docstring). Results
    are cached per word; safe to share between threads (a race only computes a word twice)."""

    def __init__(self, terms: Iterable[Term]) -> None:
        features: dict[str, set[str]] = {}
        for t in terms:
            for w in t.text.lower().split():
                if w.isalpha():
                    features.setdefault(w, set()).add(t.feature)
        self.lexicon = frozenset(features)
        self.features = {w: frozenset(f) for w, f in features.items() if len(w) >= MIN_LENGTH}
        self.by_letter: dict[str, list[str]] = {}
        for w in sorted(self.features):
            self.by_letter.setdefault(w[0], []).append(w)
        self.common = common_words()
        self._cache: dict[str, str | None] = {}

    def __call__(self, word: str) -> str | None:
        """The lexicon word ``word`` (lower case) is a misspelling of, or None."""
        if word in self._cache:
            return self._cache[word]
        fix = self._correct(word)
        if len(self._cache) < 100_000:
            self._cache[word] = fix
        return fix

    def _correct(self, word: str) -> str | None:
        if (
            len(word) < MIN_LENGTH
            or word in self.lexicon
            or word in self.common
            or not re.fullmatch(r"[a-z]+", word)
        ):
            return None
        cands = self.by_letter.get(word[0])
        if not cands:
            return None
        from rapidfuzz.distance import OSA
        from rapidfuzz.process import extract

        bound = 2 if len(word) >= LONG_WORD else 1
        near = [
            (w, int(d))
            for w, d, _ in extract(word, cands, scorer=OSA.distance, score_cutoff=bound, limit=None)
        ]
        if not near:
            return None
        best = min(d for _, d in near)
        top = [w for w, d in near if d == best]
        if len(top) != 1:
            return None
        feats = self.features[top[0]]
        if any(not (self.features[w] & feats) for w, _ in near):
            return None
        return top[0]
