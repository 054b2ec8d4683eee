"""What the pipeline needs to be built: the part of the configuration that concerns extraction.

The daemon's TOML config (``appliance.config``) embeds this model; ``extract`` and ``evaluate`` build it
from command-line options. One settings model means one code path for all three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .bundle import DEFAULT_BUNDLE
from .strategies.registry import check_strategy_name, strategy_summaries

TranslatePolicy = Literal["never", "always", "auto"]
DEFAULT_STRATEGY = "hybrid"


def _strategy_description() -> str:
    """The strategy option's description, listing every registered strategy (``appliance.strategies``)."""
    parts = [f"'{name}'{' (default)' if name == DEFAULT_STRATEGY else ''}: {summary}"
             for name, summary in strategy_summaries().items()]
    return "Extraction strategy, one of " + "; ".join(parts) + ". Measured comparison: docs/accuracy.md."


class PipelineSettings(BaseModel):
    """Everything ``Pipeline.load`` needs: task, strategy (a name registered in ``appliance.strategies``),
    bundles, translation policy, token limits and threads. Unknown keys and unknown strategy names are
    validation errors."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(default="palliative13", description="Built-in task name or path to a task file.")
    strategy: str = Field(default=DEFAULT_STRATEGY, description=_strategy_description())
    extractor: str = Field(default=DEFAULT_BUNDLE, description="Extractor bundle name or folder.")
    translator: str | None = Field(default=None, description="Translator bundle name or folder (optional).")
    models_dir: Path | None = Field(default=None, description="Folder holding bundles; default per user.")
    translate: dict[str, TranslatePolicy] = Field(
        default_factory=lambda: {"en": "never"},
        description="Per input language: 'never', 'always' (to English) or 'auto'. Key '*' = any other.",
    )
    prefix_reuse: bool = Field(default=True, description="Prefill the shared prompt prefix once (rewind_to).")
    fast_forward: bool = Field(default=True, description="Append forced structure tokens without sampling.")
    evidence: bool = Field(default=False, description="Ask the model for a supporting quote per feature.")
    languages: list[str] = Field(
        default_factory=list, description="Candidate input languages for detection (ISO 639-1); empty = a default set."
    )
    max_context_tokens: int = Field(
        default=4096, ge=256, description="Cap on prompt + answer tokens per model call (KV-cache memory)."
    )
    max_document_tokens: int = Field(
        default=16384, gt=0,
        description="'json' only (the model reads the whole document, in windows): a longer document has "
        "every feature missing (reason document_too_long). 'evidence', 'hybrid' and 'rules' take any length: "
        "the model sees only rule-selected excerpts.",
    )
    window_overlap_tokens: int = Field(default=64, ge=0, description="Overlap between windows of long documents.")
    threads: int = Field(default=0, ge=0, description="Inference threads; 0 = every CPU the process may use.")
    verify_bundles: bool = Field(default=True, description="Hash every bundle file at load (refuse mismatches).")

    @field_validator("strategy")
    @classmethod
    def _registered_strategy(cls, value: str) -> str:
        return check_strategy_name(value)
