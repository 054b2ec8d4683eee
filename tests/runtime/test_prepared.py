"""The prepared text (appliance.prepared): built once per document, offsets back to the user's text,
one hash per named meaning."""

from __future__ import annotations

import hashlib

import pytest

from appliance.document import Document, text_hash
from appliance.normalize import normalize
from appliance.prepared import PreparedText, prepare_text, wrap_normalized

# Arabic yeh/kaf, Arabic-Indic digits, a CR LF and an RLM mark: every one is changed by normalising.
FA = "اپراتور: بيمار تب دارد؟\r\nهمراه بيمار: بله، از ديروز تب ٣٨ درجه دارد و سرفه ميكند.\u200f"
EN = "Nurse: How are you?\r\nPatient: I’ve been throwing up since Monday."


def test_prepare_normalises_exactly_as_the_pipeline_did():
    for text, lang in ((FA, "fa"), (EN, "en")):
        p = prepare_text(text, lang)
        assert p.original == text and p.normalized == normalize(text, lang)
        assert p.language == lang and not p.language_detected and p.source == "original"
        assert len(p.offsets) == len(p.normalized) + 1 and p.offsets[-1] == len(text)


def test_language_is_detected_only_when_not_given():
    p = prepare_text("سلام، پدرم از دیشب تب دارد و خیلی ضعیف شده است.")
    assert p.language == "fa" and p.language_detected
    assert prepare_text("12 34", candidates=("en", "fa")).language is None  # no letters: no signal
    assert prepare_text("12 34", candidates=("en", "fa")).extract_language == "en"
    assert prepare_text("hello", "", candidates=("fa",)).language == "fa"  # '' means: detect


def test_offsets_map_normalised_spans_to_verbatim_original_spans():
    p = prepare_text(FA, "fa")
    for word, raw in (("بیمار", "بيمار"), ("38", "٣٨"), ("میکند", "ميكند")):
        i = p.normalized.index(word)
        a, b = p.to_original(i, i + len(word))
        assert FA[a:b] == raw == p.original_quote(i, i + len(word))
    # the CR LF became one LF: the span of the LF covers both characters
    i = p.normalized.index("\n")
    assert p.original_quote(i, i + 1) == "\r\n"
    with pytest.raises(IndexError):
        p.to_original(0, len(p.normalized) + 1)


def test_named_hashes():
    p = prepare_text(FA, "fa")
    doc = Document(id="x", text=FA, language="fa")
    assert p.text_sha256 == text_hash(FA) == doc.content_hash  # what Result.input_sha256 means
    assert p.normalized_sha256 == hashlib.sha256(p.normalized.encode("utf-8")).hexdigest()
    assert p.text_sha256 != p.normalized_sha256


def test_wrapped_text_has_identity_offsets():
    t = wrap_normalized("Patient: I have a fever.", "en", source="translation")
    assert t.original == t.normalized and list(t.offsets) == list(range(len(t.original) + 1))
    assert t.source == "translation" and t.language == "en" and not t.language_detected
    w = prepare_text(FA, "fa").window("همراه بیمار: بله")
    assert isinstance(w, PreparedText) and w.original == "همراه بیمار: بله" and w.language == "fa"
    assert w.to_original(3, 7) == (3, 7)
    with pytest.raises(ValueError):
        PreparedText(original="ab", normalized="ab", offsets=[0, 1], language="en")
