"""What the rules know about one feature of one document, as numbers a combiner can weigh.

``finding_facts(analysis, key)`` reads the rules' analysis (``appliance.rules.RuleAnalysis``) once per
feature and returns ``FindingFacts``: the finding's ``status``, and counts of its mentions by assertion
(the outcome of the ConText modifiers: negated -> ``absent``, historical -> ``history_only``,
hypothetical -> ``hypothetical``, possible
(ConText, issue #17) -> ``uncertain``, experiencer -> ``family``; a clinician's question without a
clear answer -> ``unanswered``; an examination finding -> ``exam``), by speaker (patient, clinician,
family, unknown) for the mentions that say the feature is present, and by how they were said (a
statement, or a question answered yes/no). No text is kept: only counts and the status, so the facts
can be logged and cached with evaluation predictions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from ..rules import RuleAnalysis

ASSERTIONS = ("present", "absent", "history_only", "hypothetical", "uncertain", "family", "unanswered", "exam")
ROLES = ("patient", "clinician", "family", "unknown")
STATUSES = ("present", "absent", "history_only", "hypothetical", "uncertain", "family", "not_mentioned")


class FindingFacts(BaseModel):
    """The rules' facts about one feature of one document (counts are numbers of mentions).

    ``status``: the rule finding's status (``appliance.rules.findings``); ``mentions``: all matched
    mentions; ``by_assertion``: mentions per assertion (every key of ``ASSERTIONS``);
    ``present_by_role``: present mentions per speaker role (every key of ``ROLES``);
    ``present_answered`` / ``absent_answered``: present/absent mentions read from the answer to a
    clinician's question (the rest are statements); ``questions``: mentions inside a clinician's question.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: str
    mentions: int = 0
    by_assertion: dict[str, int]
    present_by_role: dict[str, int]
    present_answered: int = 0
    absent_answered: int = 0
    questions: int = 0

    @property
    def undecided(self) -> bool:
        """The rules found mentions but could not decide (no counted vote: questions left unanswered,
        examination findings only)."""
        return self.status == "not_mentioned" and self.mentions > 0


def no_facts() -> FindingFacts:
    """The facts of a feature without a single mention."""
    return FindingFacts(status="not_mentioned", by_assertion={a: 0 for a in ASSERTIONS},
                        present_by_role={r: 0 for r in ROLES})


def finding_facts(analysis: RuleAnalysis, key: str) -> FindingFacts:
    """The facts about feature ``key`` in ``analysis``. ``KeyError`` for a key the task does not have;
    a non-boolean feature (no rule finding) gets ``no_facts()``."""
    finding = analysis.finding(key)
    if finding is None:
        return no_facts()
    mentions: list[Any] = list(analysis.mentions.get(key, []))
    by_assertion = {a: 0 for a in ASSERTIONS}
    by_role = {r: 0 for r in ROLES}
    present_answered = absent_answered = questions = 0
    for m in mentions:
        assertion = str(getattr(m, "assertion", "present"))
        by_assertion[assertion] = by_assertion.get(assertion, 0) + 1
        sentence = getattr(m, "sentence", None)
        asked = bool(getattr(sentence, "question", False)) and getattr(m, "answer", None) is not None
        if bool(getattr(sentence, "question", False)):
            questions += 1
        if assertion == "present":
            role = getattr(getattr(m, "answer", None) or sentence, "role", "unknown")
            by_role[role if role in by_role else "unknown"] += 1
            present_answered += int(asked)
        elif assertion == "absent":
            absent_answered += int(asked)
    return FindingFacts(status=finding.status, mentions=len(mentions), by_assertion=by_assertion,
                        present_by_role=by_role, present_answered=present_answered,
                        absent_answered=absent_answered, questions=questions)
