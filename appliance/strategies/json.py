"""The 'json' strategy: the whole task in one constrained JSON answer per window
(``appliance.inference.json_extractor``). Windowed: the pipeline splits documents longer than
``window_tokens`` and merges the answers. Its evidence quotes, when asked for
(``settings.evidence``), are written by the model: they carry no offsets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..inference.json_extractor import JsonExtractor
from ..prepared import PreparedText
from ..result import Evidence, FeatureResult
from .loading import load_extractor

if TYPE_CHECKING:
    from ..settings import PipelineSettings
    from ..tasks import Task

MIN_WINDOW_TOKENS = 64


class JsonStrategy:
    """The whole task in one constrained JSON answer per window (see ``ExtractionStrategy``).

    Raises ``ConfigError`` when the prompt leaves fewer than ``MIN_WINDOW_TOKENS`` tokens for the document
    within ``max_context_tokens``."""

    name = "json"

    def __init__(self, settings: PipelineSettings, task: Task, models_dir: Path) -> None:
        self.task = task
        self.model, ref = load_extractor(settings, models_dir)
        self.extractor = JsonExtractor(self.model, task, settings, max_context=settings.max_context_tokens)
        if self.extractor.window_tokens < MIN_WINDOW_TOKENS:
            raise ConfigError(
                f"the prompt for task '{task.name}' leaves {self.extractor.window_tokens} tokens for the document "
                f"within max_context_tokens={settings.max_context_tokens}: raise it or shorten the examples"
            )
        self.models = [ref]
        self.prompt_hash = self.extractor.prompt.hash
        self.count_tokens: Callable[[str], int] | None = self.model.count_tokens
        self.window_tokens: int | None = self.extractor.window_tokens

    def warm(self) -> None:
        """Prefill the shared prompt prefix (with prefix reuse)."""
        self.extractor.warm()

    def extract(self, text: PreparedText) -> dict[str, FeatureResult]:
        """One JSON answer for ``text.normalized`` (one window); a failed answer makes every feature
        missing with the failure's reason code."""
        answer = self.extractor.answer(text.normalized)
        out: dict[str, FeatureResult] = {}
        for f in self.task.features:
            if answer.failure:
                out[f.key] = FeatureResult(status="missing", reason=answer.failure)
                continue
            d = answer.decisions[f.key]
            out[f.key] = FeatureResult(
                value=d.value, status="extracted", confidence=d.confidence, score=d.score,
                threshold=f.threshold if f.type == "boolean" else None,
                evidence=[Evidence(quote=d.evidence, found_in_text=False)] if d.evidence else [],
            )
        return out
