"""The appliance's own FHIR names: base URL, extensions, code systems and identifier systems.

Every canonical URL the FHIR output uses that is not HL7's own lives under :data:`BASE`. The
``.invalid`` top-level domain is reserved (RFC 2606, RFC 6761): these URLs are identifiers that can
never clash with anybody's real ones, and never resolve; their definitions are the table that
:func:`extension_table` renders into docs/result-schema.md (checked by the docs test).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

#: Base of every canonical URL the appliance defines.
BASE = "https://clinical-appliance.invalid/fhir"
SD = f"{BASE}/StructureDefinition"

# Identifier systems.
ID_INPUT = f"{BASE}/identifier/input-id"  # the input's id (QuestionnaireResponse.identifier)
ID_INPUT_SHA256 = f"{BASE}/identifier/input-sha256"  # sha256 of the text as read (Provenance source)
ID_BUNDLE_SHA256 = f"{BASE}/identifier/bundle-sha256"  # a model bundle's (or rule set's) content hash
ID_TASK_SHA256 = f"{BASE}/identifier/task-sha256"  # the task file's content hash (Questionnaire)

# Code systems.
CS_MODEL_ROLE = f"{BASE}/CodeSystem/model-role"  # extractor | translator | rules
CS_STRATEGY = f"{BASE}/CodeSystem/strategy"  # the extraction strategy's name
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
HL7_TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"

#: Sub-extension value types of the evidence extension, by the Python type of an Evidence field's value.
EVIDENCE_VALUE_TYPES = {bool: "valueBoolean", int: "valueInteger", float: "valueDecimal", str: "valueString"}


def questionnaire_url(task_name: str) -> str:
    """Canonical URL of a task's Questionnaire (task names are ``[A-Za-z0-9_.-]``: URL-safe)."""
    return f"{BASE}/Questionnaire/{task_name}"


def questionnaire_version(task_version: str) -> str:
    """A task's version as its Questionnaire's ``version`` and in every ``url|version`` reference to it:
    percent-encoded (RFC 3986; letters, digits and ``-._~`` stay as they are), since a canonical URL
    cannot hold a space or a ``|`` ("2 beta" → "2%20beta"). One form in both places, so the reference
    matches the Questionnaire; readers decode it back to the task's version."""
    return quote(task_version, safe="")


def feature_system(task_name: str) -> str:
    """Code system of a task's feature keys (every Observation carries its feature as one code)."""
    return f"{BASE}/CodeSystem/{task_name}"


def option_system(task_name: str, feature_key: str) -> str:
    """Code system of an ``enum`` feature's options (answers are Codings in it)."""
    return f"{BASE}/CodeSystem/{task_name}/{feature_key}"


@dataclass(frozen=True)
class ExtensionDef:
    """One extension the appliance defines: canonical URL, where it appears, value type, meaning."""

    name: str
    context: str
    value: str
    meaning: str

    @property
    def url(self) -> str:
        """The extension's canonical URL."""
        return f"{SD}/{self.name}"


TRANSCRIPT_LANGUAGE = ExtensionDef(
    "transcript-language", "QuestionnaireResponse", "valueCode",
    "Language of the transcript (given or detected), an ISO 639-1 code; `Result.language`.")
LANGUAGE_DETECTED = ExtensionDef(
    "language-detected", "QuestionnaireResponse", "valueBoolean",
    "True when the language was detected rather than given; `Result.language_detected`.")
FEATURE_STATUS = ExtensionDef(
    "feature-status", "QuestionnaireResponse.item", "valueCode",
    "`extracted` or `missing`. A `missing` item has no `answer`: it is never an answer `false`.")
FEATURE_REASON = ExtensionDef(
    "feature-reason", "QuestionnaireResponse.item", "valueCode",
    "Why the feature is missing (a reason code, e.g. `document_too_long`), or how an extracted value "
    "was decided without a model call (e.g. `no_evidence`).")
LIST_VALUE = ExtensionDef(
    "list-value", "QuestionnaireResponse.item", "valueBoolean",
    "`true` on the item of a `string_list` feature: its value is the list of its answers' strings, "
    "so an extracted item without answers is the empty list (not a missing value).")
CONFIDENCE = ExtensionDef(
    "confidence", "QuestionnaireResponse.item", "valueDecimal",
    "Model probability of the reported value, 0-1.")
SCORE = ExtensionDef(
    "score", "QuestionnaireResponse.item", "valueDecimal",
    "Booleans: probability of true before the threshold, 0-1.")
THRESHOLD = ExtensionDef(
    "threshold", "QuestionnaireResponse.item, Questionnaire.item", "valueDecimal",
    "Booleans: a score at or above it is true. On a Questionnaire item: the task's threshold.")
EVIDENCE = ExtensionDef(
    "evidence", "QuestionnaireResponse.item", "complex",
    "One per quote the value rests on, in order. Sub-extensions, one per field of `Evidence` that is "
    "set (docs above), named as the field: `quote` (valueString), `found_in_text` (valueBoolean), "
    "`source` (valueString: `original` or `translation`), and, where the result has them, character "
    "offsets and cue times (valueInteger for whole numbers, valueDecimal for fractions, valueString "
    "for text).")
FEATURE_DEFINITION = ExtensionDef(
    "feature-definition", "Questionnaire.item", "valueMarkdown",
    "What counts as present: the task's definition of the feature, as the model was asked.")
CODING_NOTE = ExtensionDef(
    "coding-note", "Questionnaire.item", "valueString",
    "Why the feature has no standard code, or how its code relates to the definition.")
PROMPT_SHA256 = ExtensionDef(
    "prompt-sha256", "Provenance", "valueString",
    "sha256 of the exact prompt prefix used; `provenance.prompt_hash`.")
TASK_SHA256 = ExtensionDef(
    "task-sha256", "Provenance", "valueString",
    "sha256 of the task (every field, codes and thresholds included) the daemon ran.")
APP_VERSION = ExtensionDef(
    "app-version", "Provenance", "valueString",
    "The appliance's version; `provenance.app_version`.")
MODEL_PRECISION = ExtensionDef(
    "model-precision", "Provenance.agent", "valueString",
    "A model bundle's weight precision (e.g. `int4`), when known.")
MODEL_PROVIDER = ExtensionDef(
    "model-execution-provider", "Provenance.agent", "valueString",
    "The onnxruntime execution provider a model ran on (e.g. `cpu`), when known.")

EXTENSIONS = (TRANSCRIPT_LANGUAGE, LANGUAGE_DETECTED, FEATURE_STATUS, FEATURE_REASON, LIST_VALUE, CONFIDENCE,
              SCORE, THRESHOLD, EVIDENCE, FEATURE_DEFINITION, CODING_NOTE, PROMPT_SHA256, TASK_SHA256, APP_VERSION,
              MODEL_PRECISION, MODEL_PROVIDER)


def extension_table() -> str:
    """The Markdown table of :data:`EXTENSIONS` (URL, context, value type, meaning) for the docs."""
    rows = ["| extension (canonical URL) | on | value | meaning |", "|---|---|---|---|"]
    rows += [f"| `{e.url}` | {e.context} | {e.value} | {e.meaning} |" for e in EXTENSIONS]
    return "\n".join(rows)
