"""The 'evidence' and 'rules' strategies through the daemon's own Pipeline, on the tiny fixture model.

Pinned: a feature the rule pre-pass finds no mention of is decided False without a model call and says
so (reason ``no_evidence``, no score); every other boolean feature is one yes/no question about the
rule-selected excerpt (negated and asked-about mentions included: the model judges them), decided as
``score >= threshold``; evidence quotes are sentences of the text (found by the pipeline's check);
non-boolean features are missing with a reason, never a crash or a silent default.
"""

from __future__ import annotations

import pytest

from appliance.document import Document
from appliance.pipeline import Pipeline
from appliance.settings import PipelineSettings
from appliance.strategies import evidence as evidence_strategy
from appliance.strategies import rule_evidence
from tests.support.paths import DATA

DOC = Document(
    id="ev-1",
    language="en",
    text=("[doctor] Any fever lately?\n[patient] No, no fever.\n"
          "[doctor] And the pain?\n[patient] My lower back still hurts every morning.\n"
          "[doctor] If you get a cough, call us."),
)


def _pipe(bundle, **kw) -> Pipeline:
    s = dict(task="symptoms13", strategy="evidence", extractor=str(bundle), threads=1)
    s.update(kw)
    return Pipeline.load(PipelineSettings(**s))


@pytest.fixture()
def asked(monkeypatch) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []
    original = evidence_strategy.EvidenceStrategy._p_yes

    def spy(self, f, excerpt, language):
        calls.append((f.key, excerpt))
        return original(self, f, excerpt, language)

    monkeypatch.setattr(evidence_strategy.EvidenceStrategy, "_p_yes", spy)
    return calls


def test_no_evidence_features_are_decided_without_a_model_call(tiny_bundle, asked):
    r = _pipe(tiny_bundle).process(DOC)
    excerpts = dict(asked)
    # Mentioned features are asked, whatever the rules' reading: denied (fever), present (pain),
    # hypothetical (cough). The model sees the mention's sentence and its answer.
    assert {"fever", "pain", "cough"} <= set(excerpts)
    assert "No, no fever." in excerpts["fever"] and "lower back still hurts" in excerpts["pain"]
    for key, fr in r.features.items():
        assert fr.status == "extracted"
        if key in excerpts:
            assert fr.reason is None and 0.0 <= fr.score <= 1.0
            assert fr.value == (fr.score >= fr.threshold)
            assert fr.confidence == pytest.approx(fr.score if fr.value else 1 - fr.score)
        else:  # e.g. insomnia, bleeding: never mentioned
            assert fr.value is False and fr.reason == rule_evidence.NO_EVIDENCE
            assert fr.score is None and fr.evidence == []
    assert len(asked) == len(excerpts) < len(r.features)


def test_evidence_quotes_are_sentences_of_the_text(tiny_bundle):
    r = _pipe(tiny_bundle).process(DOC)
    quotes = [e for fr in r.features.values() for e in fr.evidence]
    assert quotes and all(e.found_in_text for e in quotes)
    assert any("lower back still hurts" in e.quote for e in r.features["pain"].evidence)


def test_prefix_reuse_on_and_off_give_the_same_scores(tiny_bundle):
    on, off = _pipe(tiny_bundle, prefix_reuse=True), _pipe(tiny_bundle, prefix_reuse=False)
    for _ in range(2):
        a, b = on.process(DOC), off.process(DOC)
        for key in a.features:
            sa, sb = a.features[key].score, b.features[key].score
            assert (sa is None) == (sb is None)
            if sa is not None:
                assert sa == pytest.approx(sb, abs=1e-4)


def test_non_boolean_features_are_missing_with_a_reason(tiny_bundle):
    doc = Document(id="m", language="en", text="Patient: my knee hurts. Temperature 38.2.")
    ev = _pipe(tiny_bundle, task=str(DATA / "mixed_task.json")).process(doc)
    rules = Pipeline.load(PipelineSettings(task=str(DATA / "mixed_task.json"), strategy="rules")).process(doc)
    for key in ("severity", "temperature", "medications"):
        assert ev.features[key].status == "missing" and ev.features[key].reason
        assert rules.features[key].status == "missing" and rules.features[key].reason == "not_supported_by_rules"
    assert rules.features["pain"].status == "extracted" and rules.features["pain"].value is True
    assert all(e.found_in_text for e in rules.features["pain"].evidence)


def test_hybrid_votes_rules_and_model(tiny_bundle, monkeypatch):
    """'hybrid' asks the same questions and decides on the mean of the rule's and the model's P(true)."""
    from appliance.rules import RuleExtractor
    from appliance.tasks import load_task

    p_model: dict[str, float] = {}
    original = evidence_strategy.EvidenceStrategy._p_yes

    def spy(self, f, excerpt, language):
        p_model[f.key] = original(self, f, excerpt, language)
        return p_model[f.key]

    monkeypatch.setattr(evidence_strategy.EvidenceStrategy, "_p_yes", spy)
    r = _pipe(tiny_bundle, strategy="hybrid").process(DOC)
    findings = RuleExtractor(load_task("symptoms13")).extract(DOC.text, "en")
    assert {"fever", "pain", "cough"} <= set(p_model)
    for key, fr in r.features.items():
        if key in p_model:
            want = 0.5 * rule_evidence.rule_score(findings[key]) + 0.5 * p_model[key]
            assert fr.score == pytest.approx(want) and fr.value == (fr.score >= fr.threshold)
        else:
            assert fr.value is False and fr.reason == rule_evidence.NO_EVIDENCE and fr.score is None
    assert r.provenance.strategy == "hybrid"
    # The rule finding weighs: a denied fever (rule P(true) 0.10) stays False unless the model is sure.
    assert r.features["fever"].value is (p_model["fever"] >= 0.9)
