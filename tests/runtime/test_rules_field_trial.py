"""The rules on text shaped like what integrators really drop (issue #13, items 2-4; found by trying it).

Each kind is a class of cases:
* a model's control-token strings glued to a word (``nausea</s>``, ``pain[/INST]``) hide the word from
  the rule tokenizer unless the speech view blanks them; a bracketed speaker tag stays a speaker;
* a lexicon term never spans a sentence start ("Appetite: poor" / "Sleep: ok" is not "poor sleep"),
  while a phrase wrapped across lines inside a sentence still matches;
* shorthand said twice in a row is not shorthand ("HA HA" is a laugh in an upper-case transcript);
* "sob" as the idiom or the verb is not shortness of breath;
* checklist lines with a spaced dash (``Fever - no``).
"""

from __future__ import annotations

import pytest

from appliance.rules import RuleExtractor
from appliance.rules.segment import segment_dialogue
from appliance.rules.speech import speech_view

pytest.importorskip("medspacy")

CONTROL = ["<|im_end|>", "<|endoftext|>", "</s>", "<s>", "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>",
           "<|eot_id|>", "<|start_header_id|>", "[INST]", "[/INST]", "<<SYS>>", "<｜end▁of▁sentence｜>",
           "<0x0A>", "[SEP]", "<i>"]


def statuses(rx: RuleExtractor, text: str) -> dict[str, str]:
    out = {}
    for key, f in rx.extract(text, "en").items():
        for s in f.evidence:
            assert text[s.start : s.end] == s.text
        if f.status != "not_mentioned":
            out[key] = f.status
    return out


# -- control tokens glued to words ---------------------------------------------------------------


@pytest.mark.parametrize("token", CONTROL)
@pytest.mark.parametrize("shape", ["Patient: I have nausea{t}\n", "Patient: {t}I have nausea\n",
                                   "Patient: I have a cough.{t}and nausea{t}\nDoctor: ok{t}\n"])
def test_words_glued_to_control_strings_are_read(sym, token, shape):
    got = statuses(sym, shape.format(t=token))
    assert got.get("nausea_vomiting") == "present", got


@pytest.mark.parametrize("token", CONTROL)
def test_control_strings_are_blanked_in_the_view_length_preserving(token):
    text = f"nausea{token}fever"
    view = speech_view(text)
    assert len(view) == len(text) and view.split() == ["nausea", "fever"]


@pytest.mark.parametrize("text", ["[doctor] any fever?\n[patient] no", "[SPEAKER_00] any fever?\n[SPEAKER_01] no",
                                  "blood pressure < 90 and > 60", "<3 thanks"])
def test_other_brackets_stay(text):
    assert speech_view(text) == text


def test_a_control_string_at_a_line_start_is_no_speaker():
    st = segment_dialogue(speech_view("[INST] Doctor: any fever?\n[/INST] Patient: no."))
    assert [t.speaker for t in st.turns] == ["Doctor", "Patient"]


# -- terms within one sentence -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("Appetite: poor\nSleep: ok\n", "insomnia"),
        ("Nurse: Appetite: poor\nSleep: fine\nMood: good\n", "insomnia"),
        ("Patient: I feel short\nOf breath? no, that's fine. Not short of anything.\n", "dyspnea"),
    ],
)
def test_a_term_never_spans_a_sentence_start(sym, text, absent):
    assert statuses(sym, text).get(absent) != "present"


@pytest.mark.parametrize(
    ("text", "present"),
    [
        ("i have been short of\nbreath since monday", "dyspnea"),
        ("Patient: I have shortness of\nbreath when I walk.", "dyspnea"),
        ("Patient: I've had trouble\nsleeping all week.", "insomnia"),
    ],
)
def test_a_term_wrapped_inside_a_sentence_still_matches(sym, text, present):
    assert statuses(sym, text).get(present) == "present"


# -- shorthand said twice ---------------------------------------------------------------------------------


@pytest.mark.parametrize("laugh", ["HA HA", "HA HA HA.", "HA, HA!", "Ha Ha", "HA HA HA HA"])
def test_a_repeated_shorthand_key_is_a_laugh(sym, laugh):
    assert statuses(sym, f"PATIENT: {laugh} THAT'S FUNNY.\nDOCTOR: OK.\n").get("pain") is None


@pytest.mark.parametrize("text", ["Pt c/o HA.", "PATIENT: I HAVE A HA TODAY.", "Pt c/o HA, N/V x2 days."])
def test_single_shorthand_still_expands(sym, text):
    assert statuses(sym, text).get("pain") == "present"


# -- sob -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Patient: it's a real sob story honestly.", "Daughter: she started to sob.",
                                  "Patient: sob stories everywhere."])
def test_sob_as_idiom_or_verb_is_not_dyspnea(sym, text):
    assert statuses(sym, text).get("dyspnea") is None


@pytest.mark.parametrize("text", ["Pt c/o SOB.", "Nurse: pt reports sob on exertion."])
def test_sob_as_shorthand_still_counts(sym, text):
    assert statuses(sym, text).get("dyspnea") == "present"


# -- checklist lines with a dash --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        ("Nurse: going through the list\nFever - no\nCough - yes\n", ("cough",), ("fever",)),
        ("Nurse: checklist\n- Fever - no\n- Bleeding – N\n- Diarrhea — denies\n", (), ("fever", "bleeding", "diarrhea")),
        ("Fever - no, Cough - yes\n", ("cough",), ("fever",)),
    ],
)
def test_checklist_lines_with_a_dash(sym, text, present, absent):
    got = statuses(sym, text)
    for k in present:
        assert got.get(k) == "present", (k, got)
    for k in absent:
        assert got.get(k) != "present", (k, got)


def test_a_dash_inside_speech_is_not_a_checklist(sym):
    assert statuses(sym, "Patient: I was so tired - no energy at all.\n").get("fatigue") == "present"


# -- a closed short answer, then a statement, without punctuation ------------------------------------------


@pytest.mark.parametrize(
    "answer",
    ["no not really i just feel tired", "uh no not really im just tired", "not really i have been so tired",
     "no nothing like that i do get tired though", "um no not like that ive been tired"],
)
def test_a_closed_answer_does_not_negate_the_statement_after_it(sym, answer):
    text = f"doctor: any chest pain or shortness of breath\npatient: {answer}\ndoctor: okay\n"
    got = statuses(sym, text)
    assert got.get("fatigue") == "present", got
    assert got.get("pain") != "present" and got.get("dyspnea") != "present", got


@pytest.mark.parametrize("text", ["patient: not really tired", "patient: i am not really tired at all",
                                  "patient: nothing like that i mean no tiredness"])
def test_negation_inside_one_clause_still_holds(sym, text):
    assert statuses(sym, text).get("fatigue") != "present"
