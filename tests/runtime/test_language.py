"""The one table of language codes (appliance/language.py) and what reads it (seq2seq language resolution)."""

from __future__ import annotations

import pytest

from appliance.language import (
    DEFAULT_CANDIDATES,
    LANGUAGE_NAMES,
    LANGUAGES,
    base_code,
    is_persian,
    language_name,
    mt_codes,
)
from appliance.translate.seq2seq import iso_languages, resolve_language


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("fa", "fa"), ("fa-IR", "fa"), ("fa_IR", "fa"), ("fa-ir", "fa"), ("FAS", "fa"), ("per", "fa"),
        ("pes", "fa"), ("prs", "fa"), ("fa-AF", "fa"), (" fa ", "fa"),
        ("en", "en"), ("en-GB", "en"), ("eng", "en"), ("de_DE", "de"), ("ger", "de"), ("nld", "nl"),
        # Outside the table: the IANA registry (langcodes) canonicalises.
        ("iw", "he"), ("cmn", "zh"), ("swa", "sw"),
        # Unknown to both: the lower-case primary subtag.
        ("xx-YY", "xx"), ("", ""),
    ],
)
def test_base_code_canonicalises_tags(tag, code):
    assert base_code(tag) == code


def test_persian_codes():
    # Every code the normaliser and the rules took for Persian before the table was unified, and more.
    for code in ("fa", "fas", "per", "fa-ir", "fa_ir", "prs", "fa-IR", "FA", "pes"):
        assert is_persian(code), code
    for code in ("en", "ar", "ur", "ps", "", None):
        assert not is_persian(code), code


def test_names_and_records():
    assert language_name("fa") == "Persian" and language_name("en") == "English"
    assert language_name("zz") == "zz"  # unknown: the code itself
    # The names the translator prompts used before the table: unchanged.
    old = {"en": "English", "fa": "Persian", "ar": "Arabic", "ur": "Urdu", "tr": "Turkish", "nl": "Dutch",
           "it": "Italian", "de": "German", "fr": "French", "es": "Spanish", "ru": "Russian", "zh": "Chinese"}
    assert {k: LANGUAGE_NAMES[k] for k in old} == old
    persian = next(lang for lang in LANGUAGES if lang.code == base_code("per"))
    assert persian.name == "Persian" and persian.script == "Arab"


def test_table_is_consistent():
    import langcodes

    codes = [lang.code for lang in LANGUAGES]
    assert len(codes) == len(set(codes))
    every = [c for lang in LANGUAGES for c in (lang.code, *lang.aliases)]
    assert len(every) == len(set(every)), "a code means two languages"
    for lang in LANGUAGES:
        assert len(lang.code) == 2 and lang.code.islower()
        # The table's codes are the registry's canonical ISO 639-1 codes.
        assert langcodes.Language.get(lang.code).language == lang.code
        assert lang.mt_codes and lang.name
    assert set(DEFAULT_CANDIDATES) <= set(codes)


def test_mt_aliases():
    assert mt_codes("fa") == ("pes_Arab", "fas", "pes", "prs_Arab", "fa_IR")
    assert mt_codes("FA") == mt_codes("fa")
    assert mt_codes("en")[0] == "eng_Latn"
    assert mt_codes("xx") == ()
    # The model's own code wins; else the first alias the model knows; no stated languages = as given.
    assert resolve_language("fa", ["pes_Arab", "eng_Latn"]) == "pes_Arab"
    assert resolve_language("en", ["eng", "deu"]) == "eng"
    assert resolve_language("eng_Latn", ["eng_Latn"]) == "eng_Latn"
    assert resolve_language("fa", []) == "fa"
    assert resolve_language("fa", ["eng_Latn"]) is None
    # A model's codes as ISO 639-1 in table order, then what the table does not know.
    assert iso_languages(["deu_Latn", "eng_Latn", "zzz_Latn"]) == ["en", "de", "zzz_Latn"]
    assert iso_languages(["en", "de"]) == ["en", "de"]
    assert iso_languages(["pes_Arab", "prs_Arab"]) == ["fa"]


def test_right_to_left_scripts():
    from appliance.language import is_right_to_left

    for code in ("fa", "fa-IR", "FAS", "ar", "he", "iw", "ur", "ps", "ckb", "yi", "az-Arab"):
        assert is_right_to_left(code), code
    for code in ("en", "de", "ru", "zh", "az", "az-Latn", "", None):
        assert not is_right_to_left(code), code


def test_normaliser_and_rules_read_codes_from_the_one_table():
    from appliance.normalize import base_language
    from appliance.normalize import is_persian as norm_is_persian
    from appliance.rules.matcher import rules_language

    for code in ("fa", "fas", "per", "pes", "prs", "fa-IR", "fa_ir"):
        assert norm_is_persian(code) and base_language(code) == "fa" and rules_language(code) == "fa", code
    assert base_language("iw") == "he" and rules_language("EN_us") == "en" and rules_language(None) == "en"
    assert norm_is_persian(None, "سلام، حال شما چطور است؟") and not norm_is_persian(None, "hello there")
