"""evaluate / compare / calibrate end to end, with a stand-in pipeline (fast, no model, no rules).

The stand-in produces real ``Result`` objects through the same ``Pipeline`` protocol
(load → describe → process → close), so the runner, cache, reports and CLI are exercised exactly as with
the real pipeline; tests against the real pipeline are in ``test_evaluate_pipeline.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import appliance.evaluate.runner as runner_mod
from appliance.cli import main as cli_main
from appliance.document import Document
from appliance.errors import InputError
from appliance.evaluate import (
    apply_thresholds,
    calibrate_run,
    compare_runs,
    evaluate,
    fit_thresholds,
    load_labelled,
    load_run,
    split_of,
)
from appliance.evaluate.calibrate import choose_threshold
from appliance.result import FeatureResult, Provenance, Result, Timings
from appliance.settings import PipelineSettings
from appliance.tasks import load_task

TASK = "symptoms13"
KEYS = load_task(TASK).keys


def _u(*parts: str) -> float:
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:12], 16) / float(16**12)


class FakePipeline:
    """Deterministic stand-in: P(true) leans towards the label (read from a side table), some missing."""

    calls: list[str] = []  # noqa: RUF012  (shared on purpose: counts calls across instances)

    def __init__(self, settings: PipelineSettings, truth: dict[str, dict[str, bool]], version: str = "1",
                 refuse: frozenset[str] = frozenset()) -> None:
        self.settings, self.truth, self.version, self.refuse = settings, truth, version, refuse
        self.closed = False

    def describe(self) -> dict:
        return {"fake": self.version, "strategy": self.settings.strategy, "task": self.settings.task}

    def process(self, doc: Document) -> Result:
        if doc.id in self.refuse:
            raise InputError("too_large", "refused")
        FakePipeline.calls.append(f"{self.settings.strategy}:{doc.id}")
        rules = self.settings.strategy == "rules"
        feats = {}
        for k in KEYS:
            lab = self.truth[doc.id].get(k, False)
            if not rules and _u(doc.id, k, "miss", self.version) < 0.1:
                feats[k] = FeatureResult(status="missing", reason="unparseable")
                continue
            noise = _u(doc.id, k, self.settings.strategy, self.version)
            score = float(np.clip((0.45 if rules else 0.35) * lab + 0.55 * noise + 0.1, 0, 1))
            feats[k] = FeatureResult(value=score >= 0.5, status="extracted", score=round(score, 4),
                                     confidence=max(score, 1 - score), threshold=0.5)
        return Result(
            input_id=doc.id, input_sha256=doc.content_hash, language=doc.language or "en", features=feats,
            provenance=Provenance(app_version="t", task=TASK, task_version="1", prompt_hash="p",
                                  strategy=self.settings.strategy, models=[]),
            timings=Timings(total_s=0.01 if rules else 0.5),
        )

    def close(self) -> None:
        self.closed = True


def _write_data(path: Path, n: int = 60, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    prevalence = np.linspace(0.05, 0.7, len(KEYS))
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            labels = {k: bool(rng.random() < p) for k, p in zip(KEYS, prevalence)}
            rec = {"id": f"doc-{i:03d}", "language": "en", "text": f"[doctor] visit number {i}.", "labels": labels,
                   "label_status": {"pain": "present"}, "reference_note": "ignored"}
            f.write(json.dumps(rec) + "\n")
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return _write_data(tmp_path / "set.jsonl")


def _factory(data_path: Path, version: str = "1", refuse: frozenset[str] = frozenset()):
    truth = {d.id: {k: bool(v) for k, v in d.labels.items()} for d in load_labelled(data_path)}
    return lambda settings: FakePipeline(settings, truth, version, refuse)


def _settings(**kw) -> PipelineSettings:
    return PipelineSettings(task=TASK, **{"strategy": "hybrid", **kw})


def _metrics(report: dict) -> str:
    return json.dumps(report, sort_keys=True)


def test_evaluate_writes_all_outputs(tmp_path, data):
    out = tmp_path / "run"
    o = evaluate(data, _settings(), out, split="all", replicates=50, progress=False,
                 pipeline_factory=_factory(data))
    r = o.report
    assert set(r["runs"]) == {"run", "baseline"}
    assert r["runs"]["baseline"]["settings"]["strategy"] == "rules"
    assert r["documents"]["evaluated"] == 60
    assert r["documents"]["dev"] == sum(split_of(f"doc-{i:03d}") == "dev" for i in range(60))
    for name in ("report.json", "report.md", "predictions.jsonl", "baseline.jsonl", "documents.jsonl"):
        assert (out / name).is_file(), name
    if "report.png" in o.files:
        assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "report.json").read_text()) == r
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 60
    assert all("text" not in json.loads(line) for line in lines)
    assert "visit number" not in (out / "predictions.jsonl").read_text()
    md = (out / "report.md").read_text()
    assert "Qwen2.5-7B-Instruct" in md and "rule baseline" in md and "missing scored False" in md
    run = r["runs"]["run"]
    med = run["summary"]["median"]
    assert set(med) == {"extracted", "missing_false", "missing_rate", "auc"}
    assert med["missing_rate"]["value"] > 0
    assert med["extracted"]["mcc"]["ci"] is not None
    assert run["timing"]["median_s"] == 0.5


def test_resume_after_interruption_gives_the_same_report(tmp_path, data):
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    kw = {"split": "test", "replicates": 100, "progress": False, "plot": False}
    full = evaluate(data, _settings(), fresh, pipeline_factory=_factory(data), **kw)
    FakePipeline.calls.clear()
    part = evaluate(data, _settings(), resumed, limit=5, pipeline_factory=_factory(data), **kw)
    assert part.report["documents"]["evaluated"] == 5
    assert len(FakePipeline.calls) == 10  # 5 for the run, 5 for the baseline
    FakePipeline.calls.clear()
    done = evaluate(data, _settings(), resumed, pipeline_factory=_factory(data), **kw)
    n_test = full.report["documents"]["evaluated"]
    assert done.cached == {"run": 5, "baseline": 5}
    assert done.processed == {"run": n_test - 5, "baseline": n_test - 5}
    assert len(FakePipeline.calls) == 2 * (n_test - 5)  # nothing processed twice
    assert _metrics(done.report) == _metrics(full.report)
    assert (resumed / "report.md").read_text() == (fresh / "report.md").read_text().replace(str(fresh), str(resumed))
    # A third run processes nothing.
    FakePipeline.calls.clear()
    again = evaluate(data, _settings(), resumed, pipeline_factory=_factory(data), **kw)
    assert FakePipeline.calls == [] and _metrics(again.report) == _metrics(full.report)


def test_torn_last_line_is_skipped_and_redone(tmp_path, data):
    out = tmp_path / "run"
    kw = {"split": "all", "replicates": 0, "progress": False, "plot": False, "baseline": False}
    evaluate(data, _settings(), out, limit=4, pipeline_factory=_factory(data), **kw)
    with open(out / "predictions.jsonl", "a") as f:
        f.write('{"id": "doc-004", "text_sha256": "tor')  # killed mid-write
    FakePipeline.calls.clear()
    o = evaluate(data, _settings(), out, limit=6, pipeline_factory=_factory(data), **kw)
    assert o.cached["run"] == 4 and o.processed["run"] == 2
    ids = [json.loads(line)["id"] for line in (out / "predictions.jsonl").read_text().splitlines()
           if line.startswith("{\"") and line.endswith("}")]
    assert ids[-2:] == [d.id for d in load_labelled(data)[4:6]]


def test_changed_pipeline_or_text_does_not_reuse_stale_predictions(tmp_path, data):
    out = tmp_path / "run"
    kw = {"split": "all", "replicates": 0, "progress": False, "plot": False, "baseline": False, "limit": 8}
    evaluate(data, _settings(), out, pipeline_factory=_factory(data, "1"), **kw)
    o = evaluate(data, _settings(), out, pipeline_factory=_factory(data, "2"), **kw)
    assert o.cached["run"] == 0 and o.processed["run"] == 8
    # Same pipeline, one text changed: only that document is redone.
    lines = data.read_text().splitlines()
    rec = json.loads(lines[0])
    rec["text"] += " (edited)"
    lines[0] = json.dumps(rec)
    data.write_text("\n".join(lines) + "\n")
    o = evaluate(data, _settings(), out, pipeline_factory=_factory(data, "2"), **kw)
    assert o.cached["run"] == 7 and o.processed["run"] == 1


def test_refused_documents_are_missing_not_negative(tmp_path, data):
    refused = frozenset({"doc-000", "doc-001"})
    o = evaluate(data, _settings(), tmp_path / "r", split="all", replicates=0, progress=False, plot=False,
                 baseline=False, pipeline_factory=_factory(data, refuse=refused))
    run = o.report["runs"]["run"]
    assert run["errors"] == 2
    for fe in run["features"].values():
        assert fe["missing"]["count"] >= 2
        assert fe["extracted"]["n"] == fe["n"] - fe["missing"]["count"]
        assert fe["missing_false"]["n"] == fe["n"]
    rec = [json.loads(x) for x in (tmp_path / "r" / "predictions.jsonl").read_text().splitlines()]
    bad = [r for r in rec if r["id"] in refused]
    assert all(r["error"] == {"type": "InputError", "reason": "too_large"} for r in bad)
    assert all(f["status"] == "missing" and f["reason"] == "error:too_large" for r in bad for f in r["features"].values())


def test_rules_run_has_no_separate_baseline_and_no_baseline_flag(tmp_path, data):
    o = evaluate(data, _settings(strategy="rules"), tmp_path / "a", replicates=0, progress=False, plot=False,
                 pipeline_factory=_factory(data))
    assert list(o.report["runs"]) == ["run"]
    o = evaluate(data, _settings(), tmp_path / "b", replicates=0, progress=False, plot=False, baseline=False,
                 pipeline_factory=_factory(data))
    assert list(o.report["runs"]) == ["run"]


def test_wrong_task_is_a_clear_error(tmp_path, data):
    from appliance.tasks import save_task

    task = load_task("palliative13")
    other = task.model_copy(update={"features": [f for f in task.features if f.key not in KEYS], "examples": []})
    save_task(other, tmp_path / "other.json")
    with pytest.raises(InputError, match="share no boolean feature"):
        evaluate(data, PipelineSettings(task=str(tmp_path / "other.json")), tmp_path / "x", progress=False,
                 pipeline_factory=_factory(data))


def test_labelled_file_problems_name_the_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"id": "a", "text": "t", "labels": {}}\n{"id": "a", "text": "u", "labels": {}}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: id 'a' already on line 1"):
        load_labelled(p)
    p.write_text('{"id": "a", "labels": {}}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:1: text"):
        load_labelled(p)


def test_compare_runs_paired(tmp_path, data):
    kw = {"split": "all", "replicates": 100, "progress": False, "plot": False}
    evaluate(data, _settings(), tmp_path / "a", pipeline_factory=_factory(data, "1"), **kw)
    evaluate(data, _settings(), tmp_path / "b", pipeline_factory=_factory(data, "2"), limit=40, **kw)
    c = compare_runs(load_run(tmp_path / "a"), load_run(tmp_path / "b"), replicates=100)
    assert c["documents"] == 40 and c["only_a"] == 20 and c["only_b"] == 0
    d = c["summary"]["median"]["extracted.mcc"]
    assert d["delta"]["value"] == pytest.approx(d["b"] - d["a"], abs=1e-5)
    lo, hi = d["delta"]["ci"]
    assert lo <= d["delta"]["value"] <= hi
    # A run against itself: every delta is exactly 0 with a zero-width interval.
    same = compare_runs(load_run(tmp_path / "a"), load_run(tmp_path / "a"), replicates=50)
    for figs in same["features"].values():
        for d in figs.values():
            assert d["delta"]["value"] in (0.0, None)
    # The baseline recorded in a run folder.
    vs_rules = compare_runs(load_run(tmp_path / "a"), load_run(f"{tmp_path / 'a'}:baseline"), replicates=0)
    assert vs_rules["b"]["label"] == "rule baseline"


def test_calibration_never_sees_the_test_split(tmp_path, data):
    out = tmp_path / "run"
    evaluate(data, _settings(), out, split="all", replicates=0, progress=False, plot=False, baseline=False,
             pipeline_factory=_factory(data))
    run = load_run(out)
    task = load_task(TASK)
    first = calibrate_run(run, objective="mcc", replicates=0)
    # Scramble everything the test split holds: labels, scores, values. Thresholds must not move.
    a = run.arrays
    test = np.array([s == "test" for s in a.splits])
    rng = np.random.default_rng(0)
    a.y[test] = rng.random(a.y[test].shape) < 0.5
    a.score[test] = rng.random(a.score[test].shape)
    a.value[test] = ~a.value[test]
    second = calibrate_run(run, objective="mcc", replicates=0)
    assert {k: c.threshold for k, c in first.choices.items()} == {k: c.threshold for k, c in second.choices.items()}
    assert second.report["dev_documents"] == int((~test).sum())
    assert second.report["test"]["documents"] == int(test.sum())
    # And the fitting function refuses anything but dev documents outright.
    with pytest.raises(ValueError, match="development split"):
        fit_thresholds(a, task, objective="mcc")


def test_calibration_objectives(tmp_path, data):
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    s = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.2, 0.2, 0.1, 0.05, 0.0])
    t, _, figs = choose_threshold(y, s, objective="mcc", current=0.5)
    pred = s >= t
    assert figs["mcc"] == pytest.approx(max(
        _mcc(y, s >= c) for c in np.r_[np.unique(s), (np.unique(s)[1:] + np.unique(s)[:-1]) / 2]), abs=1e-6)
    assert pred.tolist() == (s >= t).tolist()
    t90, _, f90 = choose_threshold(y, s, objective="sensitivity", target_sensitivity=0.9)
    assert f90["sensitivity"] >= 0.9 and 0.2 < t90 <= 0.3  # must catch the 0.3 positive, as specific as possible
    t50, _, f50 = choose_threshold(y, s, objective="sensitivity", target_sensitivity=0.5)
    assert f50["sensitivity"] >= 0.5 and t50 > 0.7
    # No positives on dev: keep the current threshold.
    t, note, _ = choose_threshold(np.zeros(4, bool), np.linspace(0, 1, 4), objective="mcc", current=0.42)
    assert t == 0.42 and "positives" in note


def _mcc(y, p):
    from appliance.evaluate.metrics import confusion, mcc

    return mcc(confusion(y, p))


def test_calibrate_writes_a_valid_task_file(tmp_path, data):
    out = tmp_path / "run"
    evaluate(data, _settings(), out, split="all", replicates=0, progress=False, plot=False, baseline=False,
             pipeline_factory=_factory(data))
    task_file = tmp_path / "tuned.json"
    res = calibrate_run(load_run(out), objective="sensitivity", target_sensitivity=0.8, out=task_file, replicates=20)
    tuned = load_task(task_file)
    assert tuned.name == TASK and tuned.version.endswith("calibrated-sensitivity")
    assert {f.key: f.threshold for f in tuned.features} == {k: c.threshold for k, c in res.choices.items()}
    test = res.report["test"]
    assert test and test["before"]["documents"] == test["after"]["documents"]
    # Applying the fitted thresholds really re-decides values from score.
    a = load_run(out).arrays
    b = apply_thresholds(a, {KEYS[0]: 0.0})
    m = a.extracted[:, 0] & np.isfinite(a.score[:, 0])
    assert b.value[m, 0].all() and not b.value[~a.extracted[:, 0], 0].any()


def test_cli_evaluate_compare_calibrate(tmp_path, data, monkeypatch):
    monkeypatch.setattr(runner_mod, "default_pipeline_factory", _factory(data))
    cli = CliRunner()
    out = tmp_path / "cli"
    r = cli.invoke(cli_main, ["evaluate", "--data", str(data), "--task", TASK, "--out", str(out), "--split", "all",
                              "--strategy", "hybrid", "--bootstrap", "50", "--no-progress", "--no-plot"])
    assert r.exit_code == 0, r.output
    assert "rule baseline" in r.output and "missing scored False" in r.output
    assert "visit number" not in r.output
    r = cli.invoke(cli_main, ["evaluate", "compare", str(out), f"{out}:baseline", "--bootstrap", "20",
                              "--out", str(tmp_path / "cmp")])
    assert r.exit_code == 0, r.output
    assert "B − A" in r.output and (tmp_path / "cmp" / "compare.json").is_file()
    # Narrow the report to the test split (all cached): calibration still finds the dev predictions.
    r = cli.invoke(cli_main, ["evaluate", "--data", str(data), "--task", TASK, "--out", str(out), "--split", "test",
                              "--strategy", "hybrid", "--bootstrap", "20", "--no-progress", "--no-plot"])
    assert r.exit_code == 0 and "0 processed" in r.output, r.output
    r = cli.invoke(cli_main, ["evaluate", "calibrate", str(out), "--objective", "mcc", "--out",
                              str(tmp_path / "t.json"), "--bootstrap", "20"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "t.json").is_file() and (tmp_path / "t.calibration.json").is_file()
    cal = json.loads((tmp_path / "t.calibration.json").read_text())
    n_dev = sum(split_of(d.id) == "dev" for d in load_labelled(data))
    assert cal["dev_documents"] == n_dev and cal["test"]["documents"] == 60 - n_dev
    r = cli.invoke(cli_main, ["evaluate", "--task", TASK])
    assert r.exit_code != 0 and "--data" in r.output
    r = cli.invoke(cli_main, ["evaluate", "compare", str(tmp_path / "nowhere"), str(out)])
    assert r.exit_code != 0 and "report.json" in r.output and "Traceback" not in r.output


def test_without_matplotlib_the_png_is_skipped_with_a_clear_note(tmp_path, data, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    o = evaluate(data, _settings(), tmp_path / "r", replicates=0, progress=False, baseline=False,
                 pipeline_factory=_factory(data))
    assert "report.png" not in o.files and not (tmp_path / "r" / "report.png").exists()
    assert any("matplotlib" in n and "clinical-appliance[evaluate]" in n for n in o.notes)
    assert (tmp_path / "r" / "report.md").is_file()
