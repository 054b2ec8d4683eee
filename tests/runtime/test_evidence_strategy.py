"""The 'evidence' and 'rules' strategies through the daemon's own Pipeline, on the tiny fixture model.

Pinned: a feature the rule pre-pass finds no mention of is decided False without a model call and says
so (reason ``no_evidence``, no score) — for 'hybrid', unless a near-miss passage is asked within the
budget; every other boolean feature is one yes/no question about the
rule-selected excerpt (negated and asked-about mentions included: the model judges them), decided as
``score >= threshold``; evidence quotes are sentences of the text (found by the pipeline's check);
non-boolean features are missing with a reason, never a crash or a silent default.
"""

from __future__ import annotations

import pytest

from appliance.document import Document
from appliance.pipeline import Pipeline
from appliance.rules import RuleExtractor
from appliance.settings import PipelineSettings
from appliance.strategies import evidence as evidence_strategy
from appliance.strategies import rule_evidence
from appliance.tasks import load_task
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


def _combiner_file(tmp_path, beta: float) -> str:
    from appliance.combine import BUCKETS, Combiner

    base = Combiner.rules_only()
    c = Combiner(name="test", rule_weights=base.rule_weights, model_weights={b: beta for b in BUCKETS})
    path = tmp_path / "combiner.json"
    path.write_text(c.model_dump_json())
    return str(path)


def test_hybrid_decides_with_its_combiner(tiny_bundle, tmp_path, monkeypatch):
    """'hybrid' asks the same questions and decides with the combiner: the rules' log-odds plus the
    bounded model term; the strategy's own decisions equal the combiner applied to its trace."""
    import math

    from appliance.combine import load_combiner, trace_decision
    from appliance.combine.model import model_logit

    p_model: dict[str, float] = {}
    original = evidence_strategy.EvidenceStrategy._p_yes

    def spy(self, f, excerpt, language):
        p_model[f.key] = original(self, f, excerpt, language)
        return p_model[f.key]

    monkeypatch.setattr(evidence_strategy.EvidenceStrategy, "_p_yes", spy)
    path = _combiner_file(tmp_path, 0.6)
    pipe = _pipe(tiny_bundle, strategy="hybrid", combiner=path, recall_calls=0)
    traces: list[dict] = []
    pipe.strategy.trace_sink = traces.append
    r = pipe.process(DOC)
    findings = RuleExtractor(load_task("symptoms13")).extract(DOC.text, "en")
    assert {"fever", "pain", "cough"} <= set(p_model)
    combiner = load_combiner(path)
    for key, fr in r.features.items():
        assert (fr.value, fr.score) == trace_decision(combiner, traces[0][key], fr.threshold)
        if key in p_model:
            rs = min(0.98, max(0.02, rule_evidence.rule_score(findings[key])))
            z = math.log(rs / (1 - rs)) + 0.6 * model_logit(p_model[key])
            assert fr.score == pytest.approx(1 / (1 + math.exp(-z))) and fr.value == (fr.score >= fr.threshold)
        else:
            assert fr.value is False and fr.reason == rule_evidence.NO_EVIDENCE and fr.score is None
    assert r.provenance.strategy == "hybrid"
    assert any(m.name == "combiner-test" and m.bundle_hash == combiner.content_hash for m in r.provenance.models)
    # The rule finding weighs: a denied fever (rules P(true) 0.10) needs P(yes) above ~0.97 to turn True.
    assert r.features["fever"].value is (p_model["fever"] > 0.974)


def test_hybrid_without_a_fitted_combiner_is_the_rules_and_asks_nothing(tiny_bundle, asked):
    pipe = _pipe(tiny_bundle, strategy="hybrid")
    assert "rules alone" in pipe.strategy.combiner_note
    r = pipe.process(DOC)
    rules = Pipeline.load(PipelineSettings(task="symptoms13", strategy="rules")).process(DOC)
    assert asked == []  # the model has no vote, so it is not asked
    for key, fr in r.features.items():
        assert fr.value == rules.features[key].value


NEAR = Document(id="near-1", language="en", text=(
    "[patient] I have been feeling nasea, my apetite is gone and I sleep badly.\n"
    "[doctor] Okay, and the pain?\n[patient] My knee hurts."))


@pytest.mark.parametrize("budget", [0, 1, 2])
def test_near_miss_questions_stay_within_the_budget(tiny_bundle, tmp_path, asked, budget):
    pipe = _pipe(tiny_bundle, strategy="hybrid", combiner=_combiner_file(tmp_path, 0.5), recall_calls=budget)
    r = pipe.process(NEAR)
    near = [k for k, _ in asked if k != "pain"]
    assert len(near) == min(budget, 3)  # nausea ("nasea"), appetite ("apetite"), insomnia ("sleep")
    for key in near:
        fr = r.features[key]
        assert fr.score is not None and fr.reason is None
        assert fr.evidence and all(e.found_in_text for e in fr.evidence)
    for key in {"nausea_vomiting", "appetite_loss", "insomnia"} - set(near):
        assert r.features[key].reason == rule_evidence.NO_EVIDENCE
