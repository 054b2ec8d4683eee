"""How one matched mention is read: its assertion, from its ConText modifiers, its speaker and, for a
question, the answer's polarity.

In a statement: inside an examination context ("pain to palpation", "does it hurt when I press")
-> ``exam`` (not counted: a sign, not a symptom report); negated -> ``absent``; hypothetical or
possible ("if", "can cause", "rule out") -> ``hypothetical``; family (unless a family member is the
speaker, who then speaks about the patient) -> ``family``; historical and not also marked current
("still", "now", "since") -> ``history_only``; otherwise ``present``.

In a clinician's (or unknown speaker's) question ("Any fever?") the mention is not a statement
about the patient; the answer decides (``segment``, ``answers``): a negated question ("no fever?") with
any yes/no answer -> ``absent``; a hypothetical one -> ``hypothetical``; answered "yes" -> as a
statement (present / history_only / family); answered "no" -> ``absent``; no clear answer ->
``unanswered`` (not counted; kept as evidence context). When the answer names the feature itself
("No pain, but I cough"), its own mention decides and the question's vote is dropped (``analysis``).

A patient's or relative's question is about their own situation ("Is this pain normal?", "Can you
send a doctor?") and is read as a statement (``PATIENT_QUESTIONS_ARE_STATEMENTS``).
"""

from __future__ import annotations

from typing import Any, Literal

from .speakers import Role

Assertion = Literal["present", "absent", "history_only", "hypothetical", "family", "unanswered", "exam"]

PATIENT_QUESTIONS_ARE_STATEMENTS = True

_PARTICLES = {"no", "nope", "nah", "not", "نه", "خیر", "نخیر"}
_LEADING = {"um", "uh", "well", "oh", "so", "and", "okay", "ok", "yeah", "خب", "خوب", "والا"}


def answer_particle(doc: Any, mod: Any, ent: Any) -> bool:
    """A sentence-initial "no" / "nope" / "نه" answers the question before it; it negates only a
    target right after it ("No fever."), not one further on ("No, it's just the pain in my knee").

    ``doc``: the spaCy Doc; ``mod``: a ConText modifier of target span ``ent``. True when ``mod`` is
    such an answer particle, so it does not count as a negation of ``ent``."""
    if mod.category.upper() != "NEGATED_EXISTENCE":
        return False
    start, end = mod.modifier_span
    if end - start != 1 or doc[start].lower_ not in _PARTICLES or ent.start < end:
        return False
    i = start
    while i > 0 and not doc[i].is_sent_start:  # only fillers and punctuation before it in its sentence
        prev = doc[i - 1]
        if not (prev.is_punct or prev.is_space or prev.lower_ in _LEADING):
            return False
        i -= 1
    gap = [t for t in doc[end : ent.start] if not t.is_space]
    # "No fever" and "No, no fever" stay negations; "No, it's ..." / "No it's just ..." answer.
    if gap and gap[0].is_punct:
        return not any(t.lower_ in _PARTICLES for t in gap)
    return len([t for t in gap if not t.is_punct and t.lower_ not in _PARTICLES]) > 1


def statement_assertion(cats: set[str], role: Role) -> Assertion:
    """Assertion of a mention in a statement; ``cats``: its ConText categories, upper case."""
    if "EXAM" in cats:
        return "exam"
    if "NEGATED_EXISTENCE" in cats:
        return "absent"
    if "HYPOTHETICAL" in cats or "POSSIBLE_EXISTENCE" in cats:
        return "hypothetical"
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
    if "NEGATED_EXISTENCE" in cats:
        return "absent" if polarity else "unanswered"
    if "HYPOTHETICAL" in cats or "POSSIBLE_EXISTENCE" in cats:
        return "hypothetical"
    if polarity == "yes":
        return statement_assertion(cats, role)
    if polarity == "no":
        return "absent"
    return "unanswered"
