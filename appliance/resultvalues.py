"""What every output format carries of a result: the values a reader gets back from any of them.

The native document carries more (timings, token counts, the translation's text, input metadata);
``ResultValues`` is the part that the FHIR Bundle carries too, so "result → format → values back"
can be checked to lose nothing, and the research table reads either format into the same row.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .result import FeatureResult, ModelRef, Result


class ResultValues(BaseModel):
    """One result's identity, provenance and every feature (value, status, reason, scores, evidence).

    ``task_sha256`` is the task's content hash where the format records it (the FHIR Provenance; the
    native document does not), else None.
    """

    model_config = ConfigDict(extra="forbid")

    input_id: str
    input_sha256: str
    source_name: str | None = None
    language: str | None = None
    language_detected: bool = False
    created: datetime
    app_version: str
    task: str
    task_version: str
    task_sha256: str | None = None
    prompt_hash: str
    strategy: str
    models: list[ModelRef] = Field(default_factory=list)
    features: dict[str, FeatureResult]

    @classmethod
    def from_result(cls, result: Result) -> ResultValues:
        """The values of a native ``Result`` (``task_sha256`` None: the native document lacks it)."""
        p = result.provenance
        return cls(
            input_id=result.input_id, input_sha256=result.input_sha256, source_name=result.source_name,
            language=result.language, language_detected=result.language_detected, created=result.created,
            app_version=p.app_version, task=p.task, task_version=p.task_version, prompt_hash=p.prompt_hash,
            strategy=p.strategy, models=[m.model_copy() for m in p.models],
            features={k: f.model_copy(deep=True) for k, f in result.features.items()},
        )

    def comparable(self) -> dict:
        """A plain dict of the values, without ``task_sha256``: equal for a result and its FHIR form."""
        return self.model_dump(mode="json", exclude={"task_sha256"})
