"""Matching that survives real language (#13 item 3), one class of cases per kind: misspellings (bounded
edit distance, with guards), clinical shorthand, checklist lines. Field cases of each kind pinned at the
end."""

from __future__ import annotations

import json

import pytest

from appliance.rules import RuleExtractor, prepare_for_rules
from appliance.rules.fuzzy import SpellingCorrector, common_words
from appliance.rules.lexicon import Term
from appliance.rules.matchtext import build_match_text
from appliance.rules.segment import segment_dialogue
from appliance.tasks import load_task, parse_task
from tests.support.paths import DATA

pytest.importorskip("medspacy")

FIELD = DATA / "field-cases"


def findings(rx: RuleExtractor, text: str, lang: str = "en"):
    out = rx.extract(text, lang)
    for f in out.values():
        for s in f.evidence:
            assert text[s.start : s.end] == s.text  # offsets index the user's text, whatever was rewritten
    return out


def status(rx: RuleExtractor, text: str) -> dict[str, str]:
    return {k: f.status for k, f in findings(rx, text).items() if f.status != "not_mentioned"}


# -- misspellings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "key"),
    [
        ("vommiting", "nausea_vomiting"),  # doubled letter
        ("vomitting", "nausea_vomiting"),
        ("nausia", "nausea_vomiting"),  # substitution
        ("nauseus", "nausea_vomiting"),  # dropped letter
        ("diarhea", "diarrhea"),
        ("diarrhae", "diarrhea"),  # transposition
        ("constipaton", "constipation"),
        ("constipatoin", "constipation"),  # transposition
        ("headahce", "pain"),
        ("headace", "pain"),
        ("fatige", "fatigue"),
        ("exhausted", "fatigue"),  # spelt right: the exact term
        ("insomina", "insomnia"),
        ("anxeity", "anxiety"),
        ("depresion", "depression"),
        ("bleedng", "bleeding"),
        ("feverish", "fever"),
        ("coughting", "cough"),
        ("shortnes of breath", "dyspnea"),  # a word of a phrase
        ("shortness of breth", None),  # ... but "breth" is too short to correct
    ],
)
def test_misspelt_terms_match(sym, word: str, key: str | None) -> None:
    got = findings(sym, f"Patient reports {word} since Monday.")
    present = sorted(k for k, f in got.items() if f.status == "present")
    assert present == ([key] if key else [])
    if key:
        assert got[key].evidence[0].text.lower() == word.split()[0] or " " in word


@pytest.mark.parametrize(
    "word",
    # real English words one or two edits from a lexicon word: never corrected
    ["camping", "breeding", "hunting", "roughing", "arching", "feeding", "fevered", "painted", "dealing", "nervous",
     "coughed", "sneezing", "sleeping", "drained", "pressing", "tried", "tires", "pains", "sure", "sort", "poor",
     "bleach", "nautical", "dairy"],
)
def test_common_words_are_never_corrected(sym, word: str) -> None:
    corrector = SpellingCorrector([Term(k, t, "builtin") for k, t in (
        ("cough", "coughing"), ("bleeding", "bleeding"), ("pain", "hurting"), ("pain", "cramping"),
        ("pain", "aching"), ("nausea_vomiting", "nauseous"), ("fever", "feverish"), ("diarrhea", "diarrhea"))])
    if word in common_words():
        assert corrector(word) is None
    base = {k for k, f in findings(sym, "I went there.").items() if f.status == "present"}
    got = {k for k, f in findings(sym, f"I went {word} there.").items() if f.status == "present"}
    exact = {k for k, f in findings(sym, f"I went {word} there.").items() for s in f.evidence if s.text.lower() == word}
    assert got - base <= exact  # only a lexicon term spelt exactly so may match


@pytest.mark.parametrize("word", ["pian", "pain", "sroe", "tird", "feverr", "cuogh"])
def test_short_words_are_not_corrected(word: str) -> None:
    corrector = SpellingCorrector([Term("pain", "pain", "b"), Term("pain", "sore", "b"), Term("fatigue", "tired", "b"),
                                   Term("fever", "fever", "b"), Term("cough", "cough", "b")])
    assert corrector(word) is None


def test_a_misspelling_between_two_features_is_left_alone() -> None:
    corrector = SpellingCorrector([Term("a", "blisters", "b"), Term("b", "blasters", "b"), Term("c", "coughing", "b")])
    assert corrector("blusters") is None  # one edit from both: ambiguous
    assert corrector("cuoghing") == "coughing"


def test_names_inside_a_sentence_are_not_corrected(sym) -> None:
    assert "cough" not in status(sym, "I saw Dr. Coughlin yesterday and I feel fine.")
    assert status(sym, "Coughin all night.").get("cough") == "present"  # a capital at a sentence start is not a name


def test_persian_is_matched_exactly(sym) -> None:
    assert sym.analyse(prepare_for_rules("درد دارم", "fa")).findings()["pain"].status == "present"


def test_a_clinic_lexicon_gets_the_same_correction() -> None:
    task = parse_task(json.dumps({"name": "clinic_wheeze", "instruction": "Extract.", "features": [
        {"key": "wheeze", "labels": {"en": "Wheezing"}, "definition": "Wheezing now.",
         "lexicon": {"en": ["wheezing"]}}]}), "<test>")
    rx = RuleExtractor(task)
    assert rx.extract("Some wheezzing at night.", "en")["wheeze"].status == "present"


# -- clinical shorthand ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        ("Pt c/o SOB and N/V x2 days, denies CP.", ("dyspnea", "nausea_vomiting"), ("pain",)),
        ("c/o n/v/d since Friday.", ("nausea_vomiting", "diarrhea"), ()),
        ("Denies n/v/d.", (), ("nausea_vomiting", "diarrhea")),
        ("Reports f/c overnight.", ("fever",), ()),
        ("Denies f/c.", (), ("fever",)),
        ("HA since this morning.", ("pain",), ()),
        ("c/o h/a and abd pain.", ("pain",), ()),
        ("ha ha, that's funny.", (), ("pain",)),  # a laugh, not a headache: HA is case-sensitive
        ("DOE when climbing stairs.", ("dyspnea",), ()),
        ("Spoke with John Doe about the bill.", (), ("dyspnea",)),
        ("No BM x3 days.", ("constipation",), ()),
        ("N&V after chemo.", ("nausea_vomiting",), ()),
        ("CP/SOB on exertion.", ("pain", "dyspnea"), ()),
        ("Denies CP, SOB.", (), ("pain", "dyspnea")),
        ("+HA, DOE. Denies f/c.", ("pain", "dyspnea"), ("fever",)),
        ("BRBPR this week.", ("bleeding",), ()),
        ("LBP for a month.", ("pain",), ()),
    ],
)
def test_shorthand(sym, text: str, present: tuple[str, ...], absent: tuple[str, ...]) -> None:
    got = status(sym, text)
    for k in present:
        assert got.get(k) == "present", (k, got)
    for k in absent:
        assert got.get(k) != "present", (k, got)


def test_shorthand_spans_are_the_letters_written(sym) -> None:
    got = findings(sym, "Pt has n/v/d and SOB.")
    assert got["nausea_vomiting"].evidence[0].text in ("n", "n/v")
    assert got["diarrhea"].evidence[0].text == "d"
    assert got["dyspnea"].evidence[0].text == "SOB"


def test_match_text_maps_back() -> None:
    view = "Pt c/o SOB, um, my my stomach [x] hurts; vommiting."
    mt = build_match_text(view, False, "en", lambda w: "vomiting" if w == "vommiting" else None)
    assert mt.text == "Pt complains of shortness of breath, , my stomach [x] hurts; vomiting."
    i = mt.text.index("vomiting")
    a, b = mt.to_source(i, i + len("vomiting"))
    assert view[a:b] == "vommiting"
    i = mt.text.index("shortness of breath")
    a, b = mt.to_source(i, i + len("shortness of breath"))
    assert view[a:b] == "SOB"


# -- checklist lines ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        ("Nurse: Quick review.\nFever: No\nCough: Yes", ("cough",), ("fever",)),
        ("Patient: I filled in the form.\nFever: No\nCough: Yes", ("cough",), ("fever",)),  # not the patient's question
        ("Doctor: Review of systems.\n- Nausea: N\n- Diarrhea: Y", ("diarrhea",), ("nausea_vomiting",)),
        ("Nurse: Symptom checklist\nFever: no, Cough: yes; Constipation: denies", ("cough",), ("fever", "constipation")),
        ("Fever: negative\nInsomnia: positive\nBleeding: -\nCough: +", ("insomnia", "cough"), ("fever", "bleeding")),
        ("Caregiver: Tick-box form.\nShortness of breath: yes\nTrouble sleeping: no\nVomiting: no",
         ("dyspnea",), ("insomnia", "nausea_vomiting")),
        ("[nurse] checklist\nPain: Yes.\nFatigue: No.", ("pain",), ("fatigue",)),
        ("Fever: absent\nDiarrhea: present", ("diarrhea",), ("fever",)),
        ("Doctor: How is the pain today?\nPain: 7/10\nPatient: Still there.", ("pain",), ()),  # content, not a speaker
    ],
)
def test_checklist_lines(sym, text: str, present: tuple[str, ...], absent: tuple[str, ...]) -> None:
    got = status(sym, text)
    for k in present:
        assert got.get(k) == "present", (k, got)
    for k in absent:
        assert got.get(k) != "present", (k, got)


@pytest.mark.parametrize(
    "text",
    ["Nurse: Quick review.\nConstipation: Yes", "Doctor: hello\nBleeding: No\nDiarrhea: no",
     "Nurse: x\n- Fever: y, Cough: n"],
)
def test_checklist_labels_are_never_speakers(text: str) -> None:
    st = segment_dialogue(text)
    assert [t.speaker for t in st.turns] == [text.split(":")[0]]
    q = [s for s in st.sentences if s.question]
    assert q and all(st.answer_to(s) is not None and st.answer_to(s).reply for s in q)
    assert all(s.role == "unknown" for s in q)


@pytest.mark.parametrize(
    ("text", "roles"),
    [
        ("Doctor: Any fever?\nPatient: yes", ["clinician", "patient"]),  # a role with a value is a turn
        ("Doctor: Any cough?\nMary: No.\nDoctor: Any pain?\nMary: Yes.", ["clinician", "unknown"] * 2),
        ("Doctor: Any fever?\nSPEAKER_01: no", ["clinician", "unknown"]),
    ],
)
def test_speakers_answering_yes_or_no_stay_speakers(text: str, roles: list[str]) -> None:
    assert [t.role for t in segment_dialogue(text).turns] == roles


def test_named_speakers_answer(sym) -> None:
    got = status(sym, "Doctor: Any cough?\nMary: No.\nDoctor: Any pain?\nMary: Yes.")
    assert got == {"cough": "absent", "pain": "present"}


# -- field cases ----------------------------------------------------------------------------------

EXPECTED = json.loads((FIELD / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["abbreviations.txt", "checklist-lines.txt"])
def test_field_case(name: str) -> None:
    case = EXPECTED[name]
    text = (FIELD / name).read_text(encoding="utf-8")
    got = RuleExtractor(load_task(case["task"])).analyse(prepare_for_rules(text, "en")).findings()
    assert [k for k in case["true"] if not got[k].value] == []
    assert [k for k in case["false"] if got[k].value] == []
