"""Timed input formats (issue #13, item 1): WebVTT, SubRip, Whisper-style JSON, timed ``.txt``.

What it pins: cues become speaker turns (consecutive cues of one speaker merged) with no cue time in
the text; the timeline maps each cue's text span back to its times; the ``.json`` suffix dispatches by
shape (the appliance's codes unchanged, a 'neither' refusal listing both shapes); bad subtitle files are
refused with their own reason codes and messages that never quote the file; the samples parse; the
whisper-timestamps field case reads right with the rules strategy; every verbatim evidence quote of a
timed input carries the recording times of its cues.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from appliance.document import Cue, Document
from appliance.errors import InputError
from appliance.inputs import REASONS, REGISTRY, is_supported, parse_input
from appliance.reasons import Reason
from tests.support.paths import REPO

FIELD = REPO / "tests" / "data" / "field-cases"  # copies of the shared field cases (issue #13)
SAMPLES = REPO / "appliance" / "samples"
SECRET = "بیمار درد شدید دارد"  # stands in for patient text: never in an error message


def refusal(raw: bytes, name: str) -> InputError:
    with pytest.raises(InputError) as e:
        parse_input(raw, name)
    assert e.value.reason in REASONS
    assert SECRET not in str(e.value) and "Saturday" not in str(e.value)
    return e.value


def spans(doc: Document) -> list[str]:
    return [doc.text[c.start_char : c.end_char] for c in doc.cues]


VTT = """WEBVTT

NOTE not text

1
00:00:01.000 --> 00:00:03.500 align:start
<v Dr. Rahimi>Any fever &amp; chills?</v>

00:00:04.000 --> 00:00:06.000
<v Patient>Yes, since <i>Saturday</i>.

00:00:06.000 --> 00:00:07.000
<v Patient>And a headache.

00:01:07.500 --> 00:01:09.000
<v Dr. Rahimi>Any pain?
<v Patient>No.
"""


def test_vtt_voices_become_merged_turns_without_times():
    doc = parse_input(VTT.encode(), "call-9.vtt")
    assert doc.id == "call-9" and doc.source_name == "call-9.vtt"
    assert doc.text == (
        "Dr. Rahimi: Any fever & chills?\n"
        "Patient: Yes, since Saturday. And a headache.\n"
        "Dr. Rahimi: Any pain?\n"
        "Patient: No.\n"
    )
    assert "-->" not in doc.text and "00:" not in doc.text and "NOTE" not in doc.text
    assert spans(doc) == ["Any fever & chills?", "Yes, since Saturday.", "And a headache.", "Any pain?", "No."]
    assert [(c.start_s, c.end_s, c.speaker) for c in doc.cues] == [
        (1.0, 3.5, "Dr. Rahimi"), (4.0, 6.0, "Patient"), (6.0, 7.0, "Patient"),
        (67.5, 69.0, "Dr. Rahimi"), (67.5, 69.0, "Patient"),
    ]


SRT = """1
00:00:01,000 --> 00:00:02,500
Doctor: Any fever or

2
00:00:02,600 --> 00:00:04,000
chills this week?

3
00:00:04,100 --> 00:00:05,000
Patient: <i>Yes</i>, since Saturday.

4
00:00:05,200 --> 00:00:06,000
- Doctor: Any pain?
- Patient: No.
"""


def test_srt_labels_continuations_and_dashes():
    doc = parse_input(SRT.encode(), "c.srt")
    assert doc.text == (
        "Doctor: Any fever or chills this week?\n"
        "Patient: Yes, since Saturday.\n"
        "Doctor: Any pain?\n"
        "Patient: No.\n"
    )
    assert spans(doc) == ["Any fever or", "chills this week?", "Yes, since Saturday.", "Any pain?", "No."]
    assert doc.cues[1].speaker == "Doctor"  # an unlabelled cue continues the turn before it
    assert doc.times_for(0, len("Doctor: Any fever or chills this week?")) == (1.0, 4.0)


def whisper(segments, **top) -> bytes:
    return json.dumps({"text": " ignored", "language": "en", **top, "segments": segments}).encode()


def test_whisper_json_segments_and_whisperx_speakers():
    raw = whisper([
        {"id": 0, "start": 0.5, "end": 1.5, "text": " Any fever?", "speaker": "SPEAKER_00", "tokens": [1, 2]},
        {"id": 1, "start": 1.6, "end": 2.0, "text": " Yes.", "speaker": "SPEAKER_01", "words": []},
        {"id": 2, "start": 2.1, "end": 3.0, "text": " Since Monday.", "speaker": "SPEAKER_01"},
        {"id": 3, "start": 3.1, "end": 4.0, "text": " Doctor: Thank you."},
    ], word_segments=[])
    doc = parse_input(raw, "rec-1.json")
    assert doc.id == "rec-1" and doc.language == "en" and doc.metadata == {}
    assert doc.text == "SPEAKER_00: Any fever?\nSPEAKER_01: Yes. Since Monday.\nDoctor: Thank you.\n"
    assert [c.speaker for c in doc.cues] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_01", "Doctor"]
    # plain openai-whisper output: no speakers, one untimed-label turn
    doc = parse_input(whisper([{"start": 0, "end": 2, "text": " I have had"}, {"start": 2, "end": 3, "text": " a fever."}]),
                      "w.json")
    assert doc.text == "I have had a fever.\n" and doc.language == "en"


def test_timed_txt_field_case_becomes_turns_and_reads_right():
    raw = (FIELD / "whisper-timestamps.txt").read_bytes()
    doc = parse_input(raw, "whisper-timestamps.txt")
    assert doc.text.splitlines() == [
        "Doctor: Any nausea or vomiting?", "Patient: No, not at all.", "Doctor: Any fever?",
        "Patient: Yes, since Saturday.", "Doctor: And pain?", "Patient: No.",
    ]
    assert doc.cues[3].start_s == 6.1 and doc.cues[3].end_s == 7.0 and doc.cues[3].speaker == "Patient"

    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings

    expected = json.loads((FIELD / "expected.json").read_text())["whisper-timestamps.txt"]
    result = Pipeline.load(PipelineSettings(task=expected["task"], strategy="rules")).process(doc)
    for key in expected["true"]:
        assert result.features[key].value is True, key
    for key in expected["false"]:
        assert result.features[key].value is False, key


@pytest.mark.parametrize(
    "text,turns,times",
    [
        # faster-whisper's print format, a header kept untimed, a continuation line, SPEAKER labels
        (("Call 17\n[0.00s -> 1.50s] SPEAKER_00: Any fever?\n[1.60s -> 2.00s] SPEAKER_01: Yes\nsince Monday.\n"
          "[2.50s -> 3.00s] SPEAKER_00: Thanks.\n"),
         ["Call 17", "SPEAKER_00: Any fever?", "SPEAKER_01: Yes since Monday.", "SPEAKER_00: Thanks."],
         [(0.0, 1.5), (1.6, 2.0), (2.5, 3.0)]),
        # SubRip-style decimal comma; a tag before the label stays in the text, never a name
        ("[00:00:01,200 --> 00:00:03,000] (coughs) Doctor: Any fever?\n[00:00:03.100 --> 00:00:04.000] [inaudible]\n",
         ["Doctor: (coughs) Any fever? [inaudible]"], [(1.2, 3.0), (3.1, 4.0)]),
    ],
)
def test_timed_txt_shapes(text, turns, times):
    doc = parse_input(text.encode(), "t.txt")
    assert doc.text.splitlines() == turns
    assert [(c.start_s, c.end_s) for c in doc.cues] == times


def test_txt_with_a_few_times_stays_plain():
    text = "Doctor: we spoke at [00:00:01.000 --> 00:00:02.000] before.\n[00:01.000 --> 00:02.000] x\nPatient: ok\nDoctor: bye\n"
    doc = parse_input(text.encode(), "p.txt")
    assert doc.text == text and doc.cues == []


# ------------------------------------------------------------------------------------------ .json dispatch


def test_json_dispatches_by_shape_and_refuses_neither():
    assert parse_input(json.dumps({"id": "a", "text": SECRET}).encode(), "a.json").cues == []
    e = refusal(json.dumps({"notes": SECRET, "foo": 1}).encode(), "x.json")
    assert e.reason == Reason.JSON_SHAPE
    assert "'id' and 'text'" in str(e) and "'segments'" in str(e) and "notes" not in str(e)
    e = refusal(b"{}", "x.json")
    assert e.reason == "json_shape"
    # appliance-shaped documents keep their codes and messages
    e = refusal(json.dumps({"id": "a", "Text": SECRET}).encode(), "x.json")
    assert e.reason == "json_unknown_field" and "did you mean 'text'?" in str(e)
    assert refusal(json.dumps({"Txt": SECRET}).encode(), "x.json").reason == "json_unknown_field"


@pytest.mark.parametrize(
    "segments,code,detail",
    [
        ({"0": 1}, "json_segments", "must be an array"),
        ([], "no_cues", "empty"),
        (["x"], "json_segments", "segment 1 is string"),
        ([{"end": 1, "text": SECRET}], "json_segments", "segment 1 has no 'start'"),
        ([{"start": "0", "end": 1, "text": SECRET}], "json_segments", "'start' must be a number"),
        ([{"start": True, "end": 1, "text": SECRET}], "json_segments", "'start' must be a number"),
        ([{"start": 0, "end": 1}], "json_segments", "has no 'text'"),
        ([{"start": 0, "end": 1, "text": 3}], "json_segments", "'text' must be a string"),
        ([{"start": 0, "end": 1, "text": SECRET, "speaker": 0}], "json_segments", "'speaker' must be a string"),
        ([{"start": -1, "end": 1, "text": SECRET}], "cue_times", "cue 1"),
        ([{"start": 2, "end": 1, "text": SECRET}], "cue_times", "ends before it starts"),
        ([{"start": 2, "end": 3, "text": SECRET}, {"start": 1, "end": 3, "text": SECRET}], "cue_times",
         "cue 2 starts before"),
        ([{"start": 0, "end": 1, "text": "  "}, {"start": 1, "end": 2, "text": ""}], "no_cues", "none of the 2"),
        ([{"start": 0, "end": 1, "text": SECRET + "\u0000"}], "binary", ""),
    ],
)
def test_whisper_json_refusals(segments, code, detail):
    e = refusal(whisper(segments), "w.json")
    assert e.reason == code and detail in str(e)


def test_whisper_json_language_is_checked():
    assert refusal(whisper([{"start": 0, "end": 1, "text": SECRET}], language="Persian"), "w.json").reason == "bad_language"


# ------------------------------------------------------------------------------------------ subtitle refusals


@pytest.mark.parametrize(
    "raw,name,code",
    [
        (b"", "a.vtt", "empty"),
        (b" \n", "a.srt", "whitespace_only"),
        (f"{SECRET}\nnot a subtitle\n".encode(), "a.vtt", "subtitle_invalid"),
        (f"WEBVTT\n\n00:00:0x.000 --> 00:00:02.000\n{SECRET}\n".encode(), "a.vtt", "subtitle_invalid"),
        (b"WEBVTT\n\nNOTE only a note\n", "a.vtt", "no_cues"),
        (f"WEBVTT\n\n00:00:05.000 --> 00:00:02.000\n{SECRET}\n".encode(), "a.vtt", "cue_times"),
        (f"WEBVTT\n\n00:00:05.000 --> 00:00:06.000\n{SECRET}\n\n00:00:01.000 --> 00:00:02.000\nx\n".encode(),
         "a.vtt", "cue_times"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<i></i>\n", "a.vtt", "no_cues"),
        (f"{SECRET}\nnot a subtitle\n".encode(), "a.srt", "subtitle_invalid"),
        (f"1\n00:00:0x,000 --> 00:00:02,000\n{SECRET}\n".encode(), "a.srt", "subtitle_invalid"),
        (f"1\n00:00:05,000 --> 00:00:02,000\n{SECRET}\n".encode(), "a.srt", "cue_times"),
        (b"1\n00:00:01,000 --> 00:00:02,000\n<b> </b>\n", "a.srt", "no_cues"),
        ("WEBVTT\n".encode("utf-16"), "a.vtt", "utf16"),
        (b"[00:00:0x.000 --> 00:00:02.000] Doctor: hi\n", "a.txt", "cue_times"),
        (b"[00:00:03.000 --> 00:00:02.000] Doctor: hi\n", "a.txt", "cue_times"),
        (b"[00:00:01.000 --> 00:00:02.000]\n[00:00:02.000 --> 00:00:03.000]  \n", "a.txt", "no_cues"),
    ],
)
def test_subtitle_refusals(raw, name, code):
    e = refusal(raw, name)
    assert e.reason == code, str(e)
    if code == "subtitle_invalid" and name.endswith(".srt") and b"not a subtitle" in raw:
        assert "line 1" in str(e)


def test_new_reasons_are_input_reasons_and_documented():
    doc = (REPO / "docs" / "integration.md").read_text(encoding="utf-8")
    for code in ("json_shape", "json_segments", "subtitle_invalid", "no_cues", "cue_times"):
        assert code in REASONS and f"`{code}`" in doc
    assert "`.txt`, `.json`, `.vtt` or `.srt`" in doc
    for suffix in (".vtt", ".srt"):
        assert f"### `{suffix}`" in doc


# ------------------------------------------------------------------------------------------ timeline model


def test_document_validates_its_timeline():
    ok = Document(id="a", text="Doctor: hi\nPatient: no\n",
                  cues=[Cue(start_char=8, end_char=10, start_s=0, end_s=1),
                        Cue(start_char=20, end_char=22, start_s=0.5, end_s=2, speaker="Patient")])
    assert ok.times_for(0, 10) == (0, 1) and ok.times_for(0, len(ok.text)) == (0, 2)
    assert ok.times_for(10, 20) is None and ok.times_for(5, 5) is None
    assert ok.times_for(9, 21) == (0, 2)
    with pytest.raises(ValidationError):  # beyond the text
        Document(id="a", text="hi", cues=[Cue(start_char=0, end_char=3, start_s=0, end_s=1)])
    with pytest.raises(ValidationError):  # overlapping spans
        Document(id="a", text="hello", cues=[Cue(start_char=0, end_char=3, start_s=0, end_s=1),
                                             Cue(start_char=2, end_char=4, start_s=1, end_s=2)])
    for bad in ({"start_char": 2, "end_char": 2, "start_s": 0, "end_s": 1},
                {"start_char": 0, "end_char": 1, "start_s": 2, "end_s": 1},
                {"start_char": 0, "end_char": 1, "start_s": -1, "end_s": 1},
                {"start_char": 0, "end_char": 1, "start_s": 0, "end_s": float("inf")}):
        with pytest.raises(ValidationError):
            Cue(**bad)


# ------------------------------------------------------------------------------------------ samples, CLI


def test_every_sample_parses_and_timed_ones_carry_cues():
    names = sorted(p.name for p in SAMPLES.iterdir())
    assert all(is_supported(n) for n in names)
    assert {Path(n).suffix for n in names} >= {".txt", ".json", ".vtt", ".srt"}
    timed = {"call-en-004.vtt", "call-en-005.srt", "call-en-006.json", "call-en-007.txt"}
    for name in names:
        doc = parse_input((SAMPLES / name).read_bytes(), name)
        assert bool(doc.cues) is (name in timed), name
        for cue in doc.cues:
            assert doc.text[cue.start_char : cue.end_char].strip()


def test_demo_drops_every_registered_suffix():
    script = (REPO / "scripts" / "demo.sh").read_text(encoding="utf-8")
    assert '"$SAMPLES"/*;' in script or '"$SAMPLES"/*"' in script, "demo.sh must drop every sample file"
    assert set(REGISTRY.suffixes()) >= {".vtt", ".srt"}


def test_extract_cli_takes_the_new_suffixes(tmp_path):
    from click.testing import CliRunner

    from appliance.cli import main

    for name in ("call-en-004.vtt", "call-en-005.srt", "call-en-006.json", "call-en-007.txt"):
        (tmp_path / name).write_bytes((SAMPLES / name).read_bytes())
    (tmp_path / "notes.docx").write_bytes(b"x")
    out = CliRunner().invoke(main, ["extract", str(tmp_path), "--strategy", "rules", "--json"])
    assert out.exit_code == 0, out.output
    ids = [json.loads(line)["input_id"] for line in out.output.splitlines() if line.startswith("{")]
    assert ids == ["call-en-004", "call-en-005", "call-en-006", "call-en-007"]


# ------------------------------------------------------------------------------------------ evidence times


@pytest.mark.parametrize("strategy", ["rules", "hybrid"])
def test_evidence_quotes_carry_the_recording_times(strategy, request):
    from appliance.pipeline import Pipeline
    from appliance.result import Result
    from appliance.settings import PipelineSettings

    settings = {"task": "symptoms13", "strategy": strategy}
    if strategy == "hybrid":
        settings["extractor"] = str(request.getfixturevalue("tiny_bundle"))
    pipe = Pipeline.load(PipelineSettings(**settings))
    doc = parse_input((FIELD / "whisper-timestamps.txt").read_bytes(), "whisper-timestamps.txt")
    result = pipe.process(doc)
    quotes = [e for fr in result.features.values() for e in fr.evidence]
    assert quotes
    for e in quotes:
        times = doc.times_for(e.start, e.end)
        assert e.found_in_text and times is not None and (e.start_s, e.end_s) == times
    fever = {(e.quote, e.start_s, e.end_s) for e in result.features["fever"].evidence}
    assert ("Any fever?", 4.5, 6.0) in fever
    again = Result.model_validate_json(result.model_dump_json())
    assert again.features["fever"].evidence == result.features["fever"].evidence
    # the same turns without a timeline: quotes, no times
    untimed = pipe.process(Document(id="u", text=doc.text))
    assert all(e.start_s is None and e.end_s is None for fr in untimed.features.values() for e in fr.evidence)
