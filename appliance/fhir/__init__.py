"""FHIR output: a task as a ``Questionnaire``, a result as a ``Bundle``, and the way back.

Built with the ``fhir.resources`` library (8.x, pydantic 2): its ``R4B`` models. ``fhir.resources``
7 and later ship no separate R4 (4.0.1) package, only R4B (4.3.0). R4B changed only resources that
did not exist in STU3 (HL7, http://hl7.org/fhir/R4B/r3maps.html: "None of the resources that
changed in R4B existed in R3"); the five written here (``Bundle``, ``Questionnaire``,
``QuestionnaireResponse``, ``Observation``, ``Provenance``) all did, so they are the same in R4 and
R4B. The test suite also validates every resource produced with the R4 (4.0.1) models of SMART's
``fhirclient`` (tests/runtime/test_fhir.py).

Every resource is validated by the library as it is built, and :func:`render_bundle` parses the
bytes back and checks that the inverse mapping returns every value of the result before anything is
written. Names the appliance defines (extensions, code and identifier systems) are in
:mod:`appliance.fhir.definitions`.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from ..errors import ApplianceError
from ..result import Result
from ..resultvalues import ResultValues
from ..tasks import Task
from .bundle import build_bundle
from .questionnaire import questionnaire
from .read import NotOurBundle, parse_bundle, values_from_bundle

FHIR_VERSION = "4.3.0"  # R4B, the models used; the output is valid R4 (4.0.1) too (see above)
MEDIA_TYPE = "application/fhir+json"


def render_bundle(result: Result, task: Task) -> bytes:
    """The Bundle of ``result`` as UTF-8 JSON, after checking that reading it back loses no value.

    Raises ApplianceError when the result is not of ``task``, when a value does not fit its FHIR type
    (an enum option with doubled spaces, say; the message gives the count of problems, never a value:
    values may quote patient text), or (a bug) when the Bundle would not give back every value.
    """
    try:
        data = build_bundle(result, task).model_dump_json(exclude_none=True).encode("utf-8")
    except ValidationError as e:
        raise ApplianceError(f"the result does not fit FHIR's types ({len(e.errors())} problem(s))") from None
    except TypeError as e:  # an Evidence field of a type with no mapping (the message names only the field)
        raise ApplianceError(str(e)) from None
    back = values_from_bundle(parse_bundle(data))
    if back.comparable() != ResultValues.from_result(result).comparable():
        raise ApplianceError("the FHIR Bundle would not carry every value of the result: not written")
    return data


def render_questionnaire(task: Task) -> bytes:
    """The Questionnaire of ``task`` as indented UTF-8 JSON (validated as it is built)."""
    return questionnaire(task).model_dump_json(exclude_none=True, indent=2).encode("utf-8")


def is_bundle(data: bytes | str) -> bool:
    """True when ``data`` is a JSON object whose ``resourceType`` is ``Bundle`` (not yet validated)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("resourceType") == "Bundle"


__all__ = [
    "FHIR_VERSION", "MEDIA_TYPE", "NotOurBundle", "build_bundle", "is_bundle", "parse_bundle", "questionnaire",
    "render_bundle", "render_questionnaire", "values_from_bundle",
]
