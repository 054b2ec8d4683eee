"""What the rule-based strategies (rules, evidence, hybrid) share: the rules' provenance record, the
rule finding's probability of True, its quotes, and the result for a feature with no mention."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..result import Evidence, FeatureResult, ModelRef

if TYPE_CHECKING:
    from ..rules import RuleExtractor, RuleFinding, Span
    from ..tasks import Feature, Task

NO_EVIDENCE = "no_evidence"
QUOTE_CHARS = 300


def rules_model_ref(rules: RuleExtractor, task: Task) -> ModelRef:
    """Provenance of the rule set: ``rules-<task>``, hashed over the task and every lexicon and ConText
    file (``RuleExtractor.content_hash``)."""
    return ModelRef(name=f"rules-{task.name}", role="rules", bundle_hash=rules.content_hash)


def rule_score(rule: RuleFinding | None) -> float:
    """The rule finding's probability of True, as the 'rules' strategy reports it: its heuristic
    confidence for a True finding, 1 - confidence for a False one (``appliance.rules.findings``);
    0.5 without a finding."""
    if rule is None:
        return 0.5
    conf = max(0.0, min(1.0, float(rule.confidence)))
    return conf if rule.value else 1.0 - conf


def span_quote(span: Span) -> Evidence | None:
    """The sentence of a rule mention as an evidence quote: a verbatim slice of the user's text,
    surrounding whitespace stripped and cut to ``QUOTE_CHARS`` characters, with its offsets; None when
    the sentence is blank."""
    raw = span.sentence
    quote = raw.strip()[:QUOTE_CHARS]
    if not quote:
        return None
    start = span.sentence_start + (len(raw) - len(raw.lstrip()))
    return Evidence(quote=quote, found_in_text=False, start=start, end=start + len(quote))


def rule_quotes(rule: RuleFinding | None, limit: int = 3, *, unique: bool = True) -> list[Evidence]:
    """Quotes for the sentences of the rule mentions behind a decision, in the finding's order, at most
    ``limit``. ``unique``: skip a quote equal to one already taken (evidence, hybrid); the rules strategy
    keeps one quote per mention (``unique=False``), as it always has."""
    if rule is None:
        return []
    quotes: list[Evidence] = []
    for span in rule.evidence:
        if len(quotes) >= limit:
            break
        ev = span_quote(span)
        if ev is not None and not (unique and any(ev.quote == e.quote for e in quotes)):
            quotes.append(ev)
    return quotes


def no_evidence_result(f: Feature, rule: RuleFinding | None) -> FeatureResult:
    """A feature the rule pre-pass found no mention of: False without a model call.

    ``reason`` says so (``no_evidence``); ``score`` stays empty (no model probability exists, and the
    threshold is not applied: calibration leaves these documents out, exactly as the pipeline decides);
    ``confidence`` is the rule pre-pass's heuristic for 'not mentioned' (``appliance.rules``)."""
    conf = float(rule.confidence) if rule is not None and not rule.value else None
    return FeatureResult(value=False, status="extracted", reason=NO_EVIDENCE, confidence=conf, score=None,
                         threshold=f.threshold)
