"""Labelled documents whose text is a file in an input format (speech-recognition rewrites) are read by
the same parser the daemon uses for such a file."""

from __future__ import annotations

import json

import pytest

from appliance.errors import InputError
from appliance.evaluate.data import LabelledDocument


def test_plain_text_document_is_the_text_itself() -> None:
    d = LabelledDocument(id="a/b", text="Patient: I have a fever.", language="en", labels={"fever": True})
    doc = d.document()
    assert doc.id == "a/b" and doc.text == "Patient: I have a fever." and doc.language == "en"


def test_input_format_goes_through_the_registered_parser() -> None:
    body = json.dumps({"id": "other-id", "text": "Patient: no fever.", "language": "en", "metadata": {"k": 1}})
    d = LabelledDocument(id="doc-1", text=body, labels={"fever": False}, input_format=".json")
    doc = d.document()
    # the appliance's own .json shape: its text and metadata are read, the labelled id is kept
    assert doc.id == "doc-1" and doc.text == "Patient: no fever." and doc.metadata == {"k": 1}
    assert doc.language == "en"


def test_a_given_language_wins_over_the_files() -> None:
    body = json.dumps({"id": "x", "text": "Patient: no fever.", "language": "en"})
    d = LabelledDocument(id="doc-2", text=body, language="fa", labels={}, input_format=".json")
    assert d.document().language == "fa"


def test_an_invalid_file_is_refused_with_the_parsers_reason() -> None:
    d = LabelledDocument(id="doc-3", text="{not json", labels={}, input_format=".json")
    with pytest.raises(InputError) as e:
        d.document()
    assert e.value.reason == "invalid_json"


def test_input_format_must_be_a_suffix() -> None:
    with pytest.raises(ValueError):
        LabelledDocument(id="d", text="x", labels={}, input_format="vtt")
