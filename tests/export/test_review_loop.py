"""Closing the loop: reviewed calls → `appliance-export finetune` → `appliance review verdict`, and the
verdict's decision rule itself (appliance/review/verdict.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.evaluate.rundir import LoadedRun
from appliance.evaluate.scoring import RunArrays
from appliance.evaluate.split import split_of
from appliance.review.verdict import VerdictError, VerdictRule, decide
from tests.conftest import requires_export
from tests.support.reviewdata import build_box_output, sample_inputs


def _run(name: str, y: np.ndarray, pred: np.ndarray) -> LoadedRun:
    n, f = y.shape
    ids = [f"doc-{i}" for i in range(n)]
    arrays = RunArrays(ids=ids, splits=[split_of(i) for i in ids], keys=[f"f{j}" for j in range(f)], y=y,
                       labelled=np.ones_like(y), value=pred, extracted=np.ones_like(y),
                       score=np.full(y.shape, np.nan), threshold=np.full(y.shape, np.nan))
    return LoadedRun(dir=Path(name), name="run", report={}, run={"label": name}, arrays=arrays)


def _flip(y: np.ndarray, share: float, rng: np.random.Generator, cols=None) -> np.ndarray:
    out = y.copy()
    cols = range(y.shape[1]) if cols is None else cols
    for j in cols:
        idx = rng.choice(y.shape[0], int(share * y.shape[0]), replace=False)
        out[idx, j] = ~out[idx, j]
    return out


def test_decision_rule():
    from appliance.evaluate import compare_runs

    rng = np.random.default_rng(0)
    y = rng.random((80, 4)) < 0.4
    worse, better = _flip(y, 0.3, rng), _flip(y, 0.05, rng)
    c = compare_runs(_run("running", y, worse), _run("candidate", y, better), replicates=300, seed=1)
    v = decide(c)
    assert v.install and all(r.startswith("met") for r in v.reasons)
    assert v.figures["median"]["delta"]["ci"][0] > 0
    # The same predictions: no gain, so no.
    same = decide(compare_runs(_run("a", y, worse), _run("b", y, worse), replicates=300, seed=1))
    assert not same.install and any("must be above" in r and r.startswith("NOT") for r in same.reasons)
    # Better on the median, but one feature clearly worse: no.
    mixed = better.copy()
    mixed[:, 0] = ~y[:, 0]
    v = decide(compare_runs(_run("a", y, worse), _run("b", y, mixed), replicates=300, seed=1))
    assert not v.install and any("clearly worse on: f0" in r for r in v.reasons)
    # Too few reviewed calls to judge: no, whatever the figures.
    v = decide(c, VerdictRule(min_documents=500))
    assert not v.install and v.reasons[0].startswith("NOT met: 80 reviewed")
    # A gain that must exceed a margin.
    assert not decide(c, VerdictRule(min_gain=0.9)).install


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """52 calls reviewed through the station, every suggestion taken (the rules are right by
    construction): the labelled file, as `appliance review` leaves it."""
    from appliance.review.station import ReviewStation

    root = tmp_path_factory.mktemp("loop")
    box = build_box_output(root / "box", inputs=sample_inputs(copies=4))
    st = ReviewStation.open(box.results, box.archive, box.identity, root / "review", "ann")
    for row in st.queue():
        page = st.item(row.key)
        st.complete(row.key, {f.info.key: f.suggestion or "absent" for f in page.features}, seconds=30)
    data = st.workspace.dataset_path
    ids = [json.loads(line)["id"] for line in data.read_text(encoding="utf-8").splitlines()]
    # 12 .txt calls in 4 versions, the two JSON inputs (the visit, a Whisper transcript), the WebVTT and the
    # SubRip call
    assert len(ids) == len(box.keys) == 52
    assert sum(split_of(i) == "test" for i in ids) >= 8
    return data


def test_verdict_command_says_no_for_the_same_configuration(reviewed, tmp_path):
    res = CliRunner().invoke(main, ["review", "verdict", "--data", str(reviewed), "--task", "palliative13",
                                    "--running", "rules", "--candidate", "rules", "--strategy", "rules",
                                    "--min-documents", "5", "--bootstrap", "200", "--out", str(tmp_path / "v")])
    assert res.exit_code == 3, res.output
    lines = res.output.strip().splitlines()
    assert lines[-1] == "no: keep rules" and any(line.startswith("median") for line in lines)
    record = json.loads((tmp_path / "v" / "verdict.json").read_text())
    assert record["install"] is False and record["figures"]["median"]["delta"]["value"] == 0.0
    # Only test-split calls were used.
    docs = [json.loads(x) for x in (tmp_path / "v" / "running" / "documents.jsonl").read_text().splitlines()]
    assert all(d["split"] == "test" for d in docs if d["evaluated"])


def test_verdict_says_yes_when_the_candidate_is_better(reviewed, tmp_path):
    """The running configuration answers every feature the wrong way round; the candidate is the rules."""
    from appliance.pipeline import Pipeline
    from appliance.review.verdict import judge, render_verdict
    from appliance.settings import PipelineSettings

    class Contrary:
        def __init__(self, settings):
            self.inner = Pipeline.load(settings.model_copy(update={"extractor": "unused"}))

        def describe(self):
            return {**self.inner.describe(), "contrary": True}

        def process(self, doc):
            r = self.inner.process(doc)
            for fr in r.features.values():
                if isinstance(fr.value, bool):
                    fr.value = not fr.value
            return r

        def close(self):
            self.inner.close()

    def factory(settings):
        return Contrary(settings) if settings.extractor == "contrary" else Pipeline.load(settings)

    running = PipelineSettings(task="palliative13", strategy="rules", extractor="contrary")
    candidate = PipelineSettings(task="palliative13", strategy="rules")
    v = judge(reviewed, running, candidate, tmp_path / "v", rule=VerdictRule(min_documents=5), replicates=200,
              pipeline_factory=factory)
    text = render_verdict(v, "contrary", "rules")
    assert v.install, text
    assert text.splitlines()[-1] == "yes: install rules"
    assert json.loads((tmp_path / "v" / "verdict.json").read_text())["install"] is True


@requires_export
def test_three_commands_with_a_fine_tuned_tiny_bundle(reviewed, tiny_checkpoints, tmp_path):
    """review (done: `reviewed`) → finetune on the reviewed calls → verdict against the running rules."""
    from export.cli import main as export_main

    bundle = tmp_path / "models" / "tiny-ft"
    res = CliRunner().invoke(export_main, [
        "finetune", "--data", str(reviewed), "--task", "palliative13", "--base", str(tiny_checkpoints["qwen2"]),
        "--out", str(bundle), "--epochs", "1", "--lora-r", "4", "--batch-size", "8", "--precision", "fp32",
        "--threads", "1", "--max-examples", "64"])
    assert res.exit_code == 0, res.output[-3000:]
    from appliance.bundle import read_manifest

    ft = read_manifest(bundle).finetune
    assert ft.split == "dev" and ft.data_file == reviewed.name
    assert ft.documents == sum(split_of(json.loads(x)["id"]) == "dev" for x in reviewed.read_text().splitlines())

    args = ["review", "verdict", "--data", str(reviewed), "--task", "palliative13", "--running", "rules",
            "--running-strategy", "rules", "--candidate", str(bundle), "--strategy", "evidence", "--threads", "1",
            "--min-documents", "5", "--bootstrap", "200", "--out", str(tmp_path / "v")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code in (0, 3), res.output[-3000:]
    last = res.output.strip().splitlines()[-1]
    record = json.loads((tmp_path / "v" / "verdict.json").read_text())
    assert last.startswith("yes: install" if record["install"] else "no: keep rules")
    assert (res.exit_code == 0) == record["install"]
    assert any("fine-tuned on the dev split of this file" in n for n in record["notes"])

    # A bundle trained on every split cannot be judged on these calls: refused, not answered.
    allsplit = tmp_path / "models" / "tiny-ft-all"
    shutil.copytree(bundle, allsplit)
    manifest = json.loads((allsplit / "manifest.json").read_text())
    manifest["finetune"]["split"] = "all"
    (allsplit / "manifest.json").write_text(json.dumps(manifest))
    at = args.index("--candidate") + 1
    res = CliRunner().invoke(main, [*args[:at], str(allsplit), *args[at + 1:]])
    assert res.exit_code == 1 and "cannot be judged" in res.output
    with pytest.raises(VerdictError):
        from appliance.review.verdict import candidate_notes
        from appliance.settings import PipelineSettings

        candidate_notes(PipelineSettings(task="palliative13", strategy="evidence", extractor=str(allsplit)), reviewed)
