"""Extraction strategies behind one small interface, so the pipeline does not care which runs.

Each strategy offers: ``models`` (provenance), ``prompt_hash``, ``warm()``, ``count_tokens`` (or None
when it has no token limit), ``window_tokens`` (or None: whole document at once) and
``extract(text, language) -> {feature: FeatureResult}`` for one window.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

from .bundle import resolve_bundle
from .result import Evidence, FeatureResult, ModelRef
from .settings import PipelineSettings
from .tasks import Task


class JsonStrategy:
    """The whole task in one constrained JSON answer per window."""

    def __init__(self, settings: PipelineSettings, task: Task, models_dir: Path) -> None:
        from .inference.engine import LoadedModel
        from .inference.json_extractor import JsonExtractor

        self.task = task
        self.model = LoadedModel(resolve_bundle(settings.extractor, models_dir), verify=settings.verify_bundles,
                                 threads=settings.threads)
        self.extractor = JsonExtractor(self.model, task, settings, max_context=settings.max_context_tokens)
        if self.extractor.window_tokens < 64:
            from .errors import ConfigError

            raise ConfigError(
                f"the prompt for task '{task.name}' leaves {self.extractor.window_tokens} tokens for the document "
                f"within max_context_tokens={settings.max_context_tokens}: raise it or shorten the examples"
            )
        m = self.model.manifest
        self.models = [ModelRef(name=m.name, role="extractor", bundle_hash=self.model.bundle_hash,
                                precision=m.precision, execution_provider=m.execution_provider)]
        self.prompt_hash = self.extractor.prompt.hash
        self.count_tokens: Callable[[str], int] | None = self.model.count_tokens
        self.window_tokens: int | None = self.extractor.window_tokens

    def warm(self) -> None:
        self.extractor.warm()

    def extract(self, text: str, language: str) -> dict[str, FeatureResult]:
        answer = self.extractor.answer(text)
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


class RulesStrategy:
    """The rule baseline alone: no model, milliseconds per document, for boxes too weak for an LLM."""

    def __init__(self, settings: PipelineSettings, task: Task) -> None:
        from .rules import RuleExtractor

        self.task = task
        self.rules = RuleExtractor(task)
        digest = getattr(self.rules, "content_hash", None) or hashlib.sha256(task.model_dump_json().encode()).hexdigest()
        self.models = [ModelRef(name=f"rules-{task.name}", role="rules", bundle_hash=digest)]
        self.prompt_hash = digest
        self.count_tokens = None
        self.window_tokens = None

    def warm(self) -> None:
        self.rules.extract("warm up", "en")

    def extract(self, text: str, language: str) -> dict[str, FeatureResult]:
        found = self.rules.extract(text, language)
        out = {}
        for f in self.task.features:
            r = found.get(f.key)
            if r is None:  # enum / number / string_list: the rules decide booleans only
                out[f.key] = FeatureResult(status="missing", reason="not_supported_by_rules")
                continue
            conf = max(0.0, min(1.0, float(r.confidence)))
            score = conf if r.value else 1.0 - conf
            out[f.key] = FeatureResult(
                value=bool(r.value), status="extracted", confidence=conf, score=score, threshold=f.threshold,
                evidence=[Evidence(quote=s.sentence[:300], found_in_text=False) for s in r.evidence[:3]],
            )
        return out


def build_strategy(settings: PipelineSettings, task: Task, models_dir: Path):
    if settings.strategy == "rules":
        return RulesStrategy(settings, task)
    if settings.strategy == "evidence":
        from .inference.evidence_extractor import EvidenceStrategy

        return EvidenceStrategy(settings, task, models_dir)
    if settings.strategy == "hybrid":
        from .inference.evidence_extractor import HybridStrategy

        return HybridStrategy(settings, task, models_dir)
    return JsonStrategy(settings, task, models_dir)
