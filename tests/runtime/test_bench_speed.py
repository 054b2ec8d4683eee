"""The speed benchmark's harness runs end to end (bench/speed.py, appliance engine, one document).

No timing is asserted: speed figures come from ``bench/run.sh`` on a quiet machine (docs/performance.md).
Needs the real SmolLM2 bundle already installed (it is not exported here); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.evaluate.split import split_of
from tests.support.paths import REPO

BUNDLE = "smollm2-135m-instruct"


def _models_dir() -> Path | None:
    for d in (os.environ.get("APPLIANCE_MODELS_DIR"), str(REPO / ".cache" / "models")):
        if d and (Path(d) / BUNDLE / "manifest.json").is_file():
            return Path(d)
    return None


@pytest.mark.skipif(_models_dir() is None, reason="default SmolLM2 bundle not installed")
def test_speed_benchmark_smoke(tmp_path):
    doc_id = next(f"bench-{i}" for i in range(100) if split_of(f"bench-{i}") == "test")
    text = (REPO / "appliance" / "samples" / "call-en-001.txt").read_text(encoding="utf-8")
    data = tmp_path / "docs.jsonl"
    data.write_text(json.dumps({"id": doc_id, "text": text, "language": "en", "labels": {}}) + "\n")
    out = tmp_path / "out"
    env = {**os.environ, "ORT_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(
        [sys.executable, str(REPO / "bench" / "speed.py"), "--limit", "1", "--engines", "appliance-json",
         "--data", str(data), "--models-dir", str(_models_dir()), "--out", str(out), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads((out / "speed.json").read_text())
    assert result["document_ids"] == [doc_id]
    (row,) = result["engines"]
    assert row["engine"] == "appliance-json" and row["documents"] == 1 and row["valid_documents"] == 1
    assert row["prefill_tokens_per_document"] > 0 and row["answer_tokens_per_document"] > 0
    assert row["peak_rss_bytes"] > 0 and row["time_to_first_result_s"] > 0
    assert "| appliance, json" in (out / "speed.md").read_text()
