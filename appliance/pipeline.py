"""One document in, one validated Result out: the single path that ``run``, ``extract`` and
``evaluate`` all use.

normalise → detect language → [translate] → count tokens → window → extract → merge → check evidence.
Model-level trouble never raises out of ``process``: the affected features come back ``missing`` with a
reason. Only unusable *documents* raise (``InputError``), so the daemon can move them aside.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from . import __version__
from .bundle import default_models_dir, resolve_bundle
from .document import Document, text_hash
from .errors import ConfigError, InputError
from .language import DEFAULT_CANDIDATES, detect_language
from .normalize import normalize as normalize_text
from .result import Evidence, FeatureResult, ModelRef, Provenance, Result, Timings, Translation
from .settings import PipelineSettings
from .tasks import Task, load_task
from .translate import TARGET_LANGUAGE, Translator, load_translator, should_translate
from .windows import split_windows

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, settings: PipelineSettings, task: Task, strategy: Any, translator: Translator | None,
                 models: list[ModelRef], count_tokens, prompt_hash: str) -> None:
        self.settings = settings
        self.task = task
        self.strategy = strategy
        self.translator = translator
        self.models = models
        self._count = count_tokens
        self.prompt_hash = prompt_hash
        self.languages = tuple(settings.languages) if settings.languages else DEFAULT_CANDIDATES

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def load(cls, settings: PipelineSettings) -> "Pipeline":
        """Load, verify and warm everything once; seconds, so the daemon does it at start-up only."""
        from .strategies import build_strategy

        task = load_task(settings.task)
        models_dir = settings.models_dir or default_models_dir()
        translator = None
        models: list[ModelRef] = []
        if settings.translator:
            translator = load_translator(resolve_bundle(settings.translator, models_dir),
                                         verify=settings.verify_bundles, threads=settings.threads,
                                         max_context=settings.max_context_tokens)
            models.append(ModelRef(name=translator.name, role="translator", bundle_hash=translator.bundle_hash))
        elif any(p == "always" for p in settings.translate.values()):
            raise ConfigError("translation policy 'always' is set but no translator bundle is configured")
        strategy = build_strategy(settings, task, models_dir)
        models.extend(strategy.models)
        strategy.warm()
        pipeline = cls(settings, task, strategy, translator, models, strategy.count_tokens, strategy.prompt_hash)
        # Lingua builds its models lazily (about a second): pay that at start-up, not on the first file.
        detect_language("warm-up", pipeline.languages)
        return pipeline

    def describe(self) -> dict[str, Any]:
        return {
            "app_version": __version__,
            "task": self.task.name,
            "task_version": self.task.version,
            "task_hash": self.task.content_hash,
            "strategy": self.settings.strategy,
            "prompt_hash": self.prompt_hash,
            "models": [m.model_dump() for m in self.models],
            "settings_hash": hashlib.sha256(self.settings.model_dump_json().encode()).hexdigest(),
        }

    def close(self) -> None:
        self.strategy = None
        self.translator = None

    # -- the data path ----------------------------------------------------------------------------
    def process(self, doc: Document) -> Result:
        t0 = time.perf_counter()
        if not doc.text.strip():
            raise InputError("empty", f"document '{doc.id}' has no text")
        input_hash = text_hash(doc.text)
        language, detected = doc.language, False
        if not language:
            language, detected = detect_language(doc.text, self.languages), True
        text = normalize_text(doc.text, language)
        t_read = time.perf_counter()

        translation = None
        if self.translator is not None and should_translate(language, self.settings.translate,
                                                            self.translator.languages):
            out = self.translator.translate(text, language or "", TARGET_LANGUAGE)
            translation = Translation(source_language=language or "", target_language=TARGET_LANGUAGE,
                                      text=out.text, bundle=self.translator.name,
                                      bundle_hash=self.translator.bundle_hash, chunks=out.chunks)
            text = out.text
        t_trans = time.perf_counter()

        extract_language = translation.target_language if translation else (language or "en")
        n_tokens = self._count(text) if self._count else None
        # The whole-document token limit bounds what the model reads: only a strategy that windows the
        # document (json) feeds it all to the model. Under evidence/hybrid only rule-selected excerpts
        # reach it, each question bounded on its own (issue #13; docs/extraction.md, "Long documents").
        if (n_tokens is not None and self.strategy.window_tokens is not None
                and n_tokens > self.settings.max_document_tokens):
            features = {f.key: FeatureResult(status="missing", reason="document_too_long")
                        for f in self.task.features}
            windows = 0
        else:
            budget = self.strategy.window_tokens
            windows_text = [text] if budget is None else split_windows(
                text, budget, self._count, self.settings.window_overlap_tokens)
            per_window = [self.strategy.extract(w, extract_language) for w in windows_text]
            features = merge_windows(self.task, per_window)
            windows = len(windows_text)
        _check_evidence(features, text, "translation" if translation else "original")
        t_end = time.perf_counter()
        return Result(
            input_id=doc.id,
            input_sha256=input_hash,
            source_name=doc.source_name,
            language=language,
            language_detected=detected,
            translation=translation,
            features=features,
            document_tokens=n_tokens,
            windows=windows,
            provenance=Provenance(app_version=__version__, task=self.task.name, task_version=self.task.version,
                                  prompt_hash=self.prompt_hash, strategy=self.settings.strategy,
                                  models=self.models),
            timings=Timings(read_s=t_read - t0, translate_s=t_trans - t_read, extract_s=t_end - t_trans,
                            total_s=t_end - t0),
            metadata=doc.metadata,
        )


def merge_windows(task: Task, per_window: list[dict[str, FeatureResult]]) -> dict[str, FeatureResult]:
    """Combine window answers (rule in appliance/windows.py): present anywhere → present."""
    if len(per_window) == 1:
        return per_window[0]
    merged: dict[str, FeatureResult] = {}
    for f in task.features:
        got = [w[f.key] for w in per_window if w[f.key].status == "extracted"]
        if not got:
            reasons = sorted({w[f.key].reason or "unknown" for w in per_window})
            merged[f.key] = FeatureResult(status="missing", reason=",".join(reasons))
            continue
        evidence = [e for r in got for e in r.evidence]
        if f.type == "boolean":
            scored = [r for r in got if r.score is not None]
            if scored:
                best = max(scored, key=lambda r: r.score or 0.0)
                value = any(r.value for r in got)
                score = best.score
                conf = score if value else (1 - score if score is not None else None)
                merged[f.key] = FeatureResult(value=value, status="extracted", score=score, confidence=conf,
                                              threshold=best.threshold, evidence=evidence)
            else:
                value = any(r.value for r in got)
                merged[f.key] = FeatureResult(value=value, status="extracted", evidence=evidence,
                                              threshold=got[0].threshold)
        elif f.type == "string_list":
            items: list[str] = []
            for r in got:
                items += [x for x in (r.value or []) if x not in items]
            merged[f.key] = FeatureResult(value=items, status="extracted", evidence=evidence)
        else:
            best = max(got, key=lambda r: r.confidence if r.confidence is not None else -1.0)
            merged[f.key] = best.model_copy(update={"evidence": evidence})
    return merged


def _norm_ws(s: str) -> str:
    return " ".join(s.split()).casefold()


def _check_evidence(features: dict[str, FeatureResult], text: str, source: str) -> None:
    """Flag quotes that do not occur in the text they were taken from (a model may invent them)."""
    hay = _norm_ws(text)
    for fr in features.values():
        fr.evidence = [
            Evidence(quote=e.quote, found_in_text=bool(e.quote.strip()) and _norm_ws(e.quote) in hay, source=source)
            for e in fr.evidence
        ]
