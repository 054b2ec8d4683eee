"""Assertion at the level of ConText (issue #17): every modifier class, sentence by sentence, in English
and Persian, through the real rule pipeline (medspaCy ConText + ``appliance.rules.scope``).

Each case is (text, {feature: expected status}); statuses: present, absent, history_only, hypothetical,
uncertain, family. The sentences are this project's own and differ from the benchmark's
(``bench/context/``), which measures the same classes on sentences not used here.
"""

from __future__ import annotations

import json

import pytest

from appliance.rules import RuleExtractor
from appliance.tasks import load_task
from tests.support.paths import DATA
from tests.support.rulecheck import check

pytest.importorskip("medspacy")


# -- English --------------------------------------------------------------------------------------

NEGATION_EN = [
    ("No cough or fever.", {"cough": "absent", "fever": "absent"}),
    ("No chest pain or shortness of breath.", {"pain": "absent", "dyspnea": "absent"}),
    ("No nausea or vomiting.", {"nausea_vomiting": "absent"}),
    ("No headache, sore throat, cough, runny nose or fever.", {"pain": "absent", "cough": "absent", "fever": "absent"}),
    ("She denies diarrhea, constipation, blood in the stool or abdominal pain.",
     {"diarrhea": "absent", "constipation": "absent", "bleeding": "absent", "pain": "absent"}),
    ("Patient denies any fevers, night sweats, unintentional weight loss, cough, or shortness of breath.",
     {"fever": "absent", "cough": "absent", "dyspnea": "absent"}),
    ("I don't have any nausea, vomiting or diarrhea.", {"nausea_vomiting": "absent", "diarrhea": "absent"}),
    ("He hasn't had fevers or chills or a cough.", {"fever": "absent", "cough": "absent"}),
    ("Without nausea or vomiting.", {"nausea_vomiting": "absent"}),
    ("Negative for chest pain, palpitations and shortness of breath.", {"pain": "absent", "dyspnea": "absent"}),
    ("never had any trouble breathing or coughing", {"dyspnea": "absent", "cough": "absent"}),
    ("no fevers no chills no vomiting", {"fever": "absent", "nausea_vomiting": "absent"}),
    ("Okay, no fever and no cough.", {"fever": "absent", "cough": "absent"}),
    ("Fatigue, none.", {"fatigue": "absent"}),
    ("Chest pain or trouble breathing, no.", {"pain": "absent", "dyspnea": "absent"}),
    ("I thought I was getting a fever, but no.", {"fever": "absent"}),
]

# A sentence-initial "No" negates a list whether or not a question came before, and is an answer
# particle (negating nothing after it) when the answer's own clause follows.
PARTICLES_EN = [
    ("Doctor: Anything else?\nPatient: No cough or fever.", {"cough": "absent", "fever": "absent"}),
    ("Doctor: How have you been?\nPatient: No nausea or vomiting this week.", {"nausea_vomiting": "absent"}),
    ("Nurse: Any problems?\nPatient: No bleeding or diarrhea.", {"bleeding": "absent", "diarrhea": "absent"}),
    ("Doctor: Anything else bothering you?\nPatient: No, it's just the pain in my knee.", {"pain": "present"}),
    ("Doctor: Other symptoms?\nPatient: No, only the cough.", {"cough": "present"}),
    ("Doctor: Is the medicine working?\nPatient: No, I still have the headaches.", {"pain": "present"}),
    ("Doctor: Sleeping well?\nPatient: No, I can't sleep at all.", {"insomnia": "present"}),
    ("Doctor: Any better?\nPatient: No, my back hurts more.", {"pain": "present"}),
    ("Doctor: Is it better?\nPatient: No the nausea is worse.", {"nausea_vomiting": "present"}),
    ("Doctor: Any fever?\nPatient: No, no fever.", {"fever": "absent"}),
    ("Doctor: Any fever?\nPatient: Nope.", {"fever": "absent"}),
    ("no i've been coughing a lot", {"cough": "present"}),
]

TERMINATION_EN = [
    ("No fever but a bad cough.", {"fever": "absent", "cough": "present"}),
    ("She denies nausea; however, she has diarrhea.", {"nausea_vomiting": "absent", "diarrhea": "present"}),
    ("No chest pain, though he is short of breath on stairs.", {"pain": "absent", "dyspnea": "present"}),
    ("No vomiting, which is good, but she is exhausted.", {"nausea_vomiting": "absent", "fatigue": "present"}),
    ("I don't have a fever and I've been coughing all week.", {"fever": "absent", "cough": "present"}),
    ("no headache i have diarrhea though", {"pain": "absent", "diarrhea": "present"}),
    ("No diarrhea except for some constipation.", {"diarrhea": "absent", "constipation": "present"}),
    ("The cough, which began on Monday, keeps her up at night.", {"cough": "present"}),
]

HISTORY_EN = [
    ("She has a history of migraines.", {"pain": "history_only"}),
    ("I used to have a cough every winter.", {"cough": "history_only"}),
    ("He had diarrhea last year.", {"diarrhea": "history_only"}),
    ("In the past, I had depression.", {"depression": "history_only"}),
    ("When I was a teenager I had terrible headaches.", {"pain": "history_only"}),
    ("The nausea resolved after the first week.", {"nausea_vomiting": "history_only"}),
    ("Her fever went away on Sunday.", {"fever": "history_only"}),
    ("Prior history of GI bleeding.", {"bleeding": "history_only"}),
    ("Insomnia in the past, now sleeping well.", {"insomnia": "history_only"}),
    # "still", "again", "since": current after all
    ("I had back pain years ago and I still have it.", {"pain": "present"}),
    ("History of anxiety, currently very anxious again.", {"anxiety": "present"}),
    ("The cough came back this week.", {"cough": "present"}),
]

HYPOTHETICAL_EN = [
    ("If you have a fever, take the Tylenol.", {"fever": "hypothetical"}),
    ("Call us if you notice bleeding or black stools.", {"bleeding": "hypothetical"}),
    ("Call if you develop chest pain, shortness of breath or vomiting.",
     {"pain": "hypothetical", "dyspnea": "hypothetical", "nausea_vomiting": "hypothetical"}),
    ("In case of diarrhea, drink plenty of fluids.", {"diarrhea": "hypothetical"}),
    ("There is a small risk of bleeding after the biopsy.", {"bleeding": "hypothetical"}),
    ("Should you feel short of breath, use your inhaler.", {"dyspnea": "hypothetical"}),
    ("This drug can cause constipation.", {"constipation": "hypothetical"}),
    ("You might feel tired for a few days.", {"fatigue": "hypothetical"}),
    ("Return to the emergency department for fever or vomiting.", {"fever": "hypothetical",
                                                                   "nausea_vomiting": "hypothetical"}),
    ("Ondansetron as needed for nausea.", {"nausea_vomiting": "hypothetical"}),
    ("If the headaches get worse, you can double the dose.", {"pain": "hypothetical"}),
    ("Some patients get insomnia from steroids.", {"insomnia": "hypothetical"}),
    ("If anything, my cough is worse.", {"cough": "present"}),
]

# Uncertain: value False (status 'uncertain'): the finding is neither confirmed nor excluded.
UNCERTAIN_EN = [
    ("Possible fever at home.", {"fever": "uncertain"}),
    ("Rule out bleeding.", {"bleeding": "uncertain"}),
    ("Cannot exclude a small bleed.", {"bleeding": "uncertain"}),
    ("Could be depression.", {"depression": "uncertain"}),
    ("Suspected migraine.", {"pain": "uncertain"}),
    ("Diarrhea cannot be excluded.", {"diarrhea": "uncertain"}),
    # a hedge that still asserts the finding carries no cue
    ("She probably has a fever.", {"fever": "present"}),
]

EXPERIENCER_EN = [
    ("My father has a chronic cough.", {"cough": "family"}),
    ("Her mother suffered from depression.", {"depression": "family"}),
    ("Family history of migraines.", {"pain": "family"}),
    ("Family history significant for depression.", {"depression": "family"}),
    ("Anxiety runs in my family.", {"anxiety": "family"}),
    ("Another patient on the ward has diarrhea.", {"diarrhea": "family"}),
    ("My son has had a fever since Friday and I have a cough.", {"fever": "family", "cough": "present"}),
    # the relative reports on the patient: not another person's finding
    ("My wife says I cough all night.", {"cough": "present"}),
    ("Daughter: My mother has been vomiting since yesterday.", {"nausea_vomiting": "present"}),
]

DOUBLE_NEGATION_EN = [
    ("I'm never not tired.", {"fatigue": "present"}),
    ("I can't say I'm not anxious.", {"anxiety": "present"}),
    ("There isn't a night I don't wake up at night.", {"insomnia": "present"}),
    ("Not a day goes by without pain.", {"pain": "present"}),
    ("I can't eat anything without throwing up.", {"nausea_vomiting": "present"}),
    ("It's not that I don't have a cough.", {"cough": "present"}),
    ("I can't say I have a fever.", {"fever": "absent"}),
    ("I wouldn't say I'm depressed.", {"depression": "absent"}),
]


@pytest.mark.parametrize(("text", "want"), NEGATION_EN)
def test_negation_scopes_over_lists_and_multiword_terms(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want)


@pytest.mark.parametrize(("text", "want"), PARTICLES_EN)
def test_sentence_initial_no_is_decided_by_structure(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want)


@pytest.mark.parametrize(("text", "want"), TERMINATION_EN)
def test_termination(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want)


@pytest.mark.parametrize(("text", "want"), HISTORY_EN)
def test_historical(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want)


@pytest.mark.parametrize(("text", "want"), HYPOTHETICAL_EN)
def test_hypothetical(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want)


@pytest.mark.parametrize(("text", "want"), UNCERTAIN_EN)
def test_uncertain_is_not_present(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want)


@pytest.mark.parametrize(("text", "want"), EXPERIENCER_EN)
def test_experiencer(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want)


@pytest.mark.parametrize(("text", "want"), DOUBLE_NEGATION_EN)
def test_double_negation(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want)


# -- Persian --------------------------------------------------------------------------------------

NEGATION_FA = [
    ("تب و لرز و سرفه ندارد.", {"fever": "absent", "cough": "absent"}),
    ("بیمار تهوع، استفراغ، اسهال و یبوست ندارد.",
     {"nausea_vomiting": "absent", "diarrhea": "absent", "constipation": "absent"}),
    ("درد قفسه سینه و تنگی نفس نداره.", {"pain": "absent", "dyspnea": "absent"}),
    ("نه سرفه داره نه تب.", {"cough": "absent", "fever": "absent"}),
    ("بدون درد و خونریزی.", {"pain": "absent", "bleeding": "absent"}),
    ("دیگه اسهال نداره.", {"diarrhea": "absent"}),
    ("خسته نیست و استرس هم نداره.", {"fatigue": "absent", "anxiety": "absent"}),
    ("اپراتور: مشکل دیگه‌ای داره؟\nهمراه بیمار: تب و سرفه نداره.", {"fever": "absent", "cough": "absent"}),
    ("اپراتور: تب داره؟\nدختر: نه.", {"fever": "absent"}),
    # an answer "نه" followed by the answer's own clause negates nothing
    ("اپراتور: بهتره؟\nهمراه بیمار: نه، سرفه‌هاش بیشتر شده.", {"cough": "present"}),
    ("اپراتور: مشکل دیگه؟\nهمراه بیمار: نه، فقط پاش درد می‌کنه.", {"pain": "present"}),
]

TERMINATION_FA = [
    ("تب نداره ولی سرفه می‌کنه.", {"fever": "absent", "cough": "present"}),
    ("اسهال نداره اما حالت تهوع داره.", {"diarrhea": "absent", "nausea_vomiting": "present"}),
    ("درد نداره، البته خیلی ضعف داره.", {"pain": "absent", "fatigue": "present"}),
    ("خونریزی نداره ولی یبوست شدید داره.", {"bleeding": "absent", "constipation": "present"}),
    ("سرفه می‌کنه و تب نداره.", {"cough": "present", "fever": "absent"}),
]

HISTORY_FA = [
    ("سابقه میگرن دارد.", {"pain": "history_only"}),
    ("پارسال اسهال شدید داشت.", {"diarrhea": "history_only"}),
    ("قبلاً تنگی نفس داشت.", {"dyspnea": "history_only"}),
    ("سرفه‌اش برطرف شده.", {"cough": "history_only"}),
    ("قبلاً سردرد داشت و هنوز هم سردرد داره.", {"pain": "present"}),
]

HYPOTHETICAL_FA = [
    ("اگر تب کرد به ما زنگ بزنید.", {"fever": "hypothetical"}),
    ("اگه خونریزی داشت سریع بیاریدش بیمارستان.", {"bleeding": "hypothetical"}),
    ("در صورت استفراغ این قرص را بدهید.", {"nausea_vomiting": "hypothetical"}),
    ("این دارو ممکنه باعث یبوست بشه.", {"constipation": "hypothetical"}),
    ("هر وقت درد داشت مسکن بخوره.", {"pain": "hypothetical"}),
]

UNCERTAIN_FA = [
    ("شاید تب داشته باشه.", {"fever": "uncertain"}),
    ("مشکوک به خونریزی است.", {"bleeding": "uncertain"}),
]

EXPERIENCER_FA = [
    ("سابقه خانوادگی افسردگی دارد.", {"depression": "family"}),
    ("بیمار اتاق بغلی سرفه می‌کنه.", {"cough": "family"}),
    # a relative speaking about the patient: the patient's finding
    ("همراه بیمار: مادرم خیلی درد داره.", {"pain": "present"}),
]

DOUBLE_NEGATION_FA = [
    ("نمی‌تونم بگم خسته نیستم.", {"fatigue": "present"}),
    ("روزی نیست که درد نداشته باشه.", {"pain": "present"}),
    ("بدون درد نیست.", {"pain": "present"}),
    ("نمی‌تونم بگم تب دارم.", {"fever": "absent"}),
]


@pytest.mark.parametrize(("text", "want"), NEGATION_FA)
def test_persian_negation(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want, "fa")


@pytest.mark.parametrize(("text", "want"), TERMINATION_FA)
def test_persian_termination(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want, "fa")


@pytest.mark.parametrize(("text", "want"), HISTORY_FA)
def test_persian_historical(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want, "fa")


@pytest.mark.parametrize(("text", "want"), HYPOTHETICAL_FA)
def test_persian_hypothetical(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want, "fa")


@pytest.mark.parametrize(("text", "want"), UNCERTAIN_FA)
def test_persian_uncertain(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want, "fa")


@pytest.mark.parametrize(("text", "want"), EXPERIENCER_FA)
def test_persian_experiencer(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want, "fa")


@pytest.mark.parametrize(("text", "want"), DOUBLE_NEGATION_FA)
def test_persian_double_negation(sym: RuleExtractor, text: str, want: dict) -> None:
    check(sym, text, want, "fa")


# -- field cases (copies of ../shared/field-cases in tests/data/field-cases, with expected.json) ------

FIELD = DATA / "field-cases"
EXPECTED = json.loads((FIELD / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["negation-list-dyspnea.txt", "negation-list-nausea.txt", "negation-list-mixed.txt"])
def test_field_cases_negated_lists(name: str) -> None:
    case = EXPECTED[name]
    out = RuleExtractor(load_task(case["task"])).extract((FIELD / name).read_text(encoding="utf-8"), None)
    assert [k for k in case["true"] if not out[k].value] == []
    assert [k for k in case["false"] if out[k].value] == []
    assert case["false"]  # each case names findings that must come out False
