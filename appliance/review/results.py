"""The review station's view of a decrypted result document (``docs/result-schema.md``).

The box validates what it writes with the strict ``appliance.result.Result``. The workstation reads
results from boxes that may run an older or newer version of schema 1.x, so this view keeps only the
fields the review needs and ignores the rest (e.g. evidence offsets are optional: older results lack
them). A document of another major schema version is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ApplianceError


class ResultFormatError(ApplianceError):
    """A decrypted file is not a result document this station can read (never quotes its content)."""


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EvidenceView(_View):
    """One evidence quote; ``start``/``end`` are character offsets (end exclusive) into the text named
    by ``source`` ('original': the input as read; 'translation': ``ResultView.translation.text``) when the
    box recorded them."""

    quote: str
    found_in_text: bool = False
    source: str = "original"
    start: int | None = Field(default=None, ge=0)
    end: int | None = Field(default=None, ge=0)


class FeatureView(_View):
    """One feature as the appliance decided it: value, status ('extracted' or 'missing'), the reason of a
    missing value, probabilities in [0, 1] (``confidence`` of the reported value, ``score`` = P(true)),
    the decision ``threshold`` and the evidence quotes."""

    value: Any = None
    status: str = "missing"
    reason: str | None = None
    confidence: float | None = None
    score: float | None = None
    threshold: float | None = None
    evidence: list[EvidenceView] = Field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        """The decision without its quotes (what the label log records; never text)."""
        return {"value": self.value, "status": self.status, "reason": self.reason, "confidence": self.confidence,
                "score": self.score, "threshold": self.threshold}


class TranslationView(_View):
    """The machine translation the features were extracted from, when the box translated."""

    source_language: str = ""
    target_language: str = "en"
    text: str = ""
    bundle: str | None = None


class ModelView(_View):
    """A model that produced the result: name, role ('extractor', 'translator', 'rules'), bundle hash."""

    name: str
    role: str = "extractor"
    bundle_hash: str = ""


class ProvenanceView(_View):
    """Which task and strategy, and which models, made the result."""

    app_version: str = ""
    task: str
    task_version: str = ""
    strategy: str = ""
    models: list[ModelView] = Field(default_factory=list)


class ResultView(_View):
    """A decrypted result, as the review station reads it (schema version 1.x)."""

    schema_version: str
    input_id: str
    input_sha256: str
    source_name: str | None = None
    language: str | None = None
    language_detected: bool = False
    translation: TranslationView | None = None
    features: dict[str, FeatureView]
    provenance: ProvenanceView
    created: datetime

    @field_validator("schema_version")
    @classmethod
    def _major_one(cls, v: str) -> str:
        if v.split(".")[0] != "1":
            raise ValueError("only result schema 1.x is supported")
        return v

    def model_label(self) -> str:
        """``strategy: model names`` (e.g. ``hybrid: smollm2-135m-instruct``) for display and grouping."""
        names = ", ".join(m.name for m in self.provenance.models if m.role != "translator") or "-"
        return f"{self.provenance.strategy}: {names}"


def parse_result(data: bytes) -> ResultView:
    """A decrypted result document (UTF-8 JSON) as a :class:`ResultView`.

    Raises ResultFormatError when the bytes are not UTF-8 JSON of a schema-1.x result; the message names
    the first failing field, never a value.
    """
    try:
        return ResultView.model_validate_json(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        raise ResultFormatError(f"not a readable result document ({where}: {err['type']})") from None
