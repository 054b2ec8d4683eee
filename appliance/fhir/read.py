"""The inverse of :mod:`appliance.fhir.bundle`: a Bundle the appliance wrote → ``ResultValues``.

For record systems and researchers that read the FHIR output, and for the round-trip test that
proves the output loses nothing. It needs no task file: everything is in the Bundle (the feature
keys are the item ``linkId``; a value's type is its answer's type).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.provenance import Provenance
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse, QuestionnaireResponseItem
from pydantic import ValidationError

from ..errors import ApplianceError
from ..result import Evidence, FeatureResult, ModelRef
from ..resultvalues import ResultValues
from . import extensions as ext
from .definitions import (
    APP_VERSION,
    BASE,
    CONFIDENCE,
    CS_MODEL_ROLE,
    CS_STRATEGY,
    FEATURE_REASON,
    FEATURE_STATUS,
    ID_BUNDLE_SHA256,
    ID_INPUT,
    ID_INPUT_SHA256,
    LANGUAGE_DETECTED,
    LIST_VALUE,
    MODEL_PRECISION,
    MODEL_PROVIDER,
    PROMPT_SHA256,
    SCORE,
    TASK_SHA256,
    THRESHOLD,
    TRANSCRIPT_LANGUAGE,
)


class NotOurBundle(ApplianceError):
    """A valid FHIR Bundle that lacks what the appliance writes (the message says what)."""


def parse_bundle(data: bytes | str) -> Bundle:
    """Validate JSON text as a FHIR R4B ``Bundle`` (every contained resource too).

    Raises ApplianceError naming the number of schema errors (never their content: it may quote
    patient text).
    """
    try:
        return Bundle.model_validate_json(data)
    except ValidationError as e:
        raise ApplianceError(f"not a valid FHIR Bundle ({len(e.errors())} schema error(s))") from None


def _number(d: Decimal) -> int | float:
    """A decimal answer as the result wrote it: no fraction digits → int, else float."""
    exponent = d.as_tuple().exponent
    return int(d) if isinstance(exponent, int) and exponent >= 0 else float(d)


def _value(item: QuestionnaireResponseItem, status: str) -> Any:
    answers = item.answer or []
    is_list = bool(ext.find(item.extension, LIST_VALUE))
    if not answers:
        return [] if is_list and status == "extracted" else None
    values: list[Any] = []
    for a in answers:
        if a.valueBoolean is not None:
            values.append(a.valueBoolean)
        elif a.valueCoding is not None:
            values.append(a.valueCoding.code)
        elif a.valueDecimal is not None:
            values.append(_number(a.valueDecimal))
        elif a.valueString is not None:
            values.append(a.valueString)
        else:
            raise NotOurBundle(f"item {item.linkId!r}: an answer of a type the appliance does not write")
    if is_list:
        return values  # string_list: one answer per string
    if len(values) != 1:
        raise NotOurBundle(f"item {item.linkId!r}: several answers to a single-valued feature")
    return values[0]


def _feature(item: QuestionnaireResponseItem) -> FeatureResult:
    status = ext.find(item.extension, FEATURE_STATUS)
    if status not in ("extracted", "missing"):
        raise NotOurBundle(f"item {item.linkId!r} has no feature-status extension")
    value = _value(item, status)
    if status == "missing" and value is not None:
        raise NotOurBundle(f"item {item.linkId!r} is missing but has an answer")
    return FeatureResult(
        value=value,
        status=status,
        reason=ext.find(item.extension, FEATURE_REASON),
        confidence=ext.find(item.extension, CONFIDENCE),
        score=ext.find(item.extension, SCORE),
        threshold=ext.find(item.extension, THRESHOLD),
        evidence=[Evidence.model_validate(e) for e in ext.read_evidence(item.extension)],
    )


def _one(bundle: Bundle, kind: type) -> Any:
    found = [e.resource for e in bundle.entry or [] if isinstance(e.resource, kind)]
    if len(found) != 1:
        raise NotOurBundle(f"expected one {kind.__name__} in the Bundle, found {len(found)}")
    return found[0]


def _models(prov: Provenance) -> list[ModelRef]:
    models = []
    for agent in prov.agent or []:
        roles = [c.code for r in agent.role or [] for c in r.coding or [] if c.system == CS_MODEL_ROLE]
        if not roles:
            continue  # the assembler (the appliance itself)
        who = agent.who
        if who is None or who.identifier is None or who.identifier.system != ID_BUNDLE_SHA256:
            raise NotOurBundle("a model agent of the Provenance has no bundle-sha256 identifier")
        models.append(ModelRef(
            name=who.display or "", role=roles[0], bundle_hash=who.identifier.value,
            precision=ext.find(agent.extension, MODEL_PRECISION),
            execution_provider=ext.find(agent.extension, MODEL_PROVIDER),
        ))
    return models


def _task_of(response: QuestionnaireResponse) -> tuple[str, str]:
    url, _, version = (response.questionnaire or "").partition("|")
    prefix = f"{BASE}/Questionnaire/"
    if not url.startswith(prefix) or not version:
        raise NotOurBundle("the QuestionnaireResponse does not answer an appliance task's Questionnaire")
    return url[len(prefix):], unquote(version)


def values_from_bundle(bundle: Bundle) -> ResultValues:
    """Every value of the result ``bundle`` was made from (see ``ResultValues``).

    Raises NotOurBundle when the Bundle lacks the QuestionnaireResponse, the Provenance or the
    extensions the appliance writes, or holds values the result document would not accept (the
    message gives their number, never a value).
    """
    try:
        return _values(bundle)
    except ValidationError as e:
        raise NotOurBundle(f"the Bundle's values do not form a result ({len(e.errors())} problem(s))") from None


def _values(bundle: Bundle) -> ResultValues:
    response: QuestionnaireResponse = _one(bundle, QuestionnaireResponse)
    prov: Provenance = _one(bundle, Provenance)
    if response.identifier is None or response.identifier.system != ID_INPUT:
        raise NotOurBundle("the QuestionnaireResponse has no input-id identifier")
    task, task_version = _task_of(response)
    sources = [e.what for e in prov.entity or [] if e.role == "source" and e.what and e.what.identifier
               and e.what.identifier.system == ID_INPUT_SHA256]
    if not sources:
        raise NotOurBundle("the Provenance has no input-sha256 source entity")
    strategy = [c.code for c in (prov.activity.coding if prov.activity else None) or [] if c.system == CS_STRATEGY]
    return ResultValues(
        input_id=response.identifier.value,
        input_sha256=sources[0].identifier.value,
        source_name=sources[0].display,
        language=ext.find(response.extension, TRANSCRIPT_LANGUAGE),
        language_detected=bool(ext.find(response.extension, LANGUAGE_DETECTED)),
        created=response.authored,
        app_version=ext.find(prov.extension, APP_VERSION) or "",
        task=task,
        task_version=task_version,
        task_sha256=ext.find(prov.extension, TASK_SHA256),
        prompt_hash=ext.find(prov.extension, PROMPT_SHA256) or "",
        strategy=strategy[0] if strategy else "",
        models=_models(prov),
        features={item.linkId: _feature(item) for item in response.item or []},
    )
