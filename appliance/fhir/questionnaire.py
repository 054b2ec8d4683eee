"""A task as a FHIR ``Questionnaire``: one item per feature, with its type, options and codes.

Feature type → item type: ``boolean`` → boolean; ``enum`` → choice, its options as Codings in
:func:`~appliance.fhir.definitions.option_system`; ``number`` → decimal; ``string_list`` → string,
``repeats``. Item codes: the feature's own codings (e.g. SNOMED CT) then the feature key in the
task's code system. Labels in other languages ride on ``item.text`` as HL7's ``translation``
extension. No item is ``required``: a feature can be ``missing``, which is an item without answer.
"""

from __future__ import annotations

from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.fhirprimitiveextension import FHIRPrimitiveExtension
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.questionnaire import Questionnaire, QuestionnaireItem, QuestionnaireItemAnswerOption

from ..tasks import Feature, Task
from . import extensions as ext
from .definitions import (
    CODING_NOTE,
    FEATURE_DEFINITION,
    HL7_TRANSLATION,
    ID_TASK_SHA256,
    THRESHOLD,
    feature_system,
    option_system,
    questionnaire_url,
    questionnaire_version,
)

ITEM_TYPES = {"boolean": "boolean", "enum": "choice", "number": "decimal", "string_list": "string"}


def feature_codings(task: Task, feature: Feature) -> list[Coding]:
    """The feature's standard codings, then its key in the task's own code system (always present)."""
    codings = [Coding(system=c.system, code=c.code, display=c.display) for c in feature.codings]
    codings.append(Coding(system=feature_system(task.name), code=feature.key, display=feature.label("en")))
    return codings


def option_coding(task: Task, feature: Feature, option: str) -> Coding:
    """The Coding of one option of an ``enum`` feature (the answer to a choice item)."""
    return Coding(system=option_system(task.name, feature.key), code=option, display=option)


def _translations(feature: Feature) -> FHIRPrimitiveExtension | None:
    others = [
        Extension(url=HL7_TRANSLATION, extension=[Extension(url="lang", valueCode=lang),
                                                  Extension(url="content", valueString=text)])
        for lang, text in feature.labels.items()
        if lang != "en"
    ]
    return FHIRPrimitiveExtension(extension=others) if others else None


def _item(task: Task, feature: Feature) -> QuestionnaireItem:
    extensions = [ext.make(FEATURE_DEFINITION, feature.definition)]
    if feature.type == "boolean":
        extensions.append(ext.make(THRESHOLD, feature.threshold))
    extensions += ext.optional(CODING_NOTE, feature.coding_note)
    options = None
    if feature.type == "enum":
        options = [QuestionnaireItemAnswerOption(valueCoding=option_coding(task, feature, o))
                   for o in feature.options or []]
    return QuestionnaireItem(
        linkId=feature.key,
        text=feature.label("en"),
        text__ext=_translations(feature),
        type=ITEM_TYPES[feature.type],
        code=feature_codings(task, feature),
        repeats=True if feature.type == "string_list" else None,
        answerOption=options,
        extension=extensions,
    )


def questionnaire(task: Task) -> Questionnaire:
    """The Questionnaire of ``task`` (``url`` :func:`questionnaire_url`, ``version`` the task's version
    as :func:`questionnaire_version` writes it, identified by the task's content hash), validated by the
    library as it is built."""
    return Questionnaire(
        url=questionnaire_url(task.name),
        version=questionnaire_version(task.version),
        identifier=[Identifier(system=ID_TASK_SHA256, value=task.content_hash)],
        title=task.name,
        status="active",
        description=task.description or None,
        item=[_item(task, f) for f in task.features],
    )
