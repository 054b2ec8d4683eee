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
"""

from __future__ import annotations

import re
from typing import Literal

Role = Literal["clinician", "patient", "family", "unknown"]

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
