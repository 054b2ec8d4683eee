"""Speaker tags and roles of a dialogue transcript (pure regular expressions).

A line that starts with a speaker tag starts a turn. Tags recognised:
``[doctor]``, ``[patient_guest]`` (bracketed, any label up to 40 characters), and
``Doctor:``, ``Dr. Smith:``, ``Patient's daughter:``, ``پزشک:``, ``همراه بیمار:`` (a label of at most
four words before a colon at the start of a line; an optional leading timestamp ``00:01:23`` or
bullet is skipped). Section-like labels ("Plan:", "Note:", "HPI:") are never speakers.

The label is mapped to a role by keywords (family words first, so "patient's daughter" and
``[patient_guest]`` are family): ``clinician`` (doctor, nurse, operator, پزشک, پرستار, کارشناس, …),
``patient`` (patient, caller, بیمار, …), ``family`` (daughter, wife, guest, همراه, دختر, …) or
``unknown``. The word lists are the project's own (written for the English development set's tags
and for Persian helpline calls).

Anonymous diarization labels (``SPEAKER_00``, ``Speaker 2``, ``spk0``: ``is_anonymous``) have role
``unknown`` here; ``infer_roles`` gives them one from how they talk.
"""

from __future__ import annotations

import re
from typing import Literal

Role = Literal["clinician", "patient", "family", "unknown"]


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` as a set (word lists written as one string)."""
    return frozenset(text.split())


_LEAD = r"^[ \t]*(?:[-*>#•]+[ \t]*)?(?:\(?\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?\)?[ \t]*[-–]?[ \t]*)?"
_TAG_BRACKET = re.compile(_LEAD + r"\[(?P<spk>[^\[\]\n]{1,40})\][ \t]*:?[ \t]*")
_TAG_COLON = re.compile(
    _LEAD
    + r"\**(?P<spk>[^\W\d_](?:[\w\u200c'’.()-]*)(?:[ \t]+[\w\u200c'’.()-]+){0,3}?)\**[ \t]*[:：][ \t]*(?!//)"
)

_FAMILY_WORDS = {
    "guest",
    "family",
    "daughter",
    "son",
    "wife",
    "husband",
    "mother",
    "mom",
    "mum",
    "father",
    "dad",
    "sister",
    "brother",
    "caregiver",
    "carer",
    "relative",
    "companion",
    "friend",
    "partner",
    "spouse",
    "parent",
    "grandson",
    "granddaughter",
    "niece",
    "nephew",
    "aunt",
    "uncle",
    "child",
    "guardian",
    "همراه",
    "دختر",
    "پسر",
    "همسر",
    "مادر",
    "پدر",
    "خواهر",
    "برادر",
    "عروس",
    "داماد",
    "نوه",
    "خانواده",
    "فرزند",
    "شوهر",
    "زن",
}
_CLINICIAN_WORDS = {
    "doctor",
    "dr",
    "physician",
    "clinician",
    "provider",
    "nurse",
    "np",
    "pa",
    "rn",
    "md",
    "therapist",
    "operator",
    "agent",
    "interviewer",
    "counselor",
    "counsellor",
    "staff",
    "practitioner",
    "consultant",
    "resident",
    "attending",
    "specialist",
    "pharmacist",
    "worker",
    "caseworker",
    "q",
    "پزشک",
    "دکتر",
    "پرستار",
    "اپراتور",
    "کارشناس",
    "مشاور",
    "مددکار",
    "پاسخگو",
    "روانشناس",
    "متخصص",
    "پرسنل",
    "کادر",
}
_PATIENT_WORDS = {"patient", "pt", "client", "caller", "a", "بیمار", "مددجو", "تماس", "تماسگیرنده"}
_NOT_SPEAKERS = {
    # Section-like labels that look like "Label:" at a line start but are not speakers.
    "note",
    "notes",
    "plan",
    "assessment",
    "impression",
    "diagnosis",
    "history",
    "medications",
    "allergies",
    "subjective",
    "objective",
    "exam",
    "vitals",
    "date",
    "time",
    "re",
    "subject",
    "summary",
    "hpi",
    "ros",
}


_ANONYMOUS = re.compile(
    r"^(?:(?:speaker|spk|spkr|voice|participant|person|talker|unknown)(?:[ _\-#]?\d{1,3}|[ _\-#][a-z])"
    r"|unknown(?:[ _]speaker)?|s\d{1,2})$",
    re.IGNORECASE,
)
_YOU = _words("you your you're youre you've yourself")
_ME = _words("i i'm im i've ive i'd i'll my me myself")
#: Weight of the pronoun balance against the share of questions in ``infer_roles``'s score.
PRONOUN_WEIGHT = 5.0


def is_anonymous(label: str | None) -> bool:
    """True for an anonymous diarization label (``SPEAKER_00``, ``SPEAKER_1``, ``Speaker 2``, ``spk0``,
    ``Speaker A``, ``S1``): a speaker whose role is not named."""
    return bool(label) and _ANONYMOUS.match(label.strip()) is not None


def infer_roles(talk: dict[str, list[tuple[str, bool]]]) -> dict[str, Role]:
    """Roles of anonymous speakers from what they said: ``talk`` maps a label to its sentences
    ``(text, is_question)``. The speaker with the highest score (share of its sentences that are
    questions, plus ``PRONOUN_WEIGHT`` x (second-person minus first-person pronouns) per word: a
    clinician asks and says "you", a patient answers and says "I", "my") is the clinician, every other
    one the patient (callers' relatives are not told apart). ``{}`` (roles stay unknown) for fewer
    than two speakers or a tie. Measured on the development split's diarized rewrites
    (docs/rules-baseline.md)."""
    if len(talk) < 2:
        return {}
    scores: dict[str, float] = {}
    for label, sents in talk.items():
        words = [w for text, _ in sents for w in re.findall(r"[\w']+", text.lower().replace("’", "'"))]
        if not words:
            scores[label] = 0.0
            continue
        q = sum(1 for _, isq in sents if isq) / len(sents)
        bal = (sum(w in _YOU for w in words) - sum(w in _ME for w in words)) / len(words)
        scores[label] = q + PRONOUN_WEIGHT * bal
    ranked = sorted(scores, key=scores.get, reverse=True)
    if scores[ranked[0]] <= scores[ranked[1]]:
        return {}
    return {label: ("clinician" if label == ranked[0] else "patient") for label in scores}


def speaker_role(label: str | None) -> Role:
    """Map a speaker label ("Doctor", "patient_guest", "همراه بیمار") to a role."""
    if not label:
        return "unknown"
    words = set(re.findall(r"[^\W\d_]+", label.lower().replace("\u200c", " ")))
    # Persian possessive endings: "دخترش" (her daughter), "پسرم" (my son)
    words |= {
        w[: -len(x)] for w in words for x in ("ش", "م", "ت", "شون", "مون") if w.endswith(x) and len(w) > 3
    }
    if words & _FAMILY_WORDS:
        return "family"
    if words & _CLINICIAN_WORDS:
        return "clinician"
    if words & _PATIENT_WORDS:
        return "patient"
    return "unknown"


def match_tag(line: str) -> tuple[str, int] | None:
    """(speaker label, length of the tag prefix) when ``line`` starts with a speaker tag."""
    m = _TAG_BRACKET.match(line)
    if m:
        return m.group("spk").strip(), m.end()
    m = _TAG_COLON.match(line)
    if m:
        spk = m.group("spk").strip().strip("*").strip()
        low = spk.lower()
        if low in _NOT_SPEAKERS or low.startswith("http"):
            return None
        return spk, m.end()
    return None


def is_bracket_tag(line: str) -> bool:
    """True when ``line`` starts with a bracketed speaker tag (``[doctor]``, ``00:01 [patient]``)."""
    return _TAG_BRACKET.match(line) is not None
