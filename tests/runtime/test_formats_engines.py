"""Timed inputs as real engines and subtitle tools write them (issue #13, item 1; tried as an integrator).

Each class of test stands for something engines do that the first parsers got wrong:
whisperX's ``[SPEAKER_00]: `` prefix in its .srt/.vtt/.txt writers; whisper.cpp's stereo ``--diarize``
prefix ``(speaker 1)``; ASS override tags (``{\\an8}``) in
SubRip converted from ASS; bidirectional-text controls around right-to-left subtitle lines; cue settings
that webvtt-py does not know (``align:middle``); a speaker only on whisperX's ``words``; roll-up
captions that repeat each line in the next cue (YouTube, Whisper's ``--highlight_words``); timed text
whose times have no fraction.
"""

from __future__ import annotations

import json

import pytest

from appliance.errors import InputError
from appliance.inputs import parse_input


def spans(doc) -> list[str]:
    return [doc.text[c.start_char : c.end_char] for c in doc.cues]


# -- whisperX's `[SPEAKER_00]: ` prefix ------------------------------------------------------------------

WHISPERX_TURNS = ["SPEAKER_00: Any fever?", "SPEAKER_01: No fever. But I threw up twice."]


@pytest.mark.parametrize(
    "name,raw",
    [
        ("x.srt", ("1\n00:00:00,500 --> 00:00:02,000\n[SPEAKER_00]: Any fever?\n\n"
                  "2\n00:00:02,100 --> 00:00:03,000\n[SPEAKER_01]: No fever.\n\n"
                  "3\n00:00:03,100 --> 00:00:04,000\n[SPEAKER_01]: But I threw up twice.\n")),
        ("x.vtt", ("WEBVTT\n\n00:00.500 --> 00:02.000\n[SPEAKER_00]: Any fever?\n\n"
                  "00:02.100 --> 00:03.000\n[SPEAKER_01]: No fever.\n\n"
                  "00:03.100 --> 00:04.000\n[SPEAKER_01]: But I threw up twice.\n")),
        ("x.txt", ("[00:00:00.500 --> 00:00:02.000] [SPEAKER_00]: Any fever?\n"
                  "[00:00:02.100 --> 00:00:03.000] [SPEAKER_01]: No fever.\n"
                  "[00:00:03.100 --> 00:00:04.000] [SPEAKER_01]: But I threw up twice.\n")),
        ("x.json", json.dumps({"segments": [
            {"start": 0.5, "end": 2.0, "text": " [SPEAKER_00]: Any fever?"},
            {"start": 2.1, "end": 3.0, "text": " [SPEAKER_01]: No fever."},
            {"start": 3.1, "end": 4.0, "text": " [SPEAKER_01]: But I threw up twice."}]})),
    ],
)
def test_bracketed_speaker_prefix_of_whisperx_writers(name, raw):
    doc = parse_input(raw.encode(), name)
    assert doc.text.splitlines() == WHISPERX_TURNS
    assert [c.speaker for c in doc.cues] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]
    assert spans(doc) == ["Any fever?", "No fever.", "But I threw up twice."]


@pytest.mark.parametrize(
    "name,raw",
    [
        ("d.srt", ("1\n00:00:00,000 --> 00:00:02,000\n(speaker 0) Any fever?\n\n"
                  "2\n00:00:02,000 --> 00:00:03,000\n(speaker 1) No fever.\n\n"
                  "3\n00:00:03,000 --> 00:00:04,000\n(speaker ?) But I threw up twice.\n")),
        ("d.txt", ("[00:00:00.000 --> 00:00:02.000]  (speaker 0) Any fever?\n"
                  "[00:00:02.000 --> 00:00:03.000]  (speaker 1) No fever.\n"
                  "[00:00:03.000 --> 00:00:04.000]  (speaker ?) But I threw up twice.\n")),
    ],
)
def test_whisper_cpp_stereo_diarization_prefix(name, raw):
    doc = parse_input(raw.encode(), name)
    # "(speaker ?)": whisper.cpp could not tell the channel; the line continues the turn before it
    assert doc.text == "speaker 0: Any fever?\nspeaker 1: No fever. But I threw up twice.\n"
    assert spans(doc) == ["Any fever?", "No fever.", "But I threw up twice."]


@pytest.mark.parametrize("line", ["[inaudible] yes, a cough", "[BLANK_AUDIO]", "(coughs) yes, a cough"])
def test_a_bracketed_run_without_a_colon_is_still_no_speaker(line):
    doc = parse_input(f"1\n00:00:01,000 --> 00:00:02,000\n{line}\n".encode(), "t.srt")
    assert doc.cues[0].speaker is None and doc.text == line + "\n"


# -- markup that is display, not speech ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line,turn",
    [
        ("{\\an8}Doctor: Any vomiting?", "Doctor: Any vomiting?"),
        ("{\\i1}Doctor:{\\i0} Any vomiting?", "Doctor: Any vomiting?"),
        ("{\\pos(192,210)\\c&H00FFFF&}<i>Doctor: Any vomiting?</i>", "Doctor: Any vomiting?"),
        ("Pain {score} is {\\b1}four{\\b0}", "Pain {score} is four"),  # braces without a backslash are text
    ],
)
def test_srt_ass_override_tags_are_removed(line, turn):
    doc = parse_input(f"1\n00:00:01,000 --> 00:00:02,000\n{line}\n".encode(), "a.srt")
    assert doc.text == turn + "\n"


@pytest.mark.parametrize(
    "before,after",
    [("\u202b", "\u202c"), ("\u200f", ""), ("\u2067", "\u2069"), ("\u202e", "\u202c"), ("\u061c", "")],
)
def test_bidi_controls_around_right_to_left_lines_do_not_hide_the_speaker(before, after):
    raw = (f"1\n00:00:01,000 --> 00:00:02,000\n{before}پزشک: آیا تب دارید؟{after}\n\n"
           f"2\n00:00:02,000 --> 00:00:03,000\n{before}بیمار: \u200fنه، تب ندارم.{after}\n")
    doc = parse_input(raw.encode(), "fa.srt")
    assert doc.text == "پزشک: آیا تب دارید؟\nبیمار: نه، تب ندارم.\n"
    assert [c.speaker for c in doc.cues] == ["پزشک", "بیمار"]
    vtt = f"WEBVTT\n\n00:01.000 --> 00:02.000\n<v {before}پزشک{after}>آیا تب دارید؟\n"
    assert parse_input(vtt.encode(), "fa.vtt").cues[0].speaker == "پزشک"


# -- WebVTT cue settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    ["align:middle", "line:90% position:50% size:80% align:middle", "direction:rtl", "align:start foo:bar",
     "align:start position:0%", "vertical:rl line:-1"],
)
def test_vtt_cue_settings_never_refuse_the_file(settings):
    raw = f"WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.500 {settings}\n<v Doctor>Any fever?\n"
    doc = parse_input(raw.encode(), "s.vtt")
    assert doc.text == "Doctor: Any fever?\n" and (doc.cues[0].start_s, doc.cues[0].end_s) == (1.0, 2.5)


@pytest.mark.parametrize("timing", ["00:00:01.000 --> 00:00:0x.000 align:start", "00:00:01 --> 00:00:02 align:start"])
def test_vtt_unreadable_timing_is_still_refused(timing):
    with pytest.raises(InputError) as e:
        parse_input(f"WEBVTT\n\n{timing}\nsecret text\n".encode(), "s.vtt")
    assert e.value.reason == "subtitle_invalid" and "secret" not in str(e.value)


# -- whisperX speakers on words -----------------------------------------------------------------------------


def test_whisperx_segment_without_speaker_takes_its_words_speaker():
    raw = json.dumps({"language": "en", "segments": [
        {"start": 0.5, "end": 2.0, "text": " How is your appetite?", "speaker": "SPEAKER_00"},
        {"start": 2.1, "end": 4.0, "text": " I'm not eating much.",
         "words": [{"word": "I'm", "start": 2.1, "end": 2.3, "speaker": "SPEAKER_01"},
                   {"word": "not", "start": 2.3, "end": 2.5, "speaker": "SPEAKER_01"},
                   {"word": "eating", "start": 2.5, "end": 2.9, "speaker": "SPEAKER_00"},
                   {"word": "much."}]},
        {"start": 4.0, "end": 5.0, "text": " Any fever?",
         "words": [{"word": "Any", "speaker": "SPEAKER_00"}, {"word": "fever?", "speaker": "SPEAKER_00"}]},
        {"start": 5.0, "end": 6.0, "text": " No.", "words": [{"word": "No."}, "junk", {"speaker": 3}]},
    ]}).encode()
    doc = parse_input(raw, "wx.json")
    assert doc.text == ("SPEAKER_00: How is your appetite?\nSPEAKER_01: I'm not eating much.\n"
                        "SPEAKER_00: Any fever? No.\n")  # no speaker anywhere: continues the turn
    assert [c.speaker for c in doc.cues] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00", "SPEAKER_00"]


# -- roll-up repeats ----------------------------------------------------------------------------------------

YOUTUBE = """WEBVTT
Kind: captions
Language: en

00:00:00.000 --> 00:00:02.750 align:start position:0%
 
so<00:00:00.480><c> how</c><00:00:00.640><c> have</c><00:00:00.800><c> you</c><00:00:00.960><c> been</c>

00:00:02.750 --> 00:00:02.760 align:start position:0%
so how have you been
 

00:00:02.760 --> 00:00:05.990 align:start position:0%
so how have you been
i've<00:00:03.120><c> been</c><00:00:03.300><c> short</c><00:00:03.500><c> of</c><00:00:03.700><c> breath</c>

00:00:05.990 --> 00:00:06.000 align:start position:0%
i've been short of breath
 

00:00:06.000 --> 00:00:09.000 align:start position:0%
i've been short of breath
and<00:00:06.300><c> no</c><00:00:06.500><c> appetite</c>
"""

HIGHLIGHT = """1
00:00:00,500 --> 00:00:00,900
[SPEAKER_00]: <u>Any</u> fever?

2
00:00:00,900 --> 00:00:01,600
[SPEAKER_00]: Any <u>fever?</u>

3
00:00:02,400 --> 00:00:02,800
[SPEAKER_01]: <u>No.</u>

4
00:00:03,500 --> 00:00:03,900
[SPEAKER_01]: No.
"""


def test_roll_up_captions_are_read_once():
    doc = parse_input(YOUTUBE.encode(), "yt.vtt")
    assert doc.text == "so how have you been i've been short of breath and no appetite\n"
    assert spans(doc) == ["so how have you been", "i've been short of breath", "and no appetite"]
    assert [(c.start_s, c.end_s) for c in doc.cues] == [(0.0, 2.76), (2.76, 6.0), (6.0, 9.0)]


def test_highlight_words_output_is_read_once_and_a_later_repeat_is_speech():
    doc = parse_input(HIGHLIGHT.encode(), "hl.srt")
    assert doc.text == "SPEAKER_00: Any fever?\nSPEAKER_01: No. No.\n"
    assert [(c.start_s, c.end_s) for c in doc.cues] == [(0.5, 1.6), (2.4, 2.8), (3.5, 3.9)]


def test_roll_up_evidence_points_at_the_cue_it_was_said_in():
    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings

    result = Pipeline.load(PipelineSettings(task="symptoms13", strategy="rules")).process(
        parse_input(YOUTUBE.encode(), "yt.vtt"))
    dyspnea = result.features["dyspnea"]
    assert dyspnea.value is True and len(dyspnea.evidence) == 1  # three before: each repeat was read
    ev = dyspnea.evidence[0]
    assert ev.quote.startswith("i've been short of breath") and ev.start_s == 2.76


# -- timed text without fractions ----------------------------------------------------------------------------


def test_timed_txt_times_without_a_fraction():
    doc = parse_input(b"[00:00:01 --> 00:00:03] Doctor: Any fever?\n[00:03 --> 00:05] Patient: yes\n", "t.txt")
    assert doc.text == "Doctor: Any fever?\nPatient: yes\n"
    assert [(c.start_s, c.end_s) for c in doc.cues] == [(1.0, 3.0), (3.0, 5.0)]
