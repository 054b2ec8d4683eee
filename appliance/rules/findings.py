"""What the rules report per feature: the mention spans (``Span``), the finding (``RuleFinding``) and the
vote that turns a feature's mentions into a finding.

Finding of a feature
  Every counted mention is one vote (``CLINICIAN_WEIGHT`` for a clinician's statement: 1.0, since
  down-weighting clinicians did not help on the development split, where clinicians summarise the
  patient and speech-recognition transcripts mislabel speakers). ``present`` when the present votes
  reach ``PRESENT_MIN`` (1) and at least ``PRESENT_RATIO`` (0.5) times the absent votes: a patient
  who reports knee pain and denies chest pain has pain. Otherwise the first of ``history_only``,
  ``absent``, ``family``, ``hypothetical``, ``uncertain`` that has a vote; otherwise
  ``not_mentioned``. ``value`` is True only for ``present``. ``unanswered`` and ``exam`` mentions are
  not counted.

Confidence (a heuristic, not a fitted model; ``confidence``)
  ``present``: 0.80 when a supporting mention is the patient's, a relative's or an untagged speaker's
  own statement, else (only clinicians' statements) 0.55; +0.10 per further present vote (at most
  0.95); -0.20 if there are also absent votes. ``absent``: 0.90, -0.15 if there are present votes;
  ``history_only`` / ``family`` / ``hypothetical`` / ``uncertain``: 0.80; ``not_mentioned``: 0.95
  (clamped to [0.5, 0.95]). The numbers are the development split's accuracy per bucket, rounded down
  (docs/rules-baseline.md; present with 1 / 2 / 3+ votes: own statement 0.81 / 0.91 / 0.95, clinician
  only 0.56 / 0.89 / 0.75, contradicted own single vote 0.67, taken down to 0.60 as measured before the
  speech-recognition changes (0.63); absent 0.96; not_mentioned 0.997), the same for every feature.
  Untagged text (notes, dictations) has no measurement of its own: it is counted as an own statement,
  the writer's. ``not_mentioned`` is that reliable only because most features are rare: for a common
  symptom (pain) silence is weaker evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .assertion import Assertion
from .speakers import Role

Status = Literal["present", "absent", "not_mentioned", "history_only", "hypothetical", "uncertain", "family"]

CLINICIAN_WEIGHT = 1.0
PRESENT_MIN = 1.0
PRESENT_RATIO = 0.5
_FALLBACK_ORDER: tuple[Status, ...] = ("history_only", "absent", "family", "hypothetical", "uncertain")
MAX_EVIDENCE = 8


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Span(_Strict):
    """One matched mention. Every offset is a character offset (end exclusive) into the text the user
    gave (``PreparedText.original``), and ``text`` / ``sentence`` / ``answer`` are verbatim slices of it."""

    start: int = Field(description="Start of the matched term.")
    end: int = Field(description="End of the matched term (exclusive).")
    text: str = Field(description="The matched term as written.")
    sentence: str = Field(description="The sentence it occurs in.")
    sentence_start: int
    sentence_end: int
    assertion: Assertion
    speaker: Role = "unknown"
    question: bool = Field(default=False, description="The mention is in a question.")
    answer: str | None = Field(
        default=None, description="For a question: the answer sentence, if one was found."
    )
    answer_start: int | None = None
    answer_end: int | None = None


class RuleFinding(_Strict):
    """The rules' reading of one boolean feature: ``value`` (True only for ``present``), ``status``,
    heuristic ``confidence`` that ``value`` is right (module docstring) and the supporting mentions
    (at most ``MAX_EVIDENCE``, in document order)."""

    value: bool
    status: Status
    confidence: float = Field(ge=0, le=1)
    evidence: list[Span] = Field(default_factory=list)


class Vote(Protocol):
    """What the vote needs of a mention."""

    assertion: Assertion
    weight: float


V = TypeVar("V", bound=Vote)


def decide(mentions: Sequence[V]) -> tuple[Status, dict[str, float], list[V]]:
    """(status, votes per assertion, supporting mentions) for one feature's mentions (module docstring).
    The support is the mentions with the winning assertion; for ``not_mentioned``, every mention (e.g.
    unanswered questions); at most ``MAX_EVIDENCE`` of them."""
    votes: dict[str, float] = {}
    for m in mentions:
        if m.assertion not in ("unanswered", "exam"):
            votes[m.assertion] = votes.get(m.assertion, 0.0) + m.weight
    pres, absn = votes.get("present", 0.0), votes.get("absent", 0.0)
    status: Status = "not_mentioned"
    if pres >= PRESENT_MIN and pres >= PRESENT_RATIO * absn:
        status = "present"
    else:
        for s in _FALLBACK_ORDER:
            if votes.get(s, 0.0) > 0:
                status = s
                break
    support = [m for m in mentions if m.assertion == status] if status != "not_mentioned" else []
    if status == "not_mentioned":
        support = [m for m in mentions][:MAX_EVIDENCE]
    return status, votes, support[:MAX_EVIDENCE]


def confidence(status: Status, votes: dict[str, float], own_statement: bool = True) -> float:
    """Heuristic confidence that the finding's value is right (see the module docstring for the numbers).
    ``own_statement``: for ``present``, some supporting mention is not a clinician's statement."""
    pres, absn = votes.get("present", 0.0), votes.get("absent", 0.0)
    if status == "present":
        c = (0.80 if own_statement else 0.55) + 0.10 * min(3.0, max(0.0, pres - 1.0))
        if absn > 0:
            c -= 0.20
    elif status == "absent":
        c = 0.90 - (0.15 if pres > 0 else 0.0)
    elif status == "not_mentioned":
        c = 0.95
    else:
        c = 0.80
    return round(min(0.95, max(0.5, c)), 2)
