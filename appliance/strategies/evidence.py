"""The 'evidence' strategy: the rule pre-pass picks the sentences that matter for each feature, and
the model answers one yes/no question per feature about those sentences only.

Why: a small model asked for 13 answers about a whole transcript answers by rote (measured: the
same output for nearly every document). Asked one narrow question about three relevant sentences,
its yes/no log-probabilities carry far more signal, and the prompt is short. A feature for which the
rules find no relevant sentence at all is 'not mentioned': False, without a model call.

The rules run once per document (``RuleExtractor.analyse``); the shared instruction and worked
examples (``question``) form a prefix that is prefilled once into one long-lived generator and reused
with ``rewind_to`` for every question.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..inference.engine import last_logprobs, prefill
from ..prepared import PreparedText
from ..result import FeatureResult
from ..rules import RuleExtractor, RuleFinding
from .loading import load_extractor
from .question import (
    EXCERPT_CHARS,
    NO_WORDS,
    QUESTION_TOKENS,
    YES_WORDS,
    prefix_messages,
    prompt_hash,
    question_turn,
    select_excerpt,
)
from .rule_evidence import no_evidence_result, rule_quotes, rules_model_ref

if TYPE_CHECKING:
    from ..settings import PipelineSettings
    from ..tasks import Feature, Task

NOT_SUPPORTED = "not_supported_by_evidence_strategy"


class EvidenceStrategy:
    """One yes/no question per boolean feature with a rule-selected excerpt (see ``ExtractionStrategy``):
    ``score`` = ``_score(rule finding, P(yes))`` (the model's P(yes) here), ``value = score >= threshold``,
    ``confidence`` = probability of that value, quotes = the rule mentions' sentences with offsets.
    No excerpt: ``no_evidence_result``. Non-boolean features: missing
    (``not_supported_by_evidence_strategy``). The whole document at once (``window_tokens`` None): only the
    excerpt must fit the context (``EXCERPT_CHARS``, ``QUESTION_TOKENS``)."""

    name = "evidence"

    def __init__(self, settings: PipelineSettings, task: Task, models_dir: Path) -> None:
        self.task = task
        self.settings = settings
        self.rules = RuleExtractor(task)
        self.model, ref = load_extractor(settings, models_dir)
        messages = prefix_messages()
        self._messages = messages
        self.prefix = self.model.render(messages, add_generation_prompt=False)
        probe = self.model.render(messages + [{"role": "user", "content": "x"}], add_generation_prompt=True)
        self.reuse = settings.prefix_reuse and probe.startswith(self.prefix)
        self._prefix_tokens = self.model.encode(self.prefix, add_bos=True)  # tokenised once, used below
        self.prefix_ids = self._prefix_tokens if self.reuse else []
        self.yes_ids = self._first_ids(YES_WORDS)
        self.no_ids = self._first_ids(NO_WORDS)
        self.max_length = min(self.model.context_length, settings.max_context_tokens,
                              len(self._prefix_tokens) + QUESTION_TOKENS)
        self.prompt_hash = prompt_hash(self.model.render)
        self.models = [ref, rules_model_ref(self.rules, task)]
        self.count_tokens: Callable[[str], int] | None = self.model.count_tokens
        # Evidence is selected from the whole document; only the excerpt must fit the context.
        self.window_tokens: int | None = None
        self.excerpt_chars = EXCERPT_CHARS
        self._gen: Any = None

    def _first_ids(self, words: list[str]) -> list[int]:
        ids: list[int] = []
        for w in words:
            enc = self.model.encode(w)
            if enc and enc[0] not in ids:
                ids.append(enc[0])
        return ids

    def _prefixed_generator(self) -> Any:
        """The long-lived generator holding the prefilled prefix (prefix reuse); created once. Call with
        ``self.model.lock`` held."""
        if self._gen is None:
            self._gen = self.model.generator(self.max_length)
            prefill(self._gen, self.prefix_ids)
        return self._gen

    def warm(self) -> None:
        """Prefill the shared prefix (with prefix reuse) and build the English rule pipeline."""
        with self.model.lock:
            if self.reuse:
                self._prefixed_generator()
        self.rules.warm("en")

    def _p_yes(self, f: Feature, excerpt: str, language: str) -> float:
        """The model's P(yes) in [0, 1] for the question about ``f`` on ``excerpt`` (P(yes) and P(no) from
        the first tokens of ``YES_WORDS`` / ``NO_WORDS``, renormalised over the two)."""
        turn = question_turn(f, excerpt, language)
        with self.model.lock:
            full = self.model.render(self._messages + [{"role": "user", "content": turn}],
                                     add_generation_prompt=True)
            if self.reuse:
                gen = self._prefixed_generator()
                gen.rewind_to(len(self.prefix_ids))
                ids = self.model.encode(full[len(self.prefix):])
            else:
                gen = self.model.generator(self.max_length)
                ids = self._prefix_tokens + self.model.encode(full[len(self.prefix):]) \
                    if full.startswith(self.prefix) else self.model.encode(full, add_bos=True)
            room = self.max_length - gen.token_count() - 2
            prefill(gen, ids[: max(room, 1)])
            lp = last_logprobs(gen)
        yes = np.logaddexp.reduce([lp[i] for i in self.yes_ids])
        no = np.logaddexp.reduce([lp[i] for i in self.no_ids])
        return float(1.0 / (1.0 + math.exp(no - yes)))

    def extract(self, text: PreparedText) -> dict[str, FeatureResult]:
        """One rules analysis of ``text``, then one question per boolean feature with an excerpt."""
        analysis = self.rules.analyse(text)
        language = text.extract_language
        out: dict[str, FeatureResult] = {}
        for f in self.task.features:
            if f.type != "boolean":  # yes/no questions only: other types are not asked
                out[f.key] = FeatureResult(status="missing", reason=NOT_SUPPORTED)
                continue
            excerpt = select_excerpt(analysis, f.key, self.excerpt_chars)
            rule = analysis.finding(f.key)
            if excerpt is None:
                out[f.key] = no_evidence_result(f, rule)
                continue
            p = self._score(rule, self._p_yes(f, excerpt, language))
            value = p >= f.threshold
            out[f.key] = FeatureResult(value=value, status="extracted", score=p, confidence=p if value else 1 - p,
                                       threshold=f.threshold, evidence=rule_quotes(rule))
        return out

    def _score(self, rule: RuleFinding | None, p_model: float) -> float:
        """P(true) the decision rests on: the model's own here; 'hybrid' blends in the rule finding."""
        return p_model
