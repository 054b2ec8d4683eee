"""The combiner (appliance.combine): rule facts, near-miss passages, the decision rule and its fitting.

Pinned: the facts are counts read from the rules' analysis; a combiner file must have this code's
columns and buckets and a model weight in [0, beta_max]; the rules-only combiner reproduces the rules'
own score and gives the model no vote; a bounded model weight means a confident rule decision needs an
extreme answer to overturn; the fit pulls towards the rules, never gives the model a negative weight,
and learns a weight where the model is informative; the runtime needs neither scikit-learn nor scipy.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pydantic import ValidationError

from appliance.combine import (
    BUCKETS,
    COLUMNS,
    Combiner,
    NearMisses,
    bucket_of,
    finding_facts,
    no_facts,
    rule_row,
    trace_decision,
)
from appliance.combine.model import CLIP, model_logit
from appliance.rules import RuleExtractor, prepare_for_rules
from appliance.strategies.rule_evidence import rule_score
from appliance.tasks import load_task

TEXT = (
    "[doctor] Any fever lately?\n[patient] No, no fever.\n"
    "[doctor] And the pain?\n[patient] My lower back still hurts every morning. My knee hurts too.\n"
    "[doctor] Any cough?\n[patient] Hmm.\n"
    "[doctor] If you get diarrhea, call us.\n[patient] I have been feeling nasea and my apetite is gone."
)


@pytest.fixture(scope="module")
def analysis():
    return RuleExtractor(load_task("symptoms13")).analyse(prepare_for_rules(TEXT))


def test_facts_count_mentions_by_assertion_speaker_and_answer(analysis):
    pain = finding_facts(analysis, "pain")
    assert pain.status == "present" and pain.by_assertion["present"] == 2
    assert pain.present_by_role["patient"] == 2 and pain.present_by_role["clinician"] == 0
    fever = finding_facts(analysis, "fever")
    assert fever.status == "absent" and fever.by_assertion["absent"] >= 1 and fever.by_assertion["present"] == 0
    cough = finding_facts(analysis, "cough")  # asked, no readable answer: the rules cannot decide
    assert cough.status == "not_mentioned" and cough.undecided and cough.by_assertion["unanswered"] == 1
    assert finding_facts(analysis, "diarrhea").status == "hypothetical"
    none = finding_facts(analysis, "insomnia")
    assert none == no_facts() and not none.undecided
    with pytest.raises(KeyError):
        finding_facts(analysis, "no_such_feature")


def test_near_misses_find_misspellings_and_partial_terms_but_not_short_words(analysis):
    near = NearMisses(load_task("symptoms13"))
    found = {c.key: c for c in near.ranked(analysis, ["nausea_vomiting", "appetite_loss", "insomnia"], 1200)}
    assert set(found) == {"nausea_vomiting", "appetite_loss"}  # "nasea", "apetite"; nothing about sleep
    assert "nasea" in found["nausea_vomiting"].excerpt and found["nausea_vomiting"].strength == 2
    assert found["appetite_loss"].strength == 1
    # A feature with a rule mention is never a near-miss candidate; short words are never fuzzy-matched.
    assert near.candidate(analysis, "pain", 1200) is None
    short = RuleExtractor(load_task("symptoms13")).analyse(prepare_for_rules("[patient] I feel a bit pian."))
    assert near.candidate(short, "pain", 1200) is None
    # An exact one-word term the rules excluded ("cough syrup") is not a near miss either.
    syrup = RuleExtractor(load_task("symptoms13")).analyse(prepare_for_rules("[patient] I bought cough syrup."))
    assert syrup.mentions.get("cough") in (None, []) and near.candidate(syrup, "cough", 1200) is None


def test_combiner_files_are_checked():
    ok = Combiner.rules_only()
    assert tuple(ok.columns) == COLUMNS and set(ok.model_weights) == set(BUCKETS)
    with pytest.raises(ValidationError):
        Combiner(name="x", rule_weights=[0.0] * (len(COLUMNS) - 1), model_weights={b: 0.0 for b in BUCKETS})
    with pytest.raises(ValidationError):  # a negative model weight would let the model vote against its answer
        Combiner(name="x", rule_weights=ok.rule_weights, model_weights={**ok.model_weights, "present": -0.5})
    with pytest.raises(ValidationError):
        Combiner(name="x", rule_weights=ok.rule_weights, model_weights={"present": 0.5})
    assert Combiner.model_validate_json(ok.model_dump_json()).content_hash == ok.content_hash


def test_rules_only_reproduces_the_rules_and_ignores_the_model(analysis):
    c = Combiner.rules_only()
    for key in ("pain", "fever", "cough", "diarrhea", "insomnia"):
        facts, rs = finding_facts(analysis, key), rule_score(analysis.finding(key))
        x = rule_row(facts, rs)
        want = min(0.98, max(0.02, rs))
        for p in (0.0, 0.5, 1.0):
            assert c.score(x, bucket_of(facts, "excerpt"), p) == pytest.approx(want)
        assert not c.asks(bucket_of(facts, "excerpt"))


def _with_beta(beta: float) -> Combiner:
    base = Combiner.rules_only()
    return Combiner(name="t", rule_weights=base.rule_weights, model_weights={b: beta for b in BUCKETS})


def test_a_confident_rule_decision_needs_an_extreme_answer_to_overturn(analysis):
    c = _with_beta(1.0)
    pain = finding_facts(analysis, "pain")  # two present statements: rules P(true) 0.75
    x = rule_row(pain, rule_score(analysis.finding("pain")))
    p_needed = c.overturn_p(x, "present")
    assert p_needed is not None and p_needed < 0.3
    assert c.score(x, "present", p_needed - 0.01) < 0.5 <= c.score(x, "present", p_needed + 0.01)
    # Monotone in the answer (the model weight is never negative), and bounded by the clip.
    scores = [c.score(x, "present", p) for p in np.linspace(0, 1, 21)]
    assert scores == sorted(scores)
    assert c.score(x, "present", 0.0) == pytest.approx(c.score(x, "present", 1e-6))
    # A rule decision at P(true) 0.98 cannot be overturned by any answer with weight 1 (|logit| > CLIP).
    sure = x.copy()
    sure[COLUMNS.index("rules_logit")] = CLIP + 0.5
    assert c.overturn_p(sure, "present") is None and c.score(sure, "present", 0.0) > 0.5
    assert _with_beta(0.0).overturn_p(x, "present") is None


def test_trace_decision_follows_the_buckets():
    c = _with_beta(0.5)
    facts = no_facts().model_dump()
    assert trace_decision(c, {"facts": facts, "rule_score": 0.05, "bucket": None, "p": None, "near_miss": 0},
                          0.5) == (False, None)
    v, s = trace_decision(c, {"facts": facts, "rule_score": 0.05, "bucket": "near_miss", "p": 0.9,
                              "near_miss": 2}, 0.5)
    assert s == pytest.approx(1 / (1 + math.exp(-(math.log(0.05 / 0.95) + 0.5 * model_logit(0.9)))))
    # A combiner that gives near misses no weight would not have asked: no score, False.
    assert trace_decision(Combiner.rules_only(), {"facts": facts, "rule_score": 0.05, "bucket": "near_miss",
                                                  "p": 0.99, "near_miss": 2}, 0.5) == (False, None)


def _synthetic_rows(n: int = 600, seed: int = 0):
    """Rows where the model is informative for 'undecided' features and noise for 'present' ones."""
    from appliance.evaluate.combine_fit import FitRows

    rng = np.random.default_rng(seed)
    xs, bs, ms, ys, parts = [], [], [], [], []
    for i in range(n):
        undecided = i % 2 == 0
        y = rng.random() < (0.3 if undecided else 0.8)
        facts = no_facts().model_copy(update={
            "status": "not_mentioned" if undecided else "present", "mentions": 1,
            "by_assertion": {**no_facts().by_assertion, ("unanswered" if undecided else "present"): 1}})
        rs = 0.05 if undecided else 0.65
        p = (0.85 if y else 0.15) if undecided else rng.random()
        xs.append(rule_row(facts, rs))
        bs.append(BUCKETS.index("undecided" if undecided else "present"))
        ms.append(model_logit(p))
        ys.append(float(y))
        parts.append("abc"[i % 3])
    return FitRows(np.vstack(xs), np.array(bs), np.array(ms), np.array(ys), parts, [str(i) for i in range(n)],
                   ["k"] * n)


def test_the_fit_learns_where_the_model_is_informative_and_stays_bounded():
    pytest.importorskip("scipy")
    from appliance.evaluate.combine_fit import BETA_MAX, fit_coefficients, fit_combiner, log_loss

    rows = _synthetic_rows()
    c = fit_combiner(rows, name="synthetic", record={"data": "synthetic"})
    b = c.model_weights
    assert b["undecided"] > 0.5 and b["present"] < 0.2
    assert all(0.0 <= v <= BETA_MAX for v in b.values())
    assert c.fitting["data"] == "synthetic" and c.fitting["rows"] == rows.n and "penalty" in c.fitting
    assert c.fitting["train_log_loss"]["fitted"] < c.fitting["train_log_loss"]["rules_only"]
    # An anti-informative model gets weight 0, not a negative one.
    flipped = _synthetic_rows()
    flipped.m = -flipped.m
    w, beta = fit_coefficients(flipped, 1.0)
    assert beta[BUCKETS.index("undecided")] == pytest.approx(0.0, abs=1e-6)
    # A huge penalty is the rules alone.
    w, beta = fit_coefficients(rows, 1e9)
    assert np.allclose(w, Combiner.rules_only().rule_weights, atol=1e-4) and np.allclose(beta, 0, atol=1e-4)
    assert log_loss(rows, w, beta) > 0


def test_the_runtime_needs_neither_scikit_learn_nor_scipy(tmp_path):
    c = _with_beta(0.7)
    path = tmp_path / "c.json"
    path.write_text(c.model_dump_json())
    code = textwrap.dedent(f"""
        import sys
        sys.modules["sklearn"] = None
        sys.modules["scipy"] = None
        from appliance.combine import load_combiner, rule_row, no_facts
        c = load_combiner({str(path)!r})
        print(round(c.score(rule_row(no_facts(), 0.05), "near_miss", 0.9), 6))
        print("sklearn" in sys.modules and sys.modules["sklearn"] is not None)
    """)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)
    lines = out.stdout.split()
    assert float(lines[0]) == pytest.approx(c.score(rule_row(no_facts(), 0.05), "near_miss", 0.9), abs=1e-6)
    assert lines[1] == "False"


def test_an_uncertain_finding_has_its_own_status_and_is_asked_as_undecided():
    base = no_facts()
    facts = base.model_copy(update={"status": "uncertain", "mentions": 1,
                                    "by_assertion": {**base.by_assertion, "uncertain": 1}})
    x = rule_row(facts, 0.2)
    assert x[COLUMNS.index("status_uncertain")] == 1.0 and x[COLUMNS.index("log_other")] == pytest.approx(math.log(2))
    assert bucket_of(facts, "excerpt") == "undecided"
