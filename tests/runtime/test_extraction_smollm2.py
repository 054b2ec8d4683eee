"""The real default model (SmolLM2-135M-Instruct) on the project's own sample transcripts.

Its answers are not accurate (135M parameters); the point is that real English and Persian
transcripts produce complete, valid, fully provenanced results on the embedded default bundle.
"""

from importlib import resources

import pytest

from appliance.inputs import parse_input
from appliance.pipeline import Pipeline
from appliance.settings import PipelineSettings

pytestmark = pytest.mark.slow


def _samples():
    folder = resources.files("appliance").joinpath("samples")
    return [parse_input(p.read_bytes(), p.name) for p in sorted(folder.iterdir(), key=lambda p: p.name)
            if p.name.endswith((".txt", ".json"))]


@pytest.mark.parametrize("strategy", ["json", "evidence"])
def test_samples_give_complete_results(default_bundle, strategy):
    pipe = Pipeline.load(PipelineSettings(task="palliative13", extractor=str(default_bundle), strategy=strategy))
    docs = _samples()
    assert {d.language or "?" for d in docs} >= {"en"} and any("fa" in d.id for d in docs)
    for doc in docs:
        r = pipe.process(doc)
        assert r.complete, {k: f.reason for k, f in r.features.items() if f.status != "extracted"}
        assert r.language in ("en", "fa")
        for fr in r.features.values():
            assert isinstance(fr.value, bool) and 0 <= fr.confidence <= 1
        names = {m.role for m in r.provenance.models}
        assert "extractor" in names
    pipe.close()
