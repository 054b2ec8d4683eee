"""``appliance evaluate populations``: leave one part out, fit on the others, measure the held-out part.

A stand-in 'hybrid' pipeline reads the real rules and answers every question with an oracle that
knows the labels (or with noise), so the test is fast and its outcome is known: an oracle must earn
weight in the combiner, add the findings the rules could not decide, and pass the gate; a noise model
must get (almost) no weight and never pass by lowering sensitivity. Nothing fitted for a fold may
have seen that fold's part.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from appliance import __version__
from appliance.combine import Combiner, bucket_of, finding_facts, trace_decision
from appliance.document import Document
from appliance.pipeline import Pipeline
from appliance.prepared import prepare_text
from appliance.result import FeatureResult, ModelRef, Provenance, Result, Timings
from appliance.rules import RuleExtractor
from appliance.strategies.rule_evidence import rule_score
from appliance.tasks import load_task

pytest.importorskip("scipy")

TASK = load_task("symptoms13")
SNIPPETS = {  # (text, labels) pieces the documents are made of; the rules get the undecided ones wrong
    "cough_unanswered": ("[doctor] Any cough lately?\n[patient] Hmm, let me think about that.\n", {"cough": True}),
    "cough_none": ("[doctor] Any cough?\n[patient] Well, I was outside a lot.\n", {"cough": False}),
    "pain": ("[patient] My back hurts every day.\n", {"pain": True}),
    "no_pain": ("[doctor] Any pain?\n[patient] No.\n", {"pain": False}),
    "fever": ("[patient] I had a fever last night.\n", {"fever": True}),
    "no_fever": ("[patient] No fever at all.\n", {"fever": False}),
}


def _documents(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        parts = rng.sample(["cough_unanswered", "cough_none", "pain", "no_pain", "fever", "no_fever"], 3)
        labels: dict[str, bool] = {k: False for k in TASK.keys}
        text = ""
        for p in parts:
            t, lab = SNIPPETS[p]
            text += t
            labels.update(lab)
        rows.append({"id": f"doc-{i:03d}", "text": text, "language": "en", "labels": labels,
                     "source_subset": "abc"[i % 3]})
    return rows


class OraclePipeline:
    """A 'hybrid' stand-in: real rule facts, P(yes) from the labels (or noise), traces like HybridStrategy."""

    def __init__(self, truth: dict[str, dict[str, bool]], noise: bool) -> None:
        self.truth, self.noise = truth, noise
        self.rules = RuleExtractor(TASK)
        self.seen: list[str] = []
        me = self

        class Strategy:
            combiner = Combiner.rules_only()
            models = [ModelRef(name="oracle", role="extractor", bundle_hash="e" * 64)]
            trace_sink = None
            answers = None

            def __init__(self) -> None:
                self.owner = me

        self.strategy = Strategy()

    def describe(self) -> dict:
        return {"task": TASK.name, "strategy": "hybrid", "noise": self.noise,
                "models": [m.model_dump() for m in self.strategy.models]}

    def close(self) -> None:
        pass

    def process(self, doc: Document) -> Result:
        self.seen.append(doc.id)
        analysis = self.rules.analyse(prepare_text(doc.text, "en"))
        rng = random.Random(doc.id)
        trace, feats = {}, {}
        for key in TASK.keys:
            facts = finding_facts(analysis, key)
            rs = rule_score(analysis.finding(key))
            bucket = bucket_of(facts, "excerpt") if facts.mentions else None
            y = self.truth[doc.id][key]
            p = (rng.random() if self.noise else (0.9 if y else 0.1)) if bucket else None
            trace[key] = {"facts": facts.model_dump(), "rule_score": rs, "bucket": bucket, "p": p, "near_miss": 0}
            value, score = trace_decision(self.strategy.combiner, trace[key], 0.5)
            feats[key] = FeatureResult(value=value, status="extracted", score=score, threshold=0.5,
                                       reason=None if score is not None else "no_evidence")
        if self.strategy.trace_sink:
            self.strategy.trace_sink(trace)
        return Result(input_id=doc.id, input_sha256=doc.content_hash, language="en", features=feats,
                      provenance=Provenance(app_version=__version__, task=TASK.name, task_version=TASK.version,
                                            prompt_hash="0" * 64, strategy="hybrid", models=self.strategy.models),
                      timings=Timings(read_s=0, translate_s=0, extract_s=0, total_s=0.01))


def _run(tmp_path: Path, noise: bool, rows: list[dict]) -> tuple[dict, list[OraclePipeline]]:
    from appliance.evaluate.population_run import populations
    from appliance.settings import PipelineSettings

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    variant = tmp_path / "shouted.jsonl"  # a rewrite: same ids and labels, other text
    variant.write_text("".join(json.dumps({**r, "text": r["text"].upper()}) + "\n" for r in rows))
    truth = {r["id"]: r["labels"] for r in rows}
    made: list[OraclePipeline] = []

    def factory(settings):
        if settings.strategy == "rules":
            return Pipeline.load(settings)
        made.append(OraclePipeline(truth, noise))
        return made[-1]

    report = populations(data, PipelineSettings(task="symptoms13", strategy="hybrid"), tmp_path / "out",
                         variants={"shouted": variant}, fit_split="all", replicates=50, progress=False,
                         pipeline_factory=factory, command="test")
    return report, made


def test_an_informative_model_earns_weight_adds_findings_and_passes_the_gate(tmp_path):
    rows = _documents(60, seed=1)
    report, _ = _run(tmp_path, noise=False, rows=rows)
    assert [f["part"] for f in report["folds"]] == ["a", "b", "c"]
    for f in report["folds"]:  # a fold fits on the other parts only
        assert f["part"] not in f["fit_parts"] and f["fit_documents"] == 40
        assert f["combiner"]["model_weights"]["undecided"] > 0.3
    held = {(r["part"], r["variant"]): r for r in report["held_out"]}
    assert set(held) == {(p, v) for p in "abc" for v in ("clean", "shouted")}
    for r in held.values():
        assert r["documents"] == 20
        # every figure has an interval, and the paired difference has one too
        assert r["rules"]["median"]["missing_false"]["macro_f1"]["ci"] is not None
        assert r["paired"]["summary"]["median"]["missing_false.macro_f1"]["delta"]["ci"] is not None
    clean = [held[(p, "clean")] for p in "abc"]
    assert sum(r["changes"]["added"] for r in clean) > 0
    assert all(r["changes"]["added"] == r["changes"]["added_right"] for r in clean)  # an oracle adds only truths
    assert report["gate"]["passed"] and report["gate"]["mean_delta_macro_f1_clean"] > 0
    final = Combiner.model_validate(report["final_combiner"])
    assert final.fitting["parts"] == ["a", "b", "c"] and final.fitting["command"] == "test"
    assert (tmp_path / "out" / "populations.md").read_text().count("| a |") >= 2


def test_a_noise_model_gets_no_real_vote(tmp_path):
    rows = _documents(150, seed=2)
    report, made = _run(tmp_path, noise=True, rows=rows)
    for f in report["folds"]:
        assert max(f["combiner"]["model_weights"].values()) < 0.3
    for r in report["held_out"]:
        sens = r["paired"]["summary"]["median"]["missing_false.sensitivity"]["delta"]["value"]
        assert r["gate"]["passed"] == (sens >= -1e-9 and r["gate"]["deltas"]["missing_false.macro_f1"] >= -1e-9)
    # cached: a second run processes nothing again
    before = sum(len(p.seen) for p in made)
    report2, made2 = _run(tmp_path, noise=True, rows=rows)
    assert sum(len(p.seen) for p in made2) == 0 and before > 0
    assert report2["held_out"] == report["held_out"]


def test_cli_judges_hybrid_by_default_and_refuses_a_fixed_combiner(tmp_path, tiny_bundle):
    """The settings' default strategy is the rules, the reference of this command: without --strategy it
    judges hybrid (a real run on the tiny bundle); --combiner would be ignored by the per-fold fit, so it
    is refused; its help shows hybrid as the default and hides --combiner."""
    from click.testing import CliRunner

    from appliance.cli import main

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _documents(9, seed=3)))
    common = ["evaluate", "populations", "--data", str(data), "--task", "symptoms13", "--model", str(tiny_bundle),
              "--threads", "1", "--bootstrap", "0", "--no-progress"]
    r = CliRunner().invoke(main, [*common, "--out", str(tmp_path / "out")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "out" / "populations.json").read_text())
    assert report["configuration"]["settings"]["strategy"] == "hybrid"
    r = CliRunner().invoke(main, [*common, "--combiner", "rules-only", "--out", str(tmp_path / "out2")])
    assert r.exit_code == 2 and "--combiner" in r.output
    helptext = CliRunner().invoke(main, ["evaluate", "populations", "--help"]).output
    assert "[default: hybrid]" in helptext and "--combiner TEXT" not in helptext  # what it does, shown
    assert "[default: rules]" in CliRunner().invoke(main, ["evaluate", "--help"]).output  # evaluate's own
