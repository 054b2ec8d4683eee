"""One document in, one validated Result out: the single path that ``run``, ``extract`` and
``evaluate`` all use.

prepare (detect language, normalise, keep offsets) → [translate] → count tokens → window → extract →
merge → check evidence.
Model-level trouble never raises out of ``process``: the affected features come back ``missing`` with a
reason. Only unusable *documents* raise (``InputError``), so the daemon can move them aside.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from . import __version__
from .bundle import default_models_dir, resolve_bundle
from .document import Document
from .errors import ConfigError, InputError
from .language import DEFAULT_CANDIDATES, detect_language
from .prepared import PreparedText, prepare_text, wrap_normalized
from .result import Evidence, FeatureResult, ModelRef, Provenance, Result, Timings, Translation
from .settings import PipelineSettings
from .strategies import ExtractionStrategy
from .tasks import Task, load_task
from .translate import TARGET_LANGUAGE, Translator, load_translator, should_translate
from .windows import split_windows

log = logging.getLogger(__name__)


class Pipeline:
    """A loaded task, strategy and optional translator; ``process`` turns one ``Document`` into a ``Result``.

    Build it with ``Pipeline.load(settings)``; the constructor takes the parts already built (tests).
    ``count_tokens`` is the strategy's tokenizer (None: no token limit), ``prompt_hash`` its prompt hash."""

    def __init__(self, settings: PipelineSettings, task: Task, strategy: ExtractionStrategy,
                 translator: Translator | None, models: list[ModelRef], count_tokens: Callable[[str], int] | None,
                 prompt_hash: str) -> None:
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
    def load(cls, settings: PipelineSettings) -> Pipeline:
        """Load, verify and warm everything once; seconds, so the daemon does it at start-up only.
        Raises ``ConfigError`` (unknown strategy, 'always' translation without a translator, a prompt that
        leaves no room) and ``BundleError`` (a bundle missing, not verifying or not loading)."""
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
        """What decides this pipeline's results (versions, hashes, models), as plain JSON values."""
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
        """Drop the models (their memory is freed when nothing else holds them)."""
        self.strategy = None  # type: ignore[assignment]
        self.translator = None

    # -- the data path ----------------------------------------------------------------------------
    def process(self, doc: Document) -> Result:
        """One document to one ``Result``.

        ``doc.text`` is prepared once (``prepare_text``: the language ``doc.language``, or detected among
        ``settings.languages``; normalised with offsets back to ``doc.text``). When the translation policy
        asks for it, the normalised text is translated to English and extraction reads the translation
        (``Result.translation``; evidence ``source='translation'``). The strategy gets the whole text, or,
        when it has a window size (json), one prepared window at a time, whose answers are merged
        (``merge_windows``). Every evidence quote is then checked against its text (``found_in_text``):
        a quote with offsets must be exactly ``text[start:end]`` of the original input (or the
        translation); one without (a model-written quote) must occur, whitespace- and case-insensitively,
        in the text the model read. A verbatim quote of a timed input (``doc.cues``) then gets the time
        span of the recording it was spoken in (``Evidence.start_s`` / ``end_s``).

        Returns a ``Result`` with one ``FeatureResult`` per task feature. Features come back
        ``status='missing'`` with a ``reason`` instead of raising: ``document_too_long`` (a strategy that
        windows the document, json, and more than ``settings.max_document_tokens`` tokens: nothing is
        extracted), the strategy's codes
        (``not_supported_by_rules``, ``not_supported_by_evidence_strategy`` for features it does not
        decide; the generation's failure code), joined with ',' when every window failed.
        ``input_sha256`` is the sha256 of ``doc.text`` as UTF-8 (``PreparedText.text_sha256``).

        Raises ``InputError`` (reason ``empty``) when ``doc.text`` is empty or only whitespace. Nothing of
        the text is logged.
        """
        t0 = time.perf_counter()
        if not doc.text.strip():
            raise InputError("empty", f"document '{doc.id}' has no text")
        prepared = prepare_text(doc.text, doc.language, self.languages)
        input_hash = prepared.text_sha256
        language = prepared.language
        t_read = time.perf_counter()

        translation = None
        target = prepared
        if self.translator is not None and should_translate(language, self.settings.translate,
                                                            self.translator.languages):
            out = self.translator.translate(prepared.normalized, language or "", TARGET_LANGUAGE)
            translation = Translation(source_language=language or "", target_language=TARGET_LANGUAGE,
                                      text=out.text, bundle=self.translator.name,
                                      bundle_hash=self.translator.bundle_hash, chunks=out.chunks)
            target = wrap_normalized(out.text, TARGET_LANGUAGE, source="translation")
        t_trans = time.perf_counter()

        n_tokens = self._count(target.normalized) if self._count else None
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
            parts = [target] if budget is None or self._count is None else [
                target.window(w) for w in split_windows(target.normalized, budget, self._count,
                                                        self.settings.window_overlap_tokens)]
            per_window = [self.strategy.extract(part) for part in parts]
            features = merge_windows(self.task, per_window)
            windows = len(parts)
        _check_evidence(features, target)
        _add_cue_times(features, doc)
        t_end = time.perf_counter()
        return Result(
            input_id=doc.id,
            input_sha256=input_hash,
            source_name=doc.source_name,
            language=language,
            language_detected=prepared.language_detected,
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


def _add_cue_times(features: dict[str, FeatureResult], doc: Document) -> None:
    """The one place cue times reach a result: each verbatim quote of a timed input (offsets into
    ``doc.text``, found there) gets the recording time span of the cues it overlaps
    (``Document.times_for``). Untimed inputs, quotes from a translation and quotes without offsets get
    none."""
    if not doc.cues:
        return
    for fr in features.values():
        for e in fr.evidence:
            if e.source == "original" and e.found_in_text and e.start is not None and e.end is not None:
                times = doc.times_for(e.start, e.end)
                if times is not None:
                    e.start_s, e.end_s = times


def _check_evidence(features: dict[str, FeatureResult], text: PreparedText) -> None:
    """Flag quotes that do not occur in the text they were taken from (a model may invent them), and
    name that text (``text.source``). A quote with offsets must be exactly ``text.original[start:end]``;
    one without must occur in ``text.normalized`` (what the model read), whitespace- and case-folded."""
    hay = _norm_ws(text.normalized)
    original = text.original

    def found(e: Evidence) -> bool:
        if not e.quote.strip():
            return False
        if e.start is not None and e.end is not None:
            return original[e.start : e.end] == e.quote
        return _norm_ws(e.quote) in hay

    for fr in features.values():
        fr.evidence = [
            Evidence(quote=e.quote, found_in_text=found(e), source=text.source, start=e.start, end=e.end)
            for e in fr.evidence
        ]
