"""One mention's assertion and one feature's finding (``appliance.rules.assertion``, ``findings``,
``scope``, ``context``): the pieces behind tests/runtime/test_context.py, checked on their own."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from appliance.rules.assertion import negated, question_assertion, statement_assertion
from appliance.rules.context import rule_entries
from appliance.rules.findings import confidence, decide

# -- assertion from categories (no spaCy needed) --------------------------------------------------


@pytest.mark.parametrize(
    ("cats", "want"),
    [
        (set(), "present"),
        ({"NEGATED_EXISTENCE"}, "absent"),
        ({"NEGATION_FRAME"}, "absent"),  # "I can't say I'm tired"
        ({"NEGATION_FRAME", "NEGATED_EXISTENCE"}, "present"),  # "I can't say I'm not tired"
        ({"HYPOTHETICAL"}, "hypothetical"),
        ({"POSSIBLE_EXISTENCE"}, "uncertain"),
        ({"HYPOTHETICAL", "POSSIBLE_EXISTENCE"}, "hypothetical"),
        ({"FAMILY"}, "family"),
        ({"HISTORICAL"}, "history_only"),
        ({"HISTORICAL", "CURRENT"}, "present"),
        ({"NEGATED_EXISTENCE", "HISTORICAL"}, "absent"),
        ({"EXAM", "NEGATED_EXISTENCE"}, "exam"),
    ],
)
def test_statement_assertion(cats: set[str], want: str) -> None:
    assert statement_assertion(cats, "patient") == want


def test_family_cue_spoken_by_a_relative_is_about_the_patient() -> None:
    assert statement_assertion({"FAMILY"}, "family") == "present"


def test_negated_is_parity_of_plain_negation_and_frame() -> None:
    assert negated({"NEGATED_EXISTENCE"}) and negated({"NEGATION_FRAME"})
    assert not negated(set()) and not negated({"NEGATED_EXISTENCE", "NEGATION_FRAME"})


def test_question_assertion() -> None:
    assert question_assertion(set(), "patient", "yes") == "present"
    assert question_assertion(set(), "patient", "no") == "absent"
    assert question_assertion(set(), "patient", None) == "unanswered"
    assert question_assertion({"POSSIBLE_EXISTENCE"}, "patient", "yes") == "uncertain"
    assert question_assertion({"NEGATED_EXISTENCE"}, "patient", "yes") == "absent"


# -- the vote and the confidence ------------------------------------------------------------------


@dataclass
class _M:
    assertion: str
    weight: float = 1.0


def test_uncertain_is_a_fallback_status_and_not_present() -> None:
    status, _, support = decide([_M("uncertain")])
    assert status == "uncertain" and len(support) == 1
    assert decide([_M("uncertain"), _M("absent")])[0] == "absent"
    assert decide([_M("uncertain"), _M("present")])[0] == "present"


def test_confidence_of_present_depends_on_whose_statement_it_is() -> None:
    one = {"present": 1.0}
    assert confidence("present", one, own_statement=True) == 0.8
    assert confidence("present", one, own_statement=False) == 0.55
    assert confidence("present", {"present": 2.0}) == 0.9
    assert confidence("present", {"present": 1.0, "absent": 1.0}) == 0.6
    assert confidence("uncertain", {"uncertain": 1.0}) == 0.8
    assert confidence("absent", {"absent": 1.0}) == 0.9


# -- the rule files --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_rule_files_are_well_formed(lang: str) -> None:
    entries = rule_entries(lang)
    cats = {e["category"] for e in entries}
    assert {"NEGATED_EXISTENCE", "NEGATION_FRAME", "HISTORICAL", "CURRENT", "HYPOTHETICAL", "POSSIBLE_EXISTENCE",
            "FAMILY", "TERMINATE", "PSEUDO"} <= cats
    for e in entries:
        assert e["direction"] in ("FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO"), e
        if e["direction"] not in ("TERMINATE", "PSEUDO"):
            assert isinstance(e.get("max_scope"), int) and e["max_scope"] > 0, e
    assert rule_entries("xx") == []


# -- scope on real documents -------------------------------------------------------------------------

pytest.importorskip("medspacy")


def _status(rx, text: str, key: str, lang: str = "en") -> str:
    return rx.extract(text, lang)[key].status


def test_lists_do_not_use_up_the_word_budget(sym) -> None:
    # ten findings and glue after "no": far beyond a token window of 8, still one negated list
    text = "No cough, fever, nausea, vomiting, diarrhea, constipation, headache, fatigue, anxiety or bleeding."
    out = sym.extract(text, "en")
    for k in ("cough", "fever", "nausea_vomiting", "diarrhea", "constipation", "pain", "fatigue", "anxiety",
              "bleeding"):
        assert out[k].status == "absent", k


def test_ordinary_words_do_use_up_the_budget(sym) -> None:
    text = "I did not think that the long drive to the clinic this morning would give me a headache."
    assert _status(sym, text, "pain") == "present"


def test_a_new_clause_stops_a_cue(sym) -> None:
    assert _status(sym, "No fever, she has been coughing.", "cough") == "present"
    assert _status(sym, "No fever and then I started coughing.", "cough") == "present"
    # a complement clause does not: "denies that she has"
    assert _status(sym, "She denies that she has any pain.", "pain") == "absent"
    # a later clause that refers back to the finding with an anaphor
    assert _status(sym, "I had a cough last winter and I still have it.", "cough") == "present"


def test_answer_particle_is_decided_by_the_words_between(sym) -> None:
    assert _status(sym, "No real chest pain.", "pain") == "absent"
    assert _status(sym, "No, just the pain.", "pain") == "present"
    assert _status(sym, "No, the pain is worse.", "pain") == "present"
    assert _status(sym, "Nope, I get short of breath on stairs.", "dyspnea") == "present"


def test_status_uncertain_reaches_the_finding(sym) -> None:
    f = sym.extract("Possible bleeding from the ulcer.", "en")["bleeding"]
    assert f.status == "uncertain" and f.value is False and f.evidence[0].assertion == "uncertain"
