"""The 'hybrid' strategy: the rule finding and the model's answer, weighed by a fitted combiner.

Per boolean feature, after one rules analysis of the document:

* a feature the rules found mentions of (present, denied, past, hypothetical, someone else's, or asked
  about without an answer the rules could read) gets the evidence question about its rule excerpt, as in
  'evidence'; the decision is the combiner's (``appliance.combine.model``): the rules' facts (status,
  assertions, who said it, answered or not) plus a bounded term for the model's P(yes), so a finding the
  rules are sure of is overturned only by an extreme model answer;
* a feature with no mention is False without a model call (``no_evidence``), unless the text comes close
  to it (a near-miss word or a misspelling, ``appliance.combine.recall``): then, within a budget of
  ``settings.recall_calls`` questions per document, the model is asked about that passage and the
  combiner may add the finding;
* a question whose answer cannot change the decision (the combiner gives the model no weight there) is
  not asked.

Which combiner: ``settings.combiner`` or the built-in one for the extractor bundle
(``combine.model.combiner_for``); without one the rules decide alone. The combiner is recorded in the
result's provenance as a rule-side model (``combiner-<name>``, hash over its coefficients and fitting).
The rules' own P(true) that the combiner starts from is the finding's heuristic confidence
(``appliance.rules.findings``: present 0.55-0.95, absent 0.10-0.25, history/family/hypothetical/uncertain
0.20, asked but unanswered 0.05; ``rule_score``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..combine import NearMisses, bucket_of, combiner_for, finding_facts, rule_row
from ..errors import ConfigError
from ..prepared import PreparedText
from ..result import Evidence, FeatureResult, ModelRef
from ..rules import RuleAnalysis
from .evidence import NOT_SUPPORTED, EvidenceStrategy
from .question import select_excerpt
from .rule_evidence import QUOTE_CHARS, no_evidence_result, rule_quotes, rule_score

if TYPE_CHECKING:
    from ..settings import PipelineSettings
    from ..tasks import Task

log = logging.getLogger(__name__)
NEAR_MISS = "near_miss"


class HybridStrategy(EvidenceStrategy):
    """'hybrid' (module docstring). ``combiner``: the ``Combiner`` in use; ``combiner_note``: which and
    why; ``recall_calls``: the near-miss question budget per document. ``trace_sink``: when set (by
    evaluation), called once per document with ``{feature: {facts, rule_score, bucket, p, near_miss}}``
    (numbers and codes only, no text) and every question is asked whatever its weight, so a combiner
    can be fitted on the answers. Raises ``ConfigError`` for a ``settings.combiner`` file that cannot
    be read."""

    name = "hybrid"

    def __init__(self, settings: PipelineSettings, task: Task, models_dir: Path) -> None:
        super().__init__(settings, task, models_dir)
        manifest = self.model.manifest
        try:
            self.combiner, self.combiner_note = combiner_for(settings.combiner, manifest.name,
                                                             manifest.source.sha256 if manifest.source else None)
        except (OSError, ValueError) as e:
            raise ConfigError(f"combiner {settings.combiner}: cannot be used ({type(e).__name__})") from None
        log.info("hybrid: %s", self.combiner_note)
        self.models.append(ModelRef(name=f"combiner-{self.combiner.name}", role="rules",
                                    bundle_hash=self.combiner.content_hash))
        self.near = NearMisses(task)
        self.recall_calls = settings.recall_calls
        self.trace_sink: Callable[[dict[str, Any]], None] | None = None

    def _asks(self, bucket: str | None) -> bool:
        return bucket is not None and (self.trace_sink is not None or self.combiner.asks(bucket))

    def extract(self, text: PreparedText) -> dict[str, FeatureResult]:
        """One rules analysis, the evidence questions the combiner weighs, then near-miss questions
        within the budget; one result per feature in task order."""
        analysis = self.rules.analyse(text)
        language = text.extract_language
        out: dict[str, FeatureResult] = {}
        trace: dict[str, Any] = {}
        unmentioned: list[str] = []
        for f in self.task.features:
            if f.type != "boolean":
                out[f.key] = FeatureResult(status="missing", reason=NOT_SUPPORTED)
                continue
            excerpt = select_excerpt(analysis, f.key, self.excerpt_chars)
            if excerpt is None:
                unmentioned.append(f.key)
                continue
            rule = analysis.finding(f.key)
            facts = finding_facts(analysis, f.key)
            bucket = bucket_of(facts, "excerpt")
            p = self._p_yes(f, excerpt, language) if self._asks(bucket) else None
            rs = rule_score(rule)
            out[f.key] = self._decide(f.key, rule_row(facts, rs), bucket, p, rule_quotes(rule))
            trace[f.key] = {"facts": facts.model_dump(), "rule_score": rs, "bucket": bucket, "p": p,
                            "near_miss": 0}
        self._near_misses(analysis, unmentioned, language, out, trace)
        out = {f.key: out[f.key] for f in self.task.features}
        if self.trace_sink is not None:
            self.trace_sink(trace)
        return out

    def _near_misses(self, analysis: RuleAnalysis, keys: list[str], language: str,
                     out: dict[str, FeatureResult], trace: dict[str, Any]) -> None:
        """Decide the features without a mention: near-miss questions (strongest first, at most
        ``recall_calls``), ``no_evidence`` for the rest."""
        ranked = self.near.ranked(analysis, keys, self.excerpt_chars) if self.recall_calls else []
        asked = {c.key: c for c in ranked[: self.recall_calls]} if self._asks(NEAR_MISS) else {}
        strength = {c.key: c.strength for c in ranked}
        for key in keys:
            f = self.task.feature(key)
            rule = analysis.finding(key)
            facts = finding_facts(analysis, key)
            rs = rule_score(rule)
            c = asked.get(key)
            p = self._p_yes(f, c.excerpt, language) if c is not None else None
            trace[key] = {"facts": facts.model_dump(), "rule_score": rs, "bucket": NEAR_MISS if c else None,
                          "p": p, "near_miss": strength.get(key, 0)}
            if c is None:
                out[key] = no_evidence_result(f, rule)
                continue
            quotes = [q for q in (_sentence_quote(analysis, i) for i in c.sentences[:3]) if q is not None]
            out[key] = self._decide(key, rule_row(facts, rs, c.strength), NEAR_MISS, p, quotes)

    def _decide(self, key: str, x: Any, bucket: str | None, p: float | None,
                evidence: list[Evidence]) -> FeatureResult:
        """The combiner's decision for feature ``key`` (rule side ``x``; the model term when ``p``)."""
        f = self.task.feature(key)
        score = min(1.0, max(0.0, self.combiner.score(x, bucket if p is not None else None, p)))
        value = score >= f.threshold
        return FeatureResult(value=value, status="extracted", score=score,
                             confidence=score if value else 1 - score, threshold=f.threshold, evidence=evidence)


def _sentence_quote(analysis: RuleAnalysis, index: int) -> Evidence | None:
    """Sentence ``index`` of the analysis as a verbatim quote of the user's text, with its offsets."""
    s = analysis.structure.sentences[index]
    p = analysis.prepared
    a, b = p.to_original(s.start, s.end)
    raw = p.original[a:b]
    quote = raw.strip()[:QUOTE_CHARS]
    if not quote:
        return None
    start = a + (len(raw) - len(raw.lstrip()))
    return Evidence(quote=quote, found_in_text=False, start=start, end=start + len(quote))
