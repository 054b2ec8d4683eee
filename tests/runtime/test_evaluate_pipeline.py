"""evaluate through the real ``Pipeline`` (the daemon's code path): tiny random model and the rules.

Resume after an interruption (a ``--limit`` run, then the full run in the same folder) must give the
same report as one uninterrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli import main as cli_main
from appliance.tasks import load_task

TASK = "symptoms13"
TEXTS = [
    "[doctor] how are you feeling? [patient] my back hurts a lot and i am tired all the time.",
    "[doctor] any fever? [patient] no fever, no cough. i sleep fine.",
    "[patient] i have been coughing for a week and i feel short of breath on the stairs.",
    "[patient] i threw up twice yesterday and still feel nauseous. [doctor] any diarrhea? [patient] no.",
    "[doctor] how is your mood? [patient] i feel anxious and low, and i can't sleep at night.",
    "[patient] my knee pain is better. [doctor] good. any bleeding? [patient] none.",
    "[patient] i have a fever and chills since tuesday.",
    "[doctor] appetite? [patient] i don't feel like eating anything. constipated too.",
    "[patient] everything is fine, just here for a refill.",
    "[patient] headache every morning, and my stomach hurts after meals.",
    "[doctor] any shortness of breath? [patient] no. [doctor] chest pain? [patient] no.",
    "[patient] i feel exhausted and my joints ache.",
]


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    keys = load_task(TASK).keys
    path = tmp_path / "labelled.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(TEXTS):
            labels = {k: (i + j) % 3 == 0 for j, k in enumerate(keys)}
            f.write(json.dumps({"id": f"t{i:02d}", "language": "en", "text": text, "labels": labels}) + "\n")
    return path


def _report(out: Path) -> dict:
    """report.json without the measured times (a fresh run times itself; a resumed one reuses the cache)."""
    r = json.loads((out / "report.json").read_text())
    for run in r["runs"].values():
        run.pop("timing")
    return r


def _run(args: list[str]) -> str:
    r = CliRunner().invoke(cli_main, ["evaluate", *args, "--no-progress", "--no-plot", "--bootstrap", "50"])
    assert r.exit_code == 0, r.output
    return r.output


def _resume_equals_fresh(labelled: Path, tmp_path: Path, extra: list[str]) -> dict:
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    common = ["--data", str(labelled), "--task", TASK, "--split", "all", *extra]
    _run([*common, "--out", str(fresh)])
    _run([*common, "--out", str(resumed), "--limit", "4"])
    out = _run([*common, "--out", str(resumed)])
    assert "4 cached" in out
    a, b = _report(fresh), _report(resumed)
    assert a == b
    return a


def test_rules_strategy_through_the_pipeline_resumes(labelled, tmp_path):
    pytest.importorskip("appliance.rules", reason="rule baseline not available")
    from appliance import rules

    if not hasattr(rules, "RuleExtractor"):
        pytest.skip("appliance.rules.RuleExtractor not written yet")
    r = _resume_equals_fresh(labelled, tmp_path, ["--strategy", "rules"])
    assert list(r["runs"]) == ["run"]
    run = r["runs"]["run"]
    assert run["pipeline"]["strategy"] == "rules"
    assert run["documents"] == len(TEXTS) and run["errors"] == 0


def test_tiny_model_through_the_pipeline_resumes(labelled, tmp_path, request):
    try:
        bundle = request.getfixturevalue("tiny_bundle")
    except pytest.FixtureLookupError:
        pytest.skip("tiny_bundle fixture not available")
    r = _resume_equals_fresh(labelled, tmp_path, ["--model", str(bundle), "--strategy", "json", "--no-baseline"])
    run = r["runs"]["run"]
    assert run["pipeline"]["strategy"] == "json"
    assert any(m["role"] == "extractor" for m in run["pipeline"]["models"])
    assert run["documents"] == len(TEXTS)
    # Every feature of every document is accounted for: extracted or missing, never dropped.
    for fe in run["features"].values():
        assert fe["extracted"]["n"] + fe["missing"]["count"] == fe["n"] == len(TEXTS)
