"""Evidence quotes are verbatim spans of the text the user dropped, with their offsets.

A Persian call typed with Arabic yeh/kaf (ي ك) and Arabic-Indic digits is normalised before the rules
and the model read it (ی ک, ASCII digits); the quotes must still be in the user's own letters, so that a
clinician's search of the original finds them, and ``found_in_text`` must say so truthfully.
"""

from __future__ import annotations

import pytest

from appliance.document import Document
from appliance.pipeline import Pipeline
from appliance.result import Evidence, FeatureResult
from appliance.settings import PipelineSettings

FA = Document(
    id="fa-arabic-letters",
    language="fa",
    text=("اپراتور: سلام. بيمار تب دارد؟\r\n"
          "همراه بيمار: بله، از ديروز تب ٣٨ درجه دارد و سرفه ميكند.\r\n"
          "اپراتور: درد چطور؟\r\n"
          "همراه بيمار: بله، دردش خيلي زياده."),
)
EN = Document(
    id="en-typographic",
    language="en",
    text="Nurse: How are you?\r\nPatient: I’ve been throwing up since Monday, and my back hurts.",
)


def _quotes(result) -> list[Evidence]:
    return [e for fr in result.features.values() for e in fr.evidence]


def _check_verbatim(doc: Document, result) -> list[Evidence]:
    quotes = _quotes(result)
    assert quotes
    for e in quotes:
        assert e.source == "original" and e.start is not None and e.end is not None
        assert doc.text[e.start : e.end] == e.quote  # offsets right
        assert e.quote in doc.text  # a plain search of the original finds it
        assert e.found_in_text
        assert e.quote == e.quote.strip() and len(e.quote) <= 300
    return quotes


@pytest.fixture(scope="module")
def rules_pipe() -> Pipeline:
    return Pipeline.load(PipelineSettings(task="symptoms13", strategy="rules", languages=["en", "fa"]))


def test_persian_quotes_keep_the_users_letters_and_digits(rules_pipe):
    r = rules_pipe.process(FA)
    assert r.features["fever"].value and r.features["cough"].value
    quotes = _check_verbatim(FA, r)
    fever = " ".join(e.quote for e in r.features["fever"].evidence)
    assert "ي" in fever  # Arabic yeh as typed, not the normalised Persian ی
    assert any("٣٨" in e.quote and "ميكند" in e.quote for e in r.features["cough"].evidence)
    assert not any("ی" in e.quote or "ک" in e.quote for e in quotes)  # nothing normalised leaks in


def test_english_quotes_keep_the_typographic_apostrophe(rules_pipe):
    r = rules_pipe.process(EN)
    _check_verbatim(EN, r)
    (q,) = r.features["nausea_vomiting"].evidence
    assert "I’ve been throwing up" in q.quote and "'" not in q.quote


@pytest.mark.parametrize("strategy", ["hybrid", "evidence"])
def test_model_strategies_quote_the_original_too(tiny_bundle, strategy):
    pipe = Pipeline.load(PipelineSettings(task="symptoms13", strategy=strategy, extractor=str(tiny_bundle),
                                          threads=1, languages=["en", "fa"]))
    for doc in (FA, EN):
        _check_verbatim(doc, pipe.process(doc))


def test_offsets_decide_found_in_text():
    """A quote with offsets is found only where the original has exactly it; one without (a model's
    quote) is searched, whitespace- and case-insensitively, in the text the model read."""
    from appliance.pipeline import _check_evidence
    from appliance.prepared import prepare_text

    prepared = prepare_text(FA.text, "fa")
    i = FA.text.index("بيمار تب")
    j = prepared.normalized.index("بیمار تب")
    features = {"x": FeatureResult(status="extracted", value=True, evidence=[
        Evidence(quote="بيمار تب", found_in_text=False, start=i, end=i + 8),   # verbatim: found
        Evidence(quote="بیمار تب", found_in_text=False, start=i, end=i + 8),   # normalised letters: not
        Evidence(quote="بيمار تب", found_in_text=False, start=i + 1, end=i + 9),  # wrong offsets: not
        Evidence(quote="بیمار  تب", found_in_text=False),  # a model's quote, of what it read: found
        Evidence(quote="بيمار تب", found_in_text=False),  # a model's quote in letters it never read: not
    ])}
    _check_evidence(features, prepared)
    assert [e.found_in_text for e in features["x"].evidence] == [True, False, False, True, False]
    assert j >= 0 and all(e.source == "original" for e in features["x"].evidence)
