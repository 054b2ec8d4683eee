"""Rule misses a new user found on the project's own sample transcripts (appliance/samples), each fixed
as a kind: a lexicon family, a ConText rule or a matching mechanism. One class per kind."""

from __future__ import annotations

import pytest

from tests.support.rulecheck import check


@pytest.fixture(scope="module")
def pal():
    """The rule extractor for the built-in ``palliative13`` task."""
    pytest.importorskip("medspacy")
    from appliance.rules import RuleExtractor
    from appliance.tasks import load_task

    return RuleExtractor(load_task("palliative13"))


class TestNegationPronounAnswer:
    """A negation pronoun that is the answer itself ("Almost nothing,") does not reach past the comma
    into the next clause (scope.clause_breaks with ``fronted=False`` for negations)."""

    def test_nothing_then_clause(self, pal):
        check(pal, "Nurse: Is she eating?\nSon: Almost nothing, she refuses food.", {"loss_of_appetite": "present"})

    def test_nothing_then_clause_symptoms(self, sym):
        check(sym, "Nothing, she has been coughing all week.", {"cough": "present"})

    def test_negation_list_still_negated(self, sym):
        check(sym, "Nothing, no fever or cough.", {"fever": "absent", "cough": "absent"})
        check(sym, "No cough, fever or nausea.", {"cough": "absent", "fever": "absent",
                                                  "nausea_vomiting": "absent"})

    def test_fronted_adverbial_unchanged(self, sym):
        check(sym, "In the past, I had a lot of pain.", {"pain": "history_only"})


class TestMedicineNames:
    """A medicine named after a symptom (pain patches, cough syrup, anti-nausea tablets) is not a mention
    of the symptom (lexicon exclusions)."""

    def test_pain_patches_do_not_outvote_denial(self, sym):
        check(sym, "Patient: No, no pain at all this week.\nPatient: My daughter is covering my pain patches.",
              {"pain": "absent"})

    @pytest.mark.parametrize("text", ["I use pain patches.", "The pain killers are in the cupboard.",
                                      "I need a refill of my pain medications.", "She takes pain relief at night."])
    def test_pain_medicines(self, sym, text):
        check(sym, text, {"pain": "not_mentioned"})

    def test_other_medicines(self, sym):
        check(sym, "I take anti-nausea tablets and cough syrup.",
              {"nausea_vomiting": "not_mentioned", "cough": "not_mentioned"})

    def test_symptom_beside_medicine_still_counts(self, sym):
        check(sym, "I still have pain even with the pain patches.", {"pain": "present"})

    def test_persian(self, sym):
        check(sym, "چسب ضد درد را عوض کردم و شربت سرفه می‌خورم.", {"pain": "not_mentioned", "cough": "not_mentioned"},
              lang="fa")
        check(sym, "قرص ضد تهوع دارم.", {"nausea_vomiting": "not_mentioned"}, lang="fa")


class TestSleeplessnessTerms:
    """Lying awake and barely sleeping are sleeplessness; "barely" / "hardly" do not negate it."""

    @pytest.mark.parametrize("text", ["The pain in my hip is worse, it keeps me awake at night.",
                                      "I've barely slept since Saturday.", "She has hardly slept this week.",
                                      "I lie awake most nights."])
    def test_present(self, sym, text):
        check(sym, text, {"insomnia": "present"})

    def test_palliative(self, pal):
        check(pal, "Patient: it keeps me awake at night. I've barely slept since Saturday.",
              {"sleep_disorders": "present"})

    def test_sleeping_pills_not_a_mention(self, sym):
        check(sym, "I ran out of sleeping pills.", {"insomnia": "not_mentioned"})


class TestPayerNegatedVerb:
    """A payer's negated verb ("won't pay", "doesn't cover", «پرداخت نمی‌کند», «پوشش نمی‌دهد») is the cost
    problem: the phrase is a term, so its negation cue is inside the target and negates nothing."""

    @pytest.mark.parametrize("text", ["The insurance won't pay for the medicines.",
                                      "My insurance doesn't pay for the nurse.",
                                      "The insurance doesn't cover my medicines."])
    def test_english(self, pal, text):
        check(pal, text, {"insurance_cost_issues": "present"})

    @pytest.mark.parametrize("text", ["بیمه هزینه‌ی داروهایم را پرداخت نمی‌کند و از پسش برنمی‌آیم.",
                                      "بیمه داروهایم را پوشش نمی‌دهد."])
    def test_persian(self, pal, text):
        check(pal, text, {"insurance_cost_issues": "present"}, lang="fa")


class TestParticleInsideTerm:
    """A Persian particle (هم، اصلا، خیلی، زیاد) between the words of a term does not break the match
    (lexicon.PERSIAN_PARTICLES); the English forms with "any" / "at all" are terms."""

    @pytest.mark.parametrize("text", ["اشتها هم ندارم.", "اشتها اصلاً ندارم.", "اشتها زیاد ندارم.", "اشتها ندارم."])
    def test_persian_appetite(self, sym, text):
        check(sym, text, {"appetite_loss": "present"}, lang="fa")

    def test_persian_other_feature(self, sym):
        check(sym, "شب‌ها خوابم هم نمی‌برد.", {"insomnia": "present"}, lang="fa")

    def test_persian_no_false_match(self, sym):
        check(sym, "اشتها دارم.", {"appetite_loss": "not_mentioned"}, lang="fa")
        check(sym, "بی‌خوابی دارم.", {"insomnia": "present"}, lang="fa")

    @pytest.mark.parametrize("text", ["I have no appetite at all.", "I don't have any appetite.",
                                      "She doesn't have any appetite."])
    def test_english_appetite(self, sym, text):
        check(sym, text, {"appetite_loss": "present"})

    def test_palliative_sample(self, pal):
        check(pal, "بیمار: بعد از غذا حالت تهوع دارم. اشتها هم ندارم.", {"loss_of_appetite": "present"}, lang="fa")


class TestVisitRequest:
    """Asking someone to come ("can someone come to the house", "come and see me", "visit me") is a visit
    request: the lexicon has the phrases, and "can someone" / "need somebody" is a request (ConText
    PSEUDO), not the hypothetical person of "someone with a fever"."""

    @pytest.mark.parametrize("text", ["Patient: can someone come to the house to see me tomorrow",
                                      "Patient: Could somebody come and see her?",
                                      "Patient: I'd like someone to come and see me.",
                                      "Patient: Can a nurse visit me tomorrow?"])
    def test_request(self, pal, text):
        check(pal, text, {"request_for_visit": "present"})

    def test_someone_still_hypothetical(self, sym):
        check(sym, "Someone with a fever should stay at home.", {"fever": "hypothetical"})


class TestBareSpeakerLabels:
    """Unpunctuated speech whose lines open with a bare role word ("nurse ...", "patient ...") is a tagged
    dialogue (segment._bare_tag): a sentence, and so an evidence quote, ends at the line (the turn) and
    does not run into the next speaker's label."""

    TEXT = ("nurse hello its the palliative care line how are you doing today\n"
            "patient not good ive had a bad headache for three days\n"
            "nurse any problems passing urine\n"
            "patient no thats fine\n"
            "patient can someone come to the house to see me tomorrow\n")

    def test_quote_ends_at_the_line(self, pal):
        from appliance.rules.extractor import prepare_for_rules

        found = pal.analyse(prepare_for_rules(self.TEXT, "en")).findings()
        visit = found["request_for_visit"]
        assert visit.status == "present"
        assert [e.sentence for e in visit.evidence] == ["can someone come to the house to see me tomorrow"]
        assert visit.evidence[0].speaker == "patient"
        assert found["urinary_issues"].status == "absent"

    def test_segmentation(self):
        from appliance.rules.segment import segment_dialogue

        st = segment_dialogue(self.TEXT)
        assert st.tagged and [t.role for t in st.turns] == ["clinician", "patient", "clinician", "patient", "patient"]
        assert all("\n" not in self.TEXT[s.start : s.end] for s in st.sentences)

    def test_a_note_of_patient_lines_is_not_a_dialogue(self):
        from appliance.rules.segment import segment_dialogue

        note = "Patient reports pain in the knee\nPatient denies fever\nPatient sleeps poorly\n"
        assert not segment_dialogue(note).tagged
