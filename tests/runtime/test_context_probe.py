"""Assertion faults found by trying the rules as a new user would (palliative-care calls and clinic
notes, written for this project), each fixed by its mechanism and tested here by its kind:

* **checklist items on one line separated by full stops** ("Nausea: no. Constipation: yes."), and
  "no." read as the word, not the abbreviation of "number", unless a number follows;
* **a denial or report verb governs "any"** in unpunctuated speech ("she denies any nausea but she is
  very tired" is one statement, not a question "any nausea ...");
* **termination in a note**: a semicolon, and an affirming verb after a negated finding ("Denies
  fever, reports cough");
* **pseudo-negations**: a negated resolution verb ("has not stopped") and a negative pronoun as the
  subject of a relieving verb ("nothing helps the pain");
* **negation after the finding**: "X is no longer a problem", "X has not been an issue", "X has not
  come back";
* **a resolution in a later clause** after "but" that points back ("I had a cough but it has resolved",
  "... but it's gone now": "now" dates the resolution);
* **contractions without their apostrophe** ("i cant sleep", "i couldnt breathe");
* "let us know if" is a conditional (the PSEUDO "know if" of "I don't know if" does not swallow it).

Each status is what the rule pre-pass must return.
"""

from __future__ import annotations

import pytest

from appliance.rules import RuleExtractor
from tests.support.rulecheck import check

pytest.importorskip("medspacy")


class TestChecklistFullStops:
    """Checklist items separated by full stops; "no." before a number stays an abbreviation."""

    CASES = (
        ("Nausea: no. Constipation: yes.", {"nausea_vomiting": "absent", "constipation": "present"}),
        ("Fever: no. Cough: yes. Pain: none.", {"fever": "absent", "cough": "present", "pain": "absent"}),
        ("Nausea: no, constipation: yes", {"nausea_vomiting": "absent", "constipation": "present"}),
        ("She said no. Cough is worse today.", {"cough": "present"}),
    )

    @pytest.mark.parametrize(("text", "want"), CASES)
    def test_case(self, sym: RuleExtractor, text: str, want: dict[str, str]) -> None:
        check(sym, text, want)


class TestDenialGovernsAny:
    """Unpunctuated: "denies any" / "reports any" is not the start of a question."""

    CASES = (
        ("she denies any nausea but she is very tired", {"nausea_vomiting": "absent", "fatigue": "present"}),
        ("he denied any pain and he is coughing a lot", {"pain": "absent", "cough": "present"}),
        ("patient reports any cough but no fever today", {"cough": "present", "fever": "absent"}),
    )

    @pytest.mark.parametrize(("text", "want"), CASES)
    def test_case(self, sym: RuleExtractor, text: str, want: dict[str, str]) -> None:
        check(sym, text, want)


class TestNoteTermination:
    """A semicolon ends a negation's scope, and so does an affirming verb after a negated finding."""

    CASES = (
        ("No nausea, vomiting, or diarrhea; reports mild fatigue.",
         {"nausea_vomiting": "absent", "diarrhea": "absent", "fatigue": "present"}),
        ("No fever; cough since Monday.", {"fever": "absent", "cough": "present"}),
        ("Rule out pneumonia; cough and fever present.", {"cough": "present", "fever": "present"}),
        ("Denies fever, reports cough.", {"fever": "absent", "cough": "present"}),
        ("No nausea or vomiting, complains of constipation.",
         {"nausea_vomiting": "absent", "constipation": "present"}),
        ("Denies pain, endorses poor sleep and anxiety.", {"pain": "absent", "anxiety": "present"}),
        # the negation's own verb still negates
        ("She never complains of pain.", {"pain": "absent"}),
        ("Patient reports no fever or cough.", {"fever": "absent", "cough": "absent"}),
        ("No fever, chills or cough.", {"fever": "absent", "cough": "absent"}),
    )

    @pytest.mark.parametrize(("text", "want"), CASES)
    def test_case(self, sym: RuleExtractor, text: str, want: dict[str, str]) -> None:
        check(sym, text, want)


class TestPseudoNegation:
    """A negated resolution verb and a negative pronoun as a subject negate nothing."""

    CASES = (
        ("The vomiting has not stopped.", {"nausea_vomiting": "present"}),
        ("Her diarrhea hasn't settled.", {"diarrhea": "present"}),
        ("The cough never went away.", {"cough": "present"}),
        ("Nothing helps the pain.", {"pain": "present"}),
        ("Nothing seems to help her anxiety.", {"anxiety": "present"}),
        ("nothing has worked for the constipation", {"constipation": "present"}),
        ("Nobody knows why she is so tired.", {"fatigue": "present"}),
        # plain negations still negate
        ("Nothing like nausea.", {"nausea_vomiting": "absent"}),
        ("The pain has not come back.", {"pain": "absent"}),
        ("the bleeding hasnt returned", {"bleeding": "absent"}),
    )

    @pytest.mark.parametrize(("text", "want"), CASES)
    def test_case(self, sym: RuleExtractor, text: str, want: dict[str, str]) -> None:
        check(sym, text, want)


class TestNegationAfterFinding:
    """ "X is no longer a problem" negates X; "no problem sleeping" still reads forward."""

    CASES = (
        ("The nausea is no longer a problem.", {"nausea_vomiting": "absent"}),
        ("Pain has not been an issue.", {"pain": "absent"}),
        ("Constipation isn't a problem at the moment.", {"constipation": "absent"}),
        ("I have no problem sleeping.", {"insomnia": "absent"}),
        ("Pain is a problem.", {"pain": "present"}),
    )

    @pytest.mark.parametrize(("text", "want"), CASES)
    def test_case(self, sym: RuleExtractor, text: str, want: dict[str, str]) -> None:
        check(sym, text, want)


class TestResolutionAfterBut:
    """A resolution said of the finding in a clause after "but", pointing back with an anaphor."""

    CASES = (
        ("I had a cough but it has resolved.", {"cough": "history_only"}),
        ("She had diarrhea but it's gone now.", {"diarrhea": "history_only"}),
        ("He was vomiting but that has settled.", {"nausea_vomiting": "history_only"}),
        ("The constipation settled after the enema.", {"constipation": "history_only"}),
        # not a resolution, or a later clause that says it goes on
        ("I had a cough but it is still there.", {"cough": "present"}),
        ("I had pain last year and I still have it.", {"pain": "present"}),
        ("I have pain but she has gone home.", {"pain": "present"}),
    )

    @pytest.mark.parametrize(("text", "want"), CASES)
    def test_case(self, sym: RuleExtractor, text: str, want: dict[str, str]) -> None:
        check(sym, text, want)


class TestApostropheLessContractions:
    """ASR or typed contractions without an apostrophe read as the contraction."""

    CASES = (
        ("i cant sleep", {"insomnia": "present"}),
        ("i dont have any pain now but i cant sleep", {"pain": "absent", "insomnia": "present"}),
        ("i cant breathe when i walk", {"dyspnea": "present"}),
        ("he couldnt keep anything down no vomiting though", {"nausea_vomiting": "absent"}),
    )

    @pytest.mark.parametrize(("text", "want"), CASES)
    def test_case(self, sym: RuleExtractor, text: str, want: dict[str, str]) -> None:
        check(sym, text, want)


class TestLetUsKnowIf:
    """ "let us / me know if" is a conditional instruction."""

    CASES = (
        ("Let us know if he becomes breathless.", {"dyspnea": "hypothetical"}),
        ("Let me know if the bleeding starts again.", {"bleeding": "hypothetical"}),
        ("I don't know if it's nausea or just hunger.", {"nausea_vomiting": "present"}),
    )

    @pytest.mark.parametrize(("text", "want"), CASES)
    def test_case(self, sym: RuleExtractor, text: str, want: dict[str, str]) -> None:
        check(sym, text, want)
