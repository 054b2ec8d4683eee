"""The rules on speech-recognition text (#13 item 2): no punctuation or case, several voices on one line,
fillers and repetitions, non-speech tags, cue times, anonymous diarization labels. Each kind is a class
of cases; the field cases of that kind are pinned at the end."""

from __future__ import annotations

import json
import re

import pytest

from appliance.rules import RuleExtractor, prepare_for_rules
from appliance.rules.segment import segment_dialogue
from appliance.rules.sentences import is_unpunctuated
from appliance.rules.speakers import infer_roles, is_anonymous
from appliance.rules.speech import is_non_speech, speech_view
from appliance.tasks import load_task
from tests.support.paths import DATA

pytest.importorskip("medspacy")

FIELD = DATA / "field-cases"


def found(rx: RuleExtractor, text: str) -> dict[str, str]:
    """Feature -> status for the features the rules mention; every span a verbatim slice of ``text``."""
    out = {}
    for key, f in rx.extract(text, "en").items():
        for s in f.evidence:
            assert text[s.start : s.end] == s.text
            assert text[s.sentence_start : s.sentence_end] == s.sentence
        if f.status != "not_mentioned":
            out[key] = f.status
    return out


def check(rx: RuleExtractor, text: str, present: tuple[str, ...] = (), absent: tuple[str, ...] = ()) -> None:
    got = found(rx, text)
    for k in present:
        assert got.get(k) == "present", (k, got)
    for k in absent:
        assert got.get(k) != "present", (k, got)


# -- non-speech tags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["inaudible", "BLANK_AUDIO", "coughs", "Music", "upbeat music", "laughs", "crosstalk 00:01:02", "NO_SPEECH",
     "patient clears throat", "sighs", "background noise", "phone ringing", "crying", "foreign language"],
)
def test_non_speech_tag_bodies(body: str) -> None:
    assert is_non_speech(body)


@pytest.mark.parametrize("body", ["doctor", "SPEAKER_00", "IBS", "left knee", "cough and fever", "short of breath",
                                  "twenty", "patient_guest", "sore throat"])
def test_text_in_brackets_is_not_a_tag(body: str) -> None:
    assert not is_non_speech(body)


@pytest.mark.parametrize(
    "text",
    ["and[BLANK_AUDIO] i feel fine", "fine.(coughs) really", "i feel fine [inaudible]", "[Music] i feel fine",
     "i *sighs* feel fine", "i feel <noise> fine", "(coughing) i feel fine (laughs)"],
)
def test_tags_are_blanked_length_preserving(text: str) -> None:
    view = speech_view(text)
    assert len(view) == len(text)
    assert "[" not in view and "(" not in view and "*" not in view and "<" not in view
    assert re.sub(r"\s+", " ", view).strip().endswith(("fine", "really", "fine really"))


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        ("I have a headache [inaudible] and (coughs) I feel fine otherwise.", ("pain",), ("cough",)),
        ("Patient: I'm okay (coughing) really.", (), ("cough",)),
        ("Patient: [crying] I am fine, no complaints.", (), ("depression",)),
        ("shortness of [inaudible] breath since monday", ("dyspnea",), ()),
        ("i threw[BLANK_AUDIO] up twice", ("nausea_vomiting",), ()),
        ("Nurse: noted in the chart (cough and fever).", ("cough",), ()),  # a note's parenthesis stays text
    ],
)
def test_non_speech_tags_are_not_matched(sym, text, present, absent) -> None:
    check(sym, text, present, absent)


@pytest.mark.parametrize("tag", ["[inaudible]", "[Music]", "(coughs)", "[BLANK_AUDIO]", "[laughter]"])
def test_a_tag_at_a_line_start_is_never_a_speaker(tag: str) -> None:
    st = segment_dialogue(speech_view(f"{tag} Doctor: any fever?\n{tag} Patient: no."))
    assert [t.speaker for t in st.turns] == ["Doctor", "Patient"]
    st = segment_dialogue(speech_view(f"{tag} i have a fever\n{tag} it started monday"))
    assert not st.tagged and all(t.speaker is None for t in st.turns)


# -- cue times ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix", ["[00:00:01.200 --> 00:00:03.000] ", "[1.20s -> 3.00s] ", "00:00:01,200 --> 00:00:03,000 ",
               "(00:01:02) ", ""],
)
def test_cue_times_before_speaker_roles(sym, prefix: str) -> None:
    text = (f"{prefix}Doctor: Any nausea or vomiting?\n{prefix}Patient: No, not at all.\n"
            f"{prefix}Doctor: Any fever?\n{prefix}Patient: Yes, since Saturday.\n"
            f"{prefix}Doctor: And pain?\n{prefix}Patient: No.\n")
    st = segment_dialogue(speech_view(text))
    assert [t.role for t in st.turns] == ["clinician", "patient"] * 3
    check(sym, text, present=("fever",), absent=("nausea_vomiting", "pain"))


# -- anonymous diarization labels -----------------------------------------------------------------


@pytest.mark.parametrize("label", ["SPEAKER_00", "SPEAKER_1", "Speaker 2", "speaker_03", "spk0", "SPK_1", "Speaker A",
                                   "S1", "Unknown speaker", "Voice 2"])
def test_anonymous_labels(label: str) -> None:
    assert is_anonymous(label)


@pytest.mark.parametrize("label", ["Doctor", "Mary", "Spike", "Speakers", "Patient", "Dr. Smith", "Sam", ""])
def test_named_labels_are_not_anonymous(label: str) -> None:
    assert not is_anonymous(label)


@pytest.mark.parametrize(("first", "second"), [("SPEAKER_00", "SPEAKER_01"), ("Speaker 2", "Speaker 1"), ("spk1", "spk0")])
@pytest.mark.parametrize("asker_first", [True, False])
def test_roles_of_anonymous_speakers_from_how_they_talk(first: str, second: str, asker_first: bool) -> None:
    asker, answerer = (first, second) if asker_first else (second, first)
    lines = [f"{answerer}: hello doctor i've been feeling poorly"] if not asker_first else []
    lines += [f"{asker}: how are you feeling today?", f"{answerer}: my back hurts and i'm tired.",
              f"{asker}: any fever?", f"{answerer}: no.", f"{asker}: do you sleep well?",
              f"{answerer}: i wake up a lot at night."]
    st = segment_dialogue(speech_view("\n".join(lines)))
    assert st.tagged
    roles = {t.speaker: t.role for t in st.turns}
    assert roles == {asker: "clinician", answerer: "patient"}


def test_role_inference_needs_two_voices_and_a_difference() -> None:
    assert infer_roles({"speaker_00": [("how are you?", True)]}) == {}
    same = [("i am here.", False)]
    assert infer_roles({"speaker_00": same, "speaker_01": same}) == {}


def test_a_named_clinician_leaves_anonymous_voices_unknown() -> None:
    st = segment_dialogue("Doctor: any fever?\nSPEAKER_01: no.\nSPEAKER_02: he had one yesterday.")
    assert [t.role for t in st.turns] == ["clinician", "unknown", "unknown"]


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        (("SPEAKER_00: any shortness of breath\nSPEAKER_01: yeah when i climb stairs\nSPEAKER_00: and any fever\n"
          "SPEAKER_01: no"), ("dyspnea",), ("fever",)),
        (("Speaker 1: How have you been? Any nausea?\nSpeaker 2: No nausea, but I have been coughing.\n"
          "Speaker 1: Do you feel tired?\nSpeaker 2: Yes, very tired."), ("cough", "fatigue"), ("nausea_vomiting",)),
        ("[SPEAKER_00] do you have any pain\n[SPEAKER_01] no\n[SPEAKER_00] trouble sleeping\n[SPEAKER_01] yes",
         ("insomnia",), ("pain",)),
    ],
)
def test_findings_in_anonymous_dialogues(sym, text, present, absent) -> None:
    check(sym, text, present, absent)


# -- punctuation and case -------------------------------------------------------------------------


def test_unpunctuated_is_decided_per_document() -> None:
    assert is_unpunctuated("so how are you doing any fever no")
    assert not is_unpunctuated("So, how are you doing? Any fever? No.")
    assert is_unpunctuated("[doctor] how are you\n[patient] fine\n" * 20)


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        # a question and its answer on one line
        ("any fever no", (), ("fever",)),
        ("do you have any chest pain yeah a little when i walk", ("pain",), ()),
        ("any shortness of breath when you walk no i'm fine", (), ("dyspnea",)),
        ("have you been vomiting nope", (), ("nausea_vomiting",)),
        ("are you sleeping okay not really i wake up every night", (), ()),
        ("any cough mm hmm mostly at night", ("cough",), ()),
        # a list asked without a question word, answered on the same line
        ("chest pain fever chills no nothing like that", (), ("pain", "fever")),
        # several questions share one answer
        ("any fever any chills no", (), ("fever",)),
        # the answer starts with a first-person clause
        ("how have you been i haven't had any fever but i threw up twice", ("nausea_vomiting",), ("fever",)),
        # a new clause stops a negation ("no fever | my stomach hurts")
        ("i haven't had any fever my stomach hurts", ("pain",), ("fever",)),
        ("no cough my back aches", ("pain",), ("cough",)),
        # "no" before a noun is a negation, not a reply
        ("so how are you doing i have no fever but i cough a lot", ("cough",), ("fever",)),
        # fillers and repetitions
        ("um i i threw up uh twice last night", ("nausea_vomiting",), ()),
        ("my my stomach hurts hurts a lot", ("pain",), ()),
        ("i've been um throwing uh throwing up", ("nausea_vomiting",), ()),
        ("i i can't can't sleep at all", ("insomnia",), ()),
        # no case at all, or all capitals
        ("ANY FEVER NO NOT AT ALL", (), ("fever",)),
        ("DO YOU HAVE ANY NAUSEA YES SINCE MONDAY", ("nausea_vomiting",), ()),
        # a question about a clinician's plan stays hypothetical
        ("doctor said i might get a fever if the infection spreads", (), ("fever",)),
    ],
)
def test_unpunctuated_speech(sym, text, present, absent) -> None:
    check(sym, text, present, absent)


@pytest.mark.parametrize("breaks", [(3,), (5, 11), (2, 7, 13)])
def test_lines_broken_anywhere_read_as_one_run(sym, breaks: tuple[int, ...]) -> None:
    words = ["any", "shortness", "of", "breath", "no", "no", "breathing", "is", "fine", "and", "any", "nausea", "yeah", "i", "threw", "up", "twice"]
    lines, last = [], 0
    for b in (*breaks, len(words)):
        lines.append(" ".join(words[last:b]))
        last = b
    check(sym, "\n".join(lines), present=("nausea_vomiting",), absent=("dyspnea",))


def test_unpunctuated_run_is_cut_into_questions_and_replies() -> None:
    text = "any fever no okay and any cough yeah a bit my back hurts"
    st = segment_dialogue(text)
    got = [(text[s.start : s.end], s.question, s.reply) for s in st.sentences]
    assert got == [("any fever", True, False), ("no", False, True), ("okay and any cough", True, False),
                   ("yeah a bit", False, True), ("my back hurts", False, False)]
    assert st.answer_to(st.sentences[0]) == st.sentences[1]
    assert st.answer_to(st.sentences[2]) == st.sentences[3]


def test_punctuated_text_keeps_its_sentences() -> None:
    text = "[doctor] Any fever? Any cough?\n[patient] Not at all. My back hurts, though."
    st = segment_dialogue(text)
    assert [text[s.start : s.end] for s in st.sentences] == ["Any fever?", "Any cough?", "Not at all.",
                                                            "My back hurts, though."]
    assert not st.unpunctuated


# -- field cases ----------------------------------------------------------------------------------

EXPECTED = json.loads((FIELD / "expected.json").read_text(encoding="utf-8"))


def _strip_cue_times(text: str) -> str:
    """What the ``.txt`` input parser hands the rules for a timed transcript: the times taken out."""
    return re.sub(r"^\[[^\]]*-->[^\]]*\]\s*", "", text, flags=re.MULTILINE)


@pytest.mark.parametrize(
    ("name", "prepare"),
    [("asr-unpunctuated.txt", None), ("whisper-timestamps.txt", None), ("whisper-timestamps.txt", _strip_cue_times)],
)
def test_field_case(name: str, prepare) -> None:
    case = EXPECTED[name]
    text = (FIELD / name).read_text(encoding="utf-8")
    if prepare:
        text = prepare(text)
    got = RuleExtractor(load_task(case["task"])).analyse(prepare_for_rules(text, "en")).findings()
    assert [k for k in case["true"] if not got[k].value] == []
    assert [k for k in case["false"] if got[k].value] == []
