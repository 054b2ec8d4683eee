"""Long calls (issue #13, item 5): under `evidence` and `hybrid` only rule-selected excerpts reach the
model, so the document's own token count must not mark every feature missing; `json` still reads the
whole document and keeps its limit. Windowing stays linear in the document's length.

The field case `long-call-fa.txt` (~19,000 characters of a Persian call, ~19,600 SmolLM2 tokens, more than
the default `max_document_tokens`) must give fever and pain under palliative13, with the rules and with
the default strategy on the real SmolLM2 bundle (slow).
"""

from __future__ import annotations

import json

import pytest

from appliance.document import Document
from appliance.pipeline import Pipeline
from appliance.settings import PipelineSettings
from appliance.windows import split_windows
from tests.support.paths import DATA

FIELD = DATA / "field-cases"
MINI = str(DATA / "mini_task.json")


def _long_call() -> tuple[Document, dict]:
    expected = json.loads((FIELD / "expected.json").read_text(encoding="utf-8"))["long-call-fa.txt"]
    text = (FIELD / "long-call-fa.txt").read_text(encoding="utf-8")
    assert len(text) > 18_000
    return Document(id="long-call-fa", text=text), expected


def _check(result, expected) -> None:
    for key in expected["true"]:
        assert result.features[key].status == "extracted" and result.features[key].value is True, key
    for key in expected["false"]:
        assert result.features[key].value is False, key
    assert not any(f.reason == "document_too_long" for f in result.features.values())


def test_long_call_rules():
    doc, expected = _long_call()
    pipe = Pipeline.load(PipelineSettings(task=expected["task"], strategy="rules"))
    _check(pipe.process(doc), expected)


@pytest.mark.parametrize("strategy", ["evidence", "hybrid"])
def test_document_token_limit_applies_to_json_only(tiny_bundle, strategy):
    text = "\n".join(f"Patient: line {i}, my back hurts and I have a fever." for i in range(60))
    doc = Document(id="long", text=text, language="en")
    settings = {"task": MINI, "extractor": str(tiny_bundle), "max_document_tokens": 50, "threads": 1}
    r = Pipeline.load(PipelineSettings(strategy=strategy, **settings)).process(doc)
    assert r.document_tokens > 50
    assert not any(f.reason == "document_too_long" for f in r.features.values())
    assert any(f.status == "extracted" for f in r.features.values())
    r = Pipeline.load(PipelineSettings(strategy="json", **settings)).process(doc)
    assert all(f.reason == "document_too_long" for f in r.features.values())


def test_one_line_windowing_is_linear():
    """A transcript without line breaks (speech recognition) is cut at spaces counting each word once:
    the characters tokenised stay a small multiple of the text, not the text times the window."""
    counted = [0]

    def count(s: str) -> int:
        counted[0] += len(s)
        return len(s.split())

    ratios = []
    for words in (20_000, 80_000):
        text = " ".join(f"w{i}" for i in range(words))
        counted[0] = 0
        wins = split_windows(text, 500, count, overlap=0)
        ratios.append(counted[0] / len(text))
        assert " ".join(wins).split() == text.split() and all(count(w) <= 500 for w in wins)
    # about 6 passes over the text (the whole, the line, each word, each piece twice, each window)
    assert ratios[0] < 8 and ratios[1] < 1.1 * ratios[0], ratios


@pytest.mark.slow
def test_long_call_default_strategy_on_smollm2(default_bundle):
    doc, expected = _long_call()
    pipe = Pipeline.load(PipelineSettings(task=expected["task"], strategy="hybrid", extractor=str(default_bundle)))
    result = pipe.process(doc)
    assert result.document_tokens > pipe.settings.max_document_tokens
    _check(result, expected)
