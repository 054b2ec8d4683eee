"""Rule baseline (appliance.rules) and the text normaliser (appliance.normalize)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from appliance.normalize import is_persian, normalize, normalize_with_offsets
from appliance.rules import RuleExtractor, RuleFinding, prepare_for_rules
from appliance.rules.answers import answer_polarity
from appliance.rules.lexicon import label_terms
from appliance.rules.segment import segment_dialogue
from appliance.rules.speakers import speaker_role
from appliance.tasks import Task, load_task, parse_task

pytest.importorskip("medspacy")


@pytest.fixture(scope="module")
def pal() -> RuleExtractor:
    return RuleExtractor(load_task("palliative13"))


def status(rx: RuleExtractor, text: str, lang: str = "en") -> dict[str, str]:
    return {k: f.status for k, f in rx.extract(text, lang).items()}


def select_evidence(rx: RuleExtractor, text: str, lang: str, key: str, **kw) -> list[str]:
    return rx.analyse(prepare_for_rules(text, lang)).select_evidence(key, **kw)


# -- normaliser -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("بيمار", "بیمار"),  # Arabic yeh -> Persian yeh
        ("كمر درد", "کمر درد"),  # Arabic kaf -> Persian kaf
        ("دما ۳۸٫۵ و ٤٠", "دما 38.5 و 40"),  # Persian and Arabic-Indic digits, decimal separator
        ("قبلاً", "قبلا"),  # tanwin removed
        ("خــسته", "خسته"),  # tatweel removed
        ("می\u200c\u200cکند", "می\u200cکند"),  # repeated ZWNJ collapsed
        ("درد \u200cدارد\u200c", "درد دارد"),  # ZWNJ next to a space or at the end removed
        ("نمی\u200bکند", "نمی\u200cکند"),  # zero-width space typed for ZWNJ
        ("ﺑﻴﻤﺎﺭ", "بیمار"),  # presentation forms (PDF copy) -> letters, then yeh fixed
        ("رسالة", "رساله"),  # teh marbuta
    ],
)
def test_normalize_persian(raw: str, want: str) -> None:
    assert normalize(raw, "fa") == want
    assert normalize(want, "fa") == want  # idempotent


def test_normalize_other_languages_keep_arabic_letters_but_fix_digits_and_quotes() -> None:
    assert normalize("don’t\r\nstop ۱۲", "en") == "don't\nstop 12"
    assert normalize("مستشفى", "ar") == "مستشفى"  # Arabic text is not Persianised


def test_normalize_offsets_point_into_the_original() -> None:
    raw = "قبلاً تب داشت، الان سردرد دارد"
    norm, offs = normalize_with_offsets(raw, "fa")
    assert len(offs) == len(norm) + 1 and offs[-1] == len(raw)
    i = norm.index("سردرد")
    assert raw[offs[i] : offs[i + len("سردرد")]] == "سردرد"


def test_is_persian_detects_script_without_a_code() -> None:
    assert is_persian(None, "بیمار درد دارد")
    assert not is_persian(None, "the patient has pain")
    assert is_persian("fa-IR") and is_persian("fas") and not is_persian("en")


# -- dialogue structure ---------------------------------------------------------------------------


def test_speaker_tags_and_roles() -> None:
    text = (
        "Dr. Smith: Any pain?\n[patient_guest] She has pain.\nNurse: Okay.\nپزشک: تب دارد؟\nهمراه بیمار: نه."
    )
    st = segment_dialogue(normalize(text, "en"))
    assert [t.role for t in st.turns] == ["clinician", "family", "clinician", "clinician", "family"]
    assert speaker_role("Patient's daughter") == "family"
    assert speaker_role("Patient") == "patient"
    assert speaker_role("Speaker 2") == "unknown"


def test_unpunctuated_turn_is_split_before_its_question() -> None:
    st = segment_dialogue("[doctor] okay i see that you had knee surgery are you having any pain\n[patient] yeah")
    assert [s.question for s in st.sentences] == [False, True, False]


@pytest.mark.parametrize(
    ("answer", "want"),
    [
        ("Yes.", "yes"),
        ("Yeah, a little bit.", "yes"),
        ("um , i do .", "yes"),
        ("Sometimes.", "yes"),
        ("No.", "no"),
        ("Nope.", "no"),
        ("Not really.", "no"),
        ("I don't think so.", "no"),
        ("yeah i'm taking the medicine , and no none of those symptoms", "no"),
        ("It's been okay.", None),
        ("I'm fine.", None),
        ("بله.", "yes"),
        ("آره، یه کم.", "yes"),
        ("نه.", "no"),
        ("خیر، ندارد.", "no"),
        ("نمی‌دونم", None),
    ],
)
def test_answer_polarity(answer: str, want: str | None) -> None:
    assert answer_polarity(normalize(answer, None)) == want


# -- English --------------------------------------------------------------------------------------


def test_negation(sym: RuleExtractor) -> None:
    s = status(sym, "The patient denies fever. She reports a cough.")
    assert s["fever"] == "absent" and s["cough"] == "present"
    f = sym.extract("The patient denies fever.", "en")["fever"]
    assert f.value is False and f.evidence and f.evidence[0].text == "fever"


def test_negation_scope_ends_at_but(sym: RuleExtractor) -> None:
    s = status(sym, "Patient: No vomiting but constipation and weight loss.")
    assert s["nausea_vomiting"] == "absent" and s["constipation"] == "present"


def test_history(sym: RuleExtractor) -> None:
    assert status(sym, "Patient: I had pain last year.")["pain"] == "history_only"
    # "still" marks it as current again
    assert status(sym, "Patient: I had pain last year and I still have it.")["pain"] == "present"


def test_family(sym: RuleExtractor) -> None:
    assert status(sym, "My mother had cancer pain.")["pain"] == "family"
    # A relative who is the speaker talks about the patient: not family history.
    assert status(sym, "Daughter: My mother has a lot of pain since yesterday.")["pain"] == "present"


def test_hypothetical(sym: RuleExtractor) -> None:
    s = status(sym, "Doctor: If you get a fever, call me. This medicine can cause nausea.")
    assert s["fever"] == "hypothetical" and s["nausea_vomiting"] == "hypothetical"


def test_questions_are_not_statements(sym: RuleExtractor) -> None:
    unanswered = "Doctor: Any fever?\nDoctor: Let me listen to your chest."
    assert status(sym, unanswered)["fever"] == "not_mentioned"
    yes = "[doctor] any fever ?\n[patient] yes , since yesterday ."
    no = "[doctor] any fever or cough ?\n[patient] no ."
    assert status(sym, yes)["fever"] == "present"
    s = status(sym, no)
    assert s["fever"] == "absent" and s["cough"] == "absent"
    f = sym.extract(yes, "en")["fever"]
    assert f.evidence[0].question and f.evidence[0].answer.startswith("yes")


def test_answer_that_names_the_symptom_wins_over_yes_no(sym: RuleExtractor) -> None:
    s = status(sym, "Doctor: Any pain or cough?\nPatient: No pain, but I do cough at night.")
    assert s["pain"] == "absent" and s["cough"] == "present"


def test_no_at_the_start_of_an_answer_is_not_a_negation_of_the_rest(sym: RuleExtractor) -> None:
    text = "Doctor: Anything else bothering you?\nPatient: No, it's just the pain in my knee."
    assert status(sym, text)["pain"] == "present"


def test_unpunctuated_speech(sym: RuleExtractor) -> None:
    text = (
        "[doctor] okay and do you have any shortness of breath\n[patient] no not really\n"
        "[doctor] alright and how is your sleep\n[patient] i ca n't sleep at night"
    )
    s = status(sym, text)
    assert s["dyspnea"] == "absent" and s["insomnia"] == "present"


def test_clinician_fragment_answered_no_is_a_question(sym: RuleExtractor) -> None:
    assert status(sym, "[doctor] blood in your stool .\n[patient] no .")["bleeding"] == "absent"


def test_findings_shape(sym: RuleExtractor) -> None:
    out = sym.extract("Patient: My back hurts and I feel exhausted.", "en")
    assert set(out) == set(load_task("symptoms13").keys)
    for f in out.values():
        assert isinstance(f, RuleFinding) and 0 <= f.confidence <= 1
        assert f.value == (f.status == "present")
    assert out["pain"].value and out["fatigue"].value
    assert out["fever"].status == "not_mentioned"


def test_evidence_offsets_index_the_given_text(sym: RuleExtractor) -> None:
    text = "Nurse: How are you?\r\nPatient: I’ve been throwing up since Monday."
    f = sym.extract(text, "en")["nausea_vomiting"]
    e = f.evidence[0]
    assert text[e.start : e.end] == e.text == "throwing up"
    assert text[e.sentence_start : e.sentence_end] == e.sentence
    assert e.speaker == "patient"


def test_select_evidence(sym: RuleExtractor) -> None:
    text = (
        "[doctor] hi , how are you ?\n[patient] fine .\n[doctor] any fever ?\n[patient] no .\n"
        "[doctor] okay . and the knee ?\n[patient] it hurts when i walk .\n[doctor] i see ."
    )
    passages = select_evidence(sym, text, "en", "fever", context_sentences=0)
    assert passages == ["[doctor] any fever ?\n[patient] no ."]
    pain = select_evidence(sym, text, "en", "pain", context_sentences=1)
    assert len(pain) == 1 and "[patient] it hurts when i walk ." in pain[0] and "the knee ?" in pain[0]
    assert select_evidence(sym, text, "en", "cough") == []
    short = select_evidence(sym, text * 20, "en", "pain", max_chars=200)
    assert sum(len(p) for p in short) <= 200
    with pytest.raises(KeyError):
        select_evidence(sym, text, "en", "no_such_feature")


# -- Persian --------------------------------------------------------------------------------------


def test_persian_negation_is_verb_final_and_stops_at_affirmative(sym: RuleExtractor) -> None:
    s = status(sym, "بیمار تب ندارد ولی درد دارد.", "fa")
    assert s["fever"] == "absent" and s["pain"] == "present"
    s = status(sym, "درد دارد و سرفه نمی‌کند.", "fa")
    assert s["pain"] == "present" and s["cough"] == "absent"
    assert status(sym, "بدون تب و لرز.", "fa")["fever"] == "absent"


def test_persian_arabic_letters_and_zwnj_variants(sym: RuleExtractor) -> None:
    for text in ("بيمار سرفه ميكند", "بیمار سرفه می کند", "بیمار سرفه می‌کند"):
        assert status(sym, text, "fa")["cough"] == "present", text
    for text in ("شب‌ها نمی‌تواند بخوابد.", "شبا نمیتونه بخوابه.", "شبها نمی تونه بخوابه"):
        assert status(sym, text, "fa")["insomnia"] == "present", text
    assert status(sym, "دردش از دیروز بیشتر شده.", "fa")["pain"] == "present"  # attached suffix


def test_persian_dialogue(sym: RuleExtractor) -> None:
    text = (
        "اپراتور: سلام، خسته نباشید. تب دارد؟\n"
        "همراه بیمار: نه.\n"
        "اپراتور: درد چطور؟\n"
        "همراه بیمار: بله، دردش خیلی زیاده.\n"
        "اپراتور: اگر استفراغ کرد تماس بگیرید.\n"
        "همراه بیمار: قبلاً اسهال داشت. مادرم غذا نمی‌خوره."
    )
    s = status(sym, text, "fa")
    assert s["fever"] == "absent"
    assert s["pain"] == "present"
    assert s["nausea_vomiting"] == "hypothetical"
    assert s["diarrhea"] == "history_only"
    assert s["appetite_loss"] == "present"  # the caller's mother is the patient
    assert s["fatigue"] == "not_mentioned"  # "خسته نباشید" is a greeting
    f = sym.extract(text, "fa")["pain"]
    assert any(e.question for e in f.evidence) or any(e.speaker == "family" for e in f.evidence)


def test_persian_family_history_and_offsets(pal: RuleExtractor) -> None:
    text = "بيمار سابقه خانوادگی تشنج دارد. قبلاً تشنج نكرده."
    f = pal.extract(text, "fa")["seizures"]
    assert f.status in ("family", "absent") and not f.value
    e = pal.extract("حالش خوب نيست و تشنج كرد.", "fa")["seizures"].evidence[0]
    assert "تشنج" in e.text


def test_persian_request_for_visit(pal: RuleExtractor) -> None:
    text = "همراه بیمار: میشه یک پزشک برای ویزیت در منزل بفرستید؟ هزینه‌ها خیلی زیاده و بیمه پوشش نمیده."
    s = status(pal, text, "fa")
    assert s["request_for_visit"] == "present" and s["insurance_cost_issues"] == "present"


def test_persian_neutral_mention_of_breathing_is_not_a_complaint(pal: RuleExtractor) -> None:
    # "Shortness of breath?" — "No, his breathing is fine.": breath named, no complaint.
    text = "اپراتور: تنگی نفس دارد؟\nدختر: نه، نفسش خوب است."
    assert status(pal, text, "fa")["respiratory_complaints"] != "present"
    assert status(pal, "دختر: نفسش بند میاد و سرفه می‌کند.", "fa")["respiratory_complaints"] == "present"


# -- lexicons from task files ---------------------------------------------------------------------


def _task(features: list[dict]) -> Task:
    return parse_task(
        json.dumps({"name": "clinic_custom", "instruction": "Extract.", "features": features}), "<test>"
    )


def test_custom_lexicon_from_a_task_file() -> None:
    task = _task(
        [
            {
                "key": "chest_tightness",
                "labels": {"en": "Chest tightness"},
                "definition": "Tight chest.",
                "lexicon": {"en": ["tight chest", "chest feels tight*"], "fa": ["سنگینی قفسه سینه"]},
            },
            {
                "key": "fever",
                "labels": {"en": "Fever"},
                "definition": "Fever now.",
            },  # built-in lexicon by key
            {
                "key": "itching",
                "labels": {"en": "Itching, pruritus"},
                "definition": "Itch.",
            },  # from the label
            {"key": "severity", "labels": {"en": "Severity"}, "definition": "0-10.", "type": "number"},
        ]
    )
    rx = RuleExtractor(task)
    out = rx.extract("Patient: My chest feels tighter today and I am feverish. No pruritus.", "en")
    assert set(out) == {"chest_tightness", "fever", "itching"}  # booleans only
    assert out["chest_tightness"].status == "present"
    assert out["fever"].status == "present"  # 'feverish' comes from the built-in fever lexicon
    assert out["itching"].status == "absent"  # 'pruritus' comes from the label
    assert rx.extract("سنگینی قفسه سینه دارد", "fa")["chest_tightness"].status == "present"


def test_task_lexicon_replaces_the_builtin_one() -> None:
    base = load_task("symptoms13").model_dump()
    for f in base["features"]:
        if f["key"] == "fever":
            f["lexicon"] = {"en": ["pyrexia"]}
    rx = RuleExtractor(Task.model_validate(base))
    assert rx.extract("Patient: I have a fever.", "en")["fever"].status == "not_mentioned"
    assert rx.extract("Patient: I have pyrexia.", "en")["fever"].status == "present"


def test_label_terms() -> None:
    assert label_terms("Shortness of breath, oxygen-saturation drop, respiratory complaints") == [
        "shortness of breath, oxygen-saturation drop, respiratory complaints",
        "shortness of breath",
        "oxygen-saturation drop",
        "respiratory complaints",
    ]
    assert "مشکلات بیمه" in label_terms("مشکلات بیمه/هزینه درمان")


def test_builtin_lexicons_cover_both_tasks_and_languages() -> None:
    from appliance.rules.lexicon import builtin_lexicon

    for name in ("symptoms13", "palliative13"):
        keys = set(load_task(name).keys)
        for lang in ("en", "fa"):
            lex = builtin_lexicon(name, lang)
            assert set(lex) == keys, (name, lang)
            assert all(lex[k] for k in keys)


# -- runtime hygiene ------------------------------------------------------------------------------


def test_rules_never_import_torch_or_transformers() -> None:
    code = textwrap.dedent(
        """
        import sys
        from appliance.rules import RuleExtractor
        from appliance.tasks import load_task
        RuleExtractor(load_task("symptoms13")).extract("Patient: no fever.", "en")
        RuleExtractor(load_task("palliative13")).extract("تب ندارد", "fa")
        bad = [m for m in ("torch", "transformers", "quickumls", "nltk", "scipy") if m in sys.modules]
        print(",".join(bad))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""
    assert "fever" not in out.stderr and "تب" not in out.stderr  # nothing of the text is logged


def test_degenerate_inputs(sym: RuleExtractor) -> None:
    for text in ("", "   \n", "[doctor]\n[patient]", "Doctor:", "\ud800 pain"):
        out = sym.extract(text, "en")
        assert set(out) == set(load_task("symptoms13").keys)
    assert sym.extract("\ud800 pain", "en")["pain"].value
    assert select_evidence(sym, "", "en", "pain") == []
    assert normalize("a\ud800b", "en") == "a\ufffdb"
