"""The file-drop input contract: accepted shapes and every refusal reason."""

from __future__ import annotations

import json

import pytest

from appliance.errors import InputError
from appliance.inputs import REASONS, is_supported, parse_input
from appliance.reader import is_ignored, read_bytes
from tests.support.paths import REPO

SECRET = "بیمار درد شدید دارد"  # stands in for patient text: must never appear in an error


def reason(raw: bytes, name: str = "x.txt", **kw) -> str:
    with pytest.raises(InputError) as e:
        parse_input(raw, name, **kw)
    assert e.value.reason in REASONS
    assert SECRET not in str(e.value)
    return e.value.reason


@pytest.mark.parametrize(
    "name,ignored",
    [
        (".hidden.txt", True),
        ("a.txt.tmp", True),
        ("a.part", True),
        ("a.TXT.PART", True),
        ("a~", True),
        ("a.txt", False),
        ("a.json", False),
        ("a.docx", False),
    ],
)
def test_ignored_names(name, ignored):
    assert is_ignored(name) is ignored


def test_supported():
    assert is_supported("A.TXT") and is_supported("b.json") and not is_supported("c.pdf")


def test_txt_ok_with_bom_and_id_from_name():
    doc = parse_input(("\ufeff" + SECRET + "\n").encode(), "call-123.txt")
    assert doc.id == "call-123" and doc.text == SECRET + "\n" and doc.source_name == "call-123.txt"
    assert doc.language is None


@pytest.mark.parametrize(
    "raw,code",
    [
        (b"", "empty"),
        (b"  \n\t \r\n", "whitespace_only"),
        ("hello".encode("utf-16"), "utf16"),
        ("hello there, a longer line".encode("utf-16-le"), "utf16"),
        ("hello".encode("utf-32"), "utf16"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00binary", "binary"),
        (b"caf\xe9 au lait", "invalid_utf8"),
        (b"\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11\x12 text", "binary"),
    ],
)
def test_txt_refusals(raw, code):
    assert reason(raw) == code


def test_invalid_utf8_reports_offset_only():
    with pytest.raises(InputError) as e:
        parse_input(SECRET.encode() + b"\xff", "x.txt")
    assert "offset" in str(e.value)


def test_unsupported_type():
    assert reason(b"hello", "x.docx") == "unsupported_type"


def j(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def test_json_ok():
    doc = parse_input(
        j({"id": "c-9", "language": "FA", "text": SECRET, "metadata": {"site": "a", "n": [1, 2]}}),
        "whatever.json",
    )
    assert doc.id == "c-9" and doc.language == "fa" and doc.text == SECRET
    assert doc.metadata == {"site": "a", "n": [1, 2]} and doc.source_name == "whatever.json"
    doc = parse_input(j({"id": "c", "text": "t", "language": None, "metadata": None}), "a.json")
    assert doc.language is None and doc.metadata == {}


@pytest.mark.parametrize(
    "raw,code",
    [
        (b"{not json", "invalid_json"),
        (b'{"id": "a", "text": NaN}', "invalid_json"),
        (b"[1, 2]", "json_not_object"),
        (j({"text": SECRET}), "json_field"),
        (j({"id": "a"}), "json_field"),
        (j({"id": 5, "text": SECRET}), "json_field"),
        (j({"id": "a", "text": ["x"]}), "json_field"),
        (j({"id": "a", "text": SECRET, "language": 3}), "json_field"),
        (j({"id": "a", "text": SECRET, "metadata": [1]}), "json_field"),
        (j({"id": "a", "text": SECRET, "Text": "x"}), "json_unknown_field"),
        (b'{"id": "a", "id": "b", "text": "t"}', "json_duplicate_key"),
        (j({"id": "a", "text": "   "}), "whitespace_only"),
        (j({"id": "", "text": SECRET}), "bad_id"),
        (j({"id": "a" * 256, "text": SECRET}), "bad_id"),
        (j({"id": "a\nb", "text": SECRET}), "bad_id"),
        (j({"id": "a", "text": SECRET, "language": "Persian"}), "bad_language"),
        (j({"id": "a", "text": SECRET, "language": "xx-nope"}), "bad_language"),  # issue #12
        (j({"id": "a", "text": SECRET, "language": "xx"}), "bad_language"),
        (j({"id": "a", "text": SECRET, "language": "en_US"}), "bad_language"),
        (j({"id": "a", "text": SECRET, "language": "und"}), "bad_language"),
        (j({"id": "a", "text": SECRET, "language": "qaa"}), "bad_language"),
        (j({"id": "a", "text": SECRET, "language": "x-private"}), "bad_language"),
        (j({"id": "a", "text": SECRET, "language": "en-US-US"}), "bad_language"),
        (j({"id": "a", "text": "x\u0000y"}), "binary"),
        (j({"id": "a", "text": SECRET, "metadata": {"a": {"b": {"c": {"d": 1}}}}}), "json_too_deep"),
        (j({"id": "a", "text": SECRET, "metadata": {"blob": "x" * 100}}), "metadata_too_large"),
        ("{}".encode("utf-16"), "utf16"),
        (b"", "empty"),
    ],
)
def test_json_refusals(raw, code):
    assert reason(raw, "x.json", max_json_depth=4, max_metadata_bytes=64) == code


def test_very_deep_json_does_not_crash():
    raw = b"[" * 100_000 + b"]" * 100_000
    assert reason(raw, "x.json") in ("json_too_deep",)


def test_read_bytes_limit(tmp_path):
    p = tmp_path / "big.txt"
    p.write_bytes(b"a" * 101)
    with pytest.raises(InputError) as e:
        read_bytes(p, 100)
    assert e.value.reason == "too_large"
    assert read_bytes(p, 101) == b"a" * 101


def test_every_reason_is_documented():

    doc = (REPO / "docs" / "integration.md").read_text(encoding="utf-8")
    for code in list(REASONS) + ["too_long", "pipeline_error", "storage_error", "interrupted"]:
        assert f"`{code}`" in doc, f"reason {code} missing from docs/integration.md"


# ------------------------------------------------------------------------------------------ format registry


def test_registry_matches_the_longest_suffix_and_describes_itself():
    from appliance.document import Document
    from appliance.inputs import REGISTRY, InputRegistry

    assert REGISTRY.suffixes() == [".txt", ".json", ".vtt", ".srt"]
    assert REGISTRY.describe() == ".txt, .json, .vtt and .srt"
    assert REGISTRY.describe("or", "`") == "`.txt`, `.json`, `.vtt` or `.srt`"
    reg = InputRegistry()
    reg.register(".json", lambda raw, name, limits: Document(id="plain", text="t"))
    reg.register(".Whisper.JSON", lambda raw, name, limits: Document(id="whisper", text="t"))
    assert reg.parse(b"", "a.json").id == "plain"
    assert reg.parse(b"", "A.WHISPER.json").id == "whisper"
    assert reg.is_supported("x.whisper.json") and not reg.is_supported("x.txt")
    with pytest.raises(ValueError, match="already registered"):
        reg.register(".JSON", lambda raw, name, limits: Document(id="x", text="t"))
    with pytest.raises(ValueError, match="starts with a dot"):
        reg.register("vtt", lambda raw, name, limits: Document(id="x", text="t"))
    with pytest.raises(InputError) as e:
        reg.parse(b"x", "a.txt")
    assert e.value.reason == "unsupported_type" and "only .json and .whisper.json inputs" in str(e.value)


def test_registered_format_is_accepted_only_while_registered():
    from appliance.document import Document
    from appliance.inputs import REGISTRY

    def parse_md(raw, name, limits):
        return Document(id=name[:-3], text=raw.decode(), source_name=name)

    assert reason(b"# note", "a.md") == "unsupported_type"
    with REGISTRY.registered(".md", parse_md):
        assert is_supported("A.MD") and parse_input(b"# note", "a.md").id == "a"
        refusal = pytest.raises(InputError, parse_input, b"", "a.docx").value
        assert "only .txt, .json, .vtt, .srt and .md inputs" in str(refusal)
    assert not is_supported("a.md") and REGISTRY.suffixes() == [".txt", ".json", ".vtt", ".srt"]


def test_name_is_checked_before_any_parser():
    assert reason(b"hello", "x" * 252 + ".txt") == "bad_name"  # (over NAME_MAX: not on Linux)
    assert reason(b"hello", "\udcff.txt") == "bad_name"


def test_every_name_linux_allows_gives_a_document():
    """Issue #12: names of 201-255 bytes were refused as `bad_name`."""
    for name in ("x" * 197 + ".txt", "m" * 251 + ".txt", "ت" * 125 + ".txt"):
        doc = parse_input(b"hello", name)
        assert doc.id == name[:-4]
    assert parse_input(j({"id": "i" * 255, "text": "t"}), "a.json").id == "i" * 255


@pytest.mark.parametrize("code", ["en", "EN", "fa", "pt-BR", "zh-Hant-TW", "fas", "iw", "de-1901", "es-419"])
def test_valid_language_codes_are_kept_lower_cased(code):
    assert parse_input(j({"id": "a", "text": "t", "language": code}), "a.json").language == code.lower()
