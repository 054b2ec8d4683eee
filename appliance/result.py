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
    """One quote a value rests on. With ``start`` / ``end`` it is a verbatim span of the text named by
    ``source``; without them (a model-written quote) it is checked by a whitespace- and case-insensitive
    search of the text the model read. ``start_s`` / ``end_s``: where a verbatim quote of a timed input was
    spoken in the recording (set by the pipeline from ``Document.cues``)."""

    quote: str = Field(description="Short quote the value rests on.")
    found_in_text: bool = Field(
        description="False when the quote does not occur in the text it came from: with offsets, when "
        "the text between them is not exactly the quote; without, when a whitespace- and case-insensitive "
        "search does not find it."
    )
    source: Literal["original", "translation"] = Field(
        default="original",
        description="The text the quote is from: 'original' (the input as read) or 'translation'.",
    )
    start: int | None = Field(
        default=None,
        ge=0,
        description="Character offset where the quote starts in the text named by source (Unicode code "
        "points, from 0); absent for a quote written by a model.",
    )
    end: int | None = Field(
        default=None,
        ge=0,
        description="Character offset just after the quote's last character (end exclusive), in the same "
        "text; absent for a quote written by a model.",
    )
    start_s: float | None = Field(
        default=None,
        ge=0,
        description="Timed inputs (WebVTT, SubRip, Whisper JSON, timed .txt): seconds into the recording "
        "where the cue(s) the quote was spoken in begin; absent for untimed inputs, translations and "
        "quotes without offsets.",
    )
    end_s: float | None = Field(
        default=None,
        ge=0,
        description="Timed inputs: seconds into the recording where the cue(s) the quote was spoken in end.",
    )


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
    """The translation extraction read instead of the input (kept for audit), and the bundle that made it."""

    source_language: str
    target_language: str
    text: str
    bundle: str = Field(description="Translator bundle name.")
    bundle_hash: str
    chunks: int


class ModelRef(_Strict):
    """Provenance of one model or rule set: name, role, content hash of its bundle (or rule files)."""

    name: str
    role: Literal["extractor", "translator", "rules"]
    bundle_hash: str
    precision: str | None = None
    execution_provider: str | None = None


class Provenance(_Strict):
    """What produced the result: versions, task, prompt hash, strategy name and models."""

    app_version: str
    task: str
    task_version: str
    prompt_hash: str = Field(description="sha256 of the exact prompt prefix (system + few-shot) used.")
    strategy: str
    models: list[ModelRef]


class Timings(_Strict):
    """Wall-clock seconds per stage of ``Pipeline.process``."""

    read_s: float = 0.0
    translate_s: float = 0.0
    extract_s: float = 0.0
    total_s: float = 0.0


class Result(_Strict):
    """One processed document: every task feature (extracted or missing with a reason), with provenance."""

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
        """True when no feature is missing."""
        return all(f.status == "extracted" for f in self.features.values())
