"""One result as a FHIR ``Bundle`` (type ``collection``), built with the library's R4B models.

Entries, each with a ``urn:uuid`` fullUrl derived from the result (rendering twice gives the same
bytes): one ``QuestionnaireResponse`` answering the task's Questionnaire, an ``Observation`` per
feature found present, and a ``Provenance``. The mapping, value by value, is in
docs/result-schema.md; :mod:`appliance.fhir.read` is its inverse.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.provenance import Provenance, ProvenanceAgent, ProvenanceEntity
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)
from fhir.resources.R4B.reference import Reference

from ..errors import ApplianceError
from ..result import FeatureResult, ModelRef, Result
from ..tasks import Feature, Task
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
    OBSERVATION_CATEGORY,
    PARTICIPANT_TYPE,
    PROMPT_SHA256,
    SCORE,
    TASK_SHA256,
    THRESHOLD,
    TRANSCRIPT_LANGUAGE,
    questionnaire_url,
    questionnaire_version,
)
from .questionnaire import feature_codings, option_coding

#: Observation.status of every Observation: machine-extracted and not reviewed by a clinician.
OBSERVATION_STATUS = "preliminary"


def canonical(task_name: str, task_version: str) -> str:
    """``url|version`` of a task's Questionnaire (the version as :func:`questionnaire_version` writes it)."""
    return f"{questionnaire_url(task_name)}|{questionnaire_version(task_version)}"


def _instant(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


class _Ids:
    """Deterministic ``urn:uuid`` names for one result's resources (uuid5 of the result's identity)."""

    def __init__(self, result: Result) -> None:
        self.seed = f"{BASE}/{result.input_id}\0{result.input_sha256}\0{result.created.isoformat()}"

    def __call__(self, part: str) -> str:
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, self.seed + chr(0) + part)}"


def _answers(feature: Feature, fr: FeatureResult, task: Task) -> list[QuestionnaireResponseItemAnswer] | None:
    if fr.status == "missing" or fr.value is None:
        return None
    v: Any = fr.value
    if feature.type == "boolean":
        return [QuestionnaireResponseItemAnswer(valueBoolean=v)]
    if feature.type == "enum":
        return [QuestionnaireResponseItemAnswer(valueCoding=option_coding(task, feature, v))]
    if feature.type == "number":
        return [QuestionnaireResponseItemAnswer(valueDecimal=v)]
    return [QuestionnaireResponseItemAnswer(valueString=s) for s in v] or None


def _response_item(feature: Feature, fr: FeatureResult, task: Task) -> QuestionnaireResponseItem:
    extensions = [ext.make(FEATURE_STATUS, fr.status)]
    extensions += ext.optional(FEATURE_REASON, fr.reason)
    extensions += ext.optional(LIST_VALUE, True if feature.type == "string_list" else None)
    extensions += ext.optional(CONFIDENCE, fr.confidence)
    extensions += ext.optional(SCORE, fr.score)
    extensions += ext.optional(THRESHOLD, fr.threshold)
    extensions += [ext.evidence(e.model_dump()) for e in fr.evidence]
    return QuestionnaireResponseItem(
        linkId=feature.key, text=feature.label("en"), answer=_answers(feature, fr, task), extension=extensions
    )


def _present_value(feature: Feature, fr: FeatureResult, task: Task) -> dict[str, Any] | None:
    """Observation ``value[x]`` of a feature found present; None when it is absent or missing."""
    v = fr.value
    if fr.status != "extracted" or v is None or v is False or v == []:
        return None
    if feature.type == "boolean":
        return {"valueBoolean": True}
    if feature.type == "enum":
        return {"valueCodeableConcept": CodeableConcept(coding=[option_coding(task, feature, v)], text=v)}
    if feature.type == "number":
        return {"valueQuantity": Quantity(value=v)}
    return {"valueString": "; ".join(v)}


def _observation(feature: Feature, value: dict[str, Any], task: Task, response_url: str,
                 issued: datetime) -> Observation:
    return Observation(
        status=OBSERVATION_STATUS,
        category=[CodeableConcept(coding=[Coding(system=OBSERVATION_CATEGORY, code="survey", display="Survey")])],
        code=CodeableConcept(coding=feature_codings(task, feature), text=feature.label("en")),
        issued=issued,
        derivedFrom=[Reference(reference=response_url)],
        **value,
    )


def _model_agent(m: ModelRef) -> ProvenanceAgent:
    return ProvenanceAgent(
        type=CodeableConcept(coding=[Coding(system=PARTICIPANT_TYPE, code="performer", display="Performer")]),
        role=[CodeableConcept(coding=[Coding(system=CS_MODEL_ROLE, code=m.role)])],
        who=Reference(type="Device", identifier=Identifier(system=ID_BUNDLE_SHA256, value=m.bundle_hash),
                      display=m.name),
        extension=ext.optional(MODEL_PRECISION, m.precision) + ext.optional(MODEL_PROVIDER, m.execution_provider),
    )


def _provenance(result: Result, task: Task, targets: list[str], recorded: datetime) -> Provenance:
    p = result.provenance
    assembler = ProvenanceAgent(
        type=CodeableConcept(coding=[Coding(system=PARTICIPANT_TYPE, code="assembler", display="Assembler")]),
        who=Reference(type="Device", display=f"clinical-appliance {p.app_version}"),
    )
    return Provenance(
        target=[Reference(reference=t) for t in targets],
        recorded=recorded,
        policy=[canonical(p.task, p.task_version)],
        activity=CodeableConcept(coding=[Coding(system=CS_STRATEGY, code=p.strategy)]),
        agent=[assembler, *(_model_agent(m) for m in p.models)],
        entity=[ProvenanceEntity(
            role="source",
            what=Reference(identifier=Identifier(system=ID_INPUT_SHA256, value=result.input_sha256),
                           display=result.source_name),
        )],
        extension=[ext.make(APP_VERSION, p.app_version), ext.make(PROMPT_SHA256, p.prompt_hash),
                   ext.make(TASK_SHA256, task.content_hash)],
    )


def check_task(result: Result, task: Task) -> None:
    """Raise ApplianceError unless ``result`` was made with ``task``: same name, version and features."""
    p = result.provenance
    if (p.task, p.task_version) != (task.name, task.version):
        raise ApplianceError(
            f"result of task {p.task!r} v{p.task_version} cannot be rendered with task {task.name!r} v{task.version}"
        )
    if list(result.features) != task.keys:
        raise ApplianceError(f"result features do not match the features of task {task.name!r}")


def build_bundle(result: Result, task: Task) -> Bundle:
    """The Bundle of one result, every resource validated by the library as it is built.

    Raises ApplianceError when the result is not of ``task`` (:func:`check_task`); pydantic's
    ValidationError when a value does not fit its FHIR type (e.g. an enum option with doubled spaces).
    """
    check_task(result, task)
    name = _Ids(result)
    created = _instant(result.created)
    response_url = name("QuestionnaireResponse")
    response = QuestionnaireResponse(
        identifier=Identifier(system=ID_INPUT, value=result.input_id),
        questionnaire=canonical(task.name, task.version),
        status="completed",
        authored=created,
        extension=ext.optional(TRANSCRIPT_LANGUAGE, result.language)
        + [ext.make(LANGUAGE_DETECTED, result.language_detected)],
        item=[_response_item(f, result.features[f.key], task) for f in task.features],
    )
    entries = [BundleEntry(fullUrl=response_url, resource=response)]
    for f in task.features:
        value = _present_value(f, result.features[f.key], task)
        if value is not None:
            obs = _observation(f, value, task, response_url, created)
            entries.append(BundleEntry(fullUrl=name(f"Observation/{f.key}"), resource=obs))
    provenance = _provenance(result, task, [e.fullUrl for e in entries], created)
    entries.append(BundleEntry(fullUrl=name("Provenance"), resource=provenance))
    return Bundle(
        identifier=Identifier(system="urn:ietf:rfc:3986", value=name("Bundle")),
        type="collection",
        timestamp=created,
        entry=entries,
    )
