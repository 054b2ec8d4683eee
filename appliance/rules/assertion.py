"""How one matched mention is read: its assertion, from its ConText modifiers, its speaker and, for a
question, the answer's polarity.

Which modifiers reach a mention is ConText's business (``context``, ``scope``: sentence scope cut by
terminations, a word budget in which lists are free, clause breaks, answer particles). Here, in a
statement, the first that applies:

* examination context ("pain to palpation", "does it hurt when I press") -> ``exam`` (not counted: a
  sign, not a symptom report);
* negated -> ``absent``: NEGATED_EXISTENCE or a NEGATION_FRAME, but not both: two negations cancel
  ("never not tired" is a PSEUDO phrase; "I can't say I'm not tired", "there isn't a day I don't
  have pain", "نمی‌تونم بگم درد ندارم" are a frame plus a negation) (``negated``);
* HYPOTHETICAL ("if", "call if", "in case of", "risk of", "should you", "can cause") -> ``hypothetical``;
* POSSIBLE_EXISTENCE ("possible", "possibly", "rule out", "cannot exclude", "might be", "suspected",
  "ممکن است", "شاید") -> ``uncertain``. **Value False**: the feature asks whether the finding is present
  now, and a finding a clinician has yet to confirm or exclude is not established. Hedges that still
  assert it ("probably", "likely", "I think I have", "a bit of") carry no cue and stay ``present``;
* FAMILY, i.e. another person ("my mother had ...", "family history of", "another patient") -> ``family``,
  unless a relative is the speaker (who then speaks about the patient);
* HISTORICAL ("history of", "last year", "used to", "resolved") and not also CURRENT ("still", "now",
  "since") -> ``history_only``;
* otherwise ``present``.

In a clinician's (or unknown speaker's) question ("Any fever?") the mention is not a statement
about the patient; the answer decides (``segment``, ``answers``): a negated question ("no fever?") with
any yes/no answer -> ``absent``; a hypothetical one -> ``hypothetical`` (possible: ``uncertain``);
answered "yes" -> as a statement (present / history_only / family); answered "no" -> ``absent``; no
clear answer -> ``unanswered`` (not counted; kept as evidence context). When the answer names the
feature itself ("No pain, but I cough"), its own mention decides and the question's vote is dropped
(``analysis``).

A patient's or relative's question is about their own situation ("Is this pain normal?", "Can you
send a doctor?") and is read as a statement (``PATIENT_QUESTIONS_ARE_STATEMENTS``).
"""

from __future__ import annotations

from typing import Any, Literal

from .scope import clause_breaks, refers_back, words_between
from .speakers import Role

Assertion = Literal["present", "absent", "history_only", "hypothetical", "uncertain", "family", "unanswered",
                    "exam"]

PATIENT_QUESTIONS_ARE_STATEMENTS = True


def categories(ent: Any) -> set[str]:
    """The ConText categories (upper case) that reach the target span ``ent`` (``ent._.modifiers``), with
    one conflict settled by distance, as ConText's nearest-cue reading does: when both HISTORICAL and
    CURRENT reach it, CURRENT counts only if a CURRENT cue is at least as near (``scope.words_between``)
    as the nearest HISTORICAL cue, or comes in a later clause that points back to the finding ("I had
    pain last year and I still have it"); "Constipation in the past, now regular" stays historical, and so
    does "I had a cough but it's gone now", where the CURRENT cue dates the resolution in its own clause."""
    mods = list(ent._.modifiers)
    cats = {m.category.upper() for m in mods}
    if "HISTORICAL" in cats and "CURRENT" in cats:
        doc = ent.doc

        def span(m: Any) -> Any:
            return doc[m.modifier_span[0] : m.modifier_span[1]]

        hist = [span(m) for m in mods if m.category.upper() == "HISTORICAL"]
        near_h = min(words_between(ent, h) for h in hist)
        current = [span(m) for m in mods if m.category.upper() == "CURRENT"]
        if not any(words_between(ent, c) <= near_h
                   or (refers_back(ent, c) and not _qualifies_resolution(ent, c, hist)) for c in current):
            cats.discard("CURRENT")
    return cats


def _qualifies_resolution(ent: Any, current: Any, hist: list[Any]) -> bool:
    """A CURRENT cue after the finding that only dates a HISTORICAL cue between them in its own clause
    ("I had a cough but it's gone now": "now" says when it went, not that the cough goes on)."""
    return any(ent.end <= h.start and h.end <= current.start
               and not clause_breaks([t for t in ent.doc[h.end : current.start] if not t.is_space], ent.doc.lang_)
               for h in hist)


def negated(cats: set[str]) -> bool:
    """The mention is negated: a plain negation (NEGATED_EXISTENCE) or a negation frame alone
    ("I can't say I'm tired"), but not both, which cancel ("I can't say I'm not tired")."""
    return ("NEGATED_EXISTENCE" in cats) != ("NEGATION_FRAME" in cats)


def statement_assertion(cats: set[str], role: Role) -> Assertion:
    """Assertion of a mention in a statement; ``cats``: its ConText categories, upper case."""
    if "EXAM" in cats:
        return "exam"
    if negated(cats):
        return "absent"
    if "HYPOTHETICAL" in cats:
        return "hypothetical"
    if "POSSIBLE_EXISTENCE" in cats:
        return "uncertain"
    if "FAMILY" in cats and role != "family":
        return "family"
    if "HISTORICAL" in cats and "CURRENT" not in cats:
        return "history_only"
    return "present"


def question_assertion(cats: set[str], role: Role, polarity: str | None) -> Assertion:
    """Assertion of a mention in a clinician's question, given the answer's ``polarity`` ('yes', 'no'
    or None) and the answerer's ``role``."""
    if "EXAM" in cats:
        return "exam"
    if negated(cats):
        return "absent" if polarity else "unanswered"
    if "HYPOTHETICAL" in cats:
        return "hypothetical"
    if "POSSIBLE_EXISTENCE" in cats:
        return "uncertain"
    if polarity == "yes":
        return statement_assertion(cats, role)
    if polarity == "no":
        return "absent"
    return "unanswered"
