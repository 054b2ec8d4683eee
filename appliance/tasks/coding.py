"""Codings of task features: (system, code, display) in a standard terminology, validated.

A feature may carry codings, e.g. SNOMED CT for a symptom; the FHIR output puts them on the
Questionnaire item and the Observation (docs/result-schema.md). ``system`` is the terminology's
canonical URI as FHIR names it (``http://snomed.info/sct``), never a nickname ("SNOMED CT"): a
nickname is refused with the URI to write instead. For the systems listed in ``KNOWN_SYSTEMS`` the
code's shape is checked too, check digit included, so a typo in a concept id fails at load time.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SNOMED_CT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"

#: Canonical URIs of the terminologies whose codes are checked, with a short name for messages.
#: Sources: the FHIR R4 terminology page (http://hl7.org/fhir/R4/terminologies-systems.html).
KNOWN_SYSTEMS = {SNOMED_CT: "SNOMED CT", LOINC: "LOINC", ICD10: "ICD-10", ICD10CM: "ICD-10-CM"}

_NICKNAMES = {
    "snomed": SNOMED_CT, "snomedct": SNOMED_CT, "snomed ct": SNOMED_CT, "snomed-ct": SNOMED_CT, "sct": SNOMED_CT,
    "https://snomed.info/sct": SNOMED_CT, "http://snomed.info/sct/": SNOMED_CT,
    "loinc": LOINC, "https://loinc.org": LOINC, "http://loinc.org/": LOINC,
    "icd10": ICD10, "icd-10": ICD10, "icd10cm": ICD10CM, "icd-10-cm": ICD10CM,
}
_URI = re.compile(r"^(https?://[^\s/]+(/\S*)?|urn:[a-z0-9][a-z0-9-]{0,31}:\S+)$", re.IGNORECASE)
_FHIR_CODE = re.compile(r"^[^\s]+( [^\s]+)*$")  # FHIR R4 `code`: no leading, trailing or double whitespace
_ICD10 = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")

# Verhoeff's dihedral-group tables (J. Verhoeff, 1969), as used for SNOMED CT identifiers.
_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
      [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
      [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def is_code(value: str) -> bool:
    """True when ``value`` can be a FHIR R4 ``code``: not empty, no leading, trailing or doubled
    whitespace (http://hl7.org/fhir/R4/datatypes.html#code; this check allows single spaces only)."""
    return bool(_FHIR_CODE.match(value))


def verhoeff_ok(digits: str) -> bool:
    """True when the last digit of ``digits`` is its Verhoeff check digit (SNOMED CT identifiers)."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def luhn_ok(digits: str) -> bool:
    """True when the last digit of ``digits`` is its mod-10 (Luhn) check digit (the LOINC check digit)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def check_code(system: str, code: str) -> None:
    """Raise ValueError when ``code`` is not a well-formed code of a known ``system``.

    SNOMED CT: a concept identifier (SNOMED CT Technical Implementation Guide, "SCTID"): 6-18 digits,
    no leading zero, partition identifier ``00`` or ``10`` (a concept), valid Verhoeff check digit.
    LOINC: ``NNNNN-C`` with its mod-10 check digit (LOINC Users' Guide, "check digit"). ICD-10 and
    ICD-10-CM: a category or subcategory code (``R50.9``). Other systems: no check.
    """
    if system == SNOMED_CT:
        if not re.fullmatch(r"[1-9][0-9]{5,17}", code):
            raise ValueError(f"SNOMED CT code {code!r} is not a concept id (6-18 digits)")
        if code[-3:-1] not in ("00", "10"):
            raise ValueError(f"SNOMED CT code {code!r} is not a concept id (partition {code[-3:-1]})")
        if not verhoeff_ok(code):
            raise ValueError(f"SNOMED CT code {code!r} fails its check digit")
    elif system == LOINC:
        if not re.fullmatch(r"[0-9]{1,7}-[0-9]", code):
            raise ValueError(f"LOINC code {code!r} is not of the form NNNNN-C")
        if not luhn_ok(code.replace("-", "")):
            raise ValueError(f"LOINC code {code!r} fails its check digit")
    elif system in (ICD10, ICD10CM) and not _ICD10.match(code):
        raise ValueError(f"{KNOWN_SYSTEMS[system]} code {code!r} is not of the form A00 or A00.0")


class Coding(BaseModel):
    """One code for a feature: ``system`` (an absolute URI), ``code`` and an optional ``display``.

    Validation (pydantic ValidationError): ``system`` is an ``http(s)://`` or ``urn:`` URI, not a
    nickname of a known system (the message names the URI); ``code`` has no leading, trailing or
    doubled whitespace (FHIR's ``code`` type) and, in a known system, the shape of
    :func:`check_code`; ``display`` is not blank.
    """

    model_config = ConfigDict(extra="forbid")

    system: str = Field(description="The terminology's canonical URI, e.g. http://snomed.info/sct.")
    code: str = Field(description="The code in that system, e.g. a SNOMED CT concept id.")
    display: str | None = Field(default=None, description="The system's display term for the code.")

    @field_validator("system")
    @classmethod
    def _uri(cls, v: str) -> str:
        hint = _NICKNAMES.get(v.strip().lower())
        if hint and hint != v:
            raise ValueError(f"write the system as its URI: {hint!r}")
        if not _URI.match(v):
            raise ValueError("must be an absolute URI (http://, https:// or urn:), e.g. http://snomed.info/sct")
        return v

    @field_validator("display")
    @classmethod
    def _display(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank (leave it out instead)")
        return v

    @model_validator(mode="after")
    def _code_shape(self) -> Coding:
        if not is_code(self.code):
            raise ValueError("code must not be empty or have leading, trailing or doubled whitespace")
        check_code(self.system, self.code)
        return self
