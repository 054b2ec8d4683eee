"""The output boundary: the plaintext result document (encrypted before it touches disk).

Versioned with ``schema_version``; the JSON Schema published in ``docs/result-schema.md`` is generated
from these models (``appliance schema``), so the documentation cannot drift from the code.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RESULT_SCHEMA_VERSION = "1.0"

FeatureValue = bool | str | float | int | list[str] | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Evidence(_Strict):
    quote: str = Field(description="Short quote the value rests on.")
    found_in_text: bool = Field(description="False when the quote does not occur in the text it came from.")
    source: Literal["original", "translation"] = "original"


class FeatureResult(_Strict):
    """One feature. ``missing`` always carries a reason; a missing value is never silently False."""

    value: FeatureValue = None
    status: Literal["extracted", "missing"]
    reason: str | None = Field(
        default=None,
        description="Why it is missing; for an extracted value decided without a model call, how "
        "(e.g. 'no_evidence'). A stable code.",
    )
    confidence: float | None = Field(
        default=None, ge=0, le=1, description="Model probability of the reported value at its decision point."
    )
    score: float | None = Field(
        default=None, ge=0, le=1, description="For booleans: probability of True (before the threshold)."
    )
    threshold: float | None = Field(default=None, ge=0, le=1)
    evidence: list[Evidence] = Field(default_factory=list)


class Translation(_Strict):
    source_language: str
    target_language: str
    text: str
    bundle: str = Field(description="Translator bundle name.")
    bundle_hash: str
    chunks: int


class ModelRef(_Strict):
    name: str
    role: Literal["extractor", "translator", "rules"]
    bundle_hash: str
    precision: str | None = None
    execution_provider: str | None = None


class Provenance(_Strict):
    app_version: str
    task: str
    task_version: str
    prompt_hash: str = Field(description="sha256 of the exact prompt prefix (system + few-shot) used.")
    strategy: str
    models: list[ModelRef]


class Timings(_Strict):
    read_s: float = 0.0
    translate_s: float = 0.0
    extract_s: float = 0.0
    total_s: float = 0.0


class Result(_Strict):
    schema_version: Literal["1.0"] = RESULT_SCHEMA_VERSION
    input_id: str
    input_sha256: str = Field(description="sha256 of the UTF-8 text as read (after decoding, before normalising).")
    source_name: str | None = None
    language: str | None = Field(description="Language of the input (given or detected).")
    language_detected: bool = False
    translation: Translation | None = None
    features: dict[str, FeatureResult]
    document_tokens: int | None = None
    windows: int = 1
    provenance: Provenance
    timings: Timings
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return all(f.status == "extracted" for f in self.features.values())
