"""Three kinds of assertion fault left after issue #17's first pass, each fixed by its mechanism and
tested here by its kind, in English and (where the language has the construction) Persian:

* a negated **evaluative** predicate ("not great", "not feeling well") is the answer's own negation and
  does not reach the findings named after it ("Not great, I get short of breath");
* **double negation** with an auxiliary between the two ("never doesn't hurt", "i never dont") or after a
  sentence-initial answer particle ("No, never not tired"), and the Persian "there is never a time that
  I am not ..." frame;
* a **"yes" that gives the finding to someone else** ("Any cough?" - "Yeah, my daughter has one");
* an **affirmed list item** after a negated one: a positive quantity ("some", "a bit of") opens it ("No
  fever, some cough").

Sentences are this project's own; each status is what the rule pre-pass must return.
"""

from __future__ import annotations

import pytest

from appliance.rules import RuleExtractor
from tests.support.rulecheck import check

pytest.importorskip("medspacy")


class TestEvaluativeNegation:
    """ "not great / good / well / the best" negates the evaluation, not the findings after it."""

    EN = (
        ("Not great, I get short of breath.", {"dyspnea": "present"}),
        ("Not great, short of breath.", {"dyspnea": "present"}),
        ("not great short of breath walking upstairs", {"dyspnea": "present"}),
        ("I'm not feeling great, short of breath.", {"dyspnea": "present"}),
        ("I am not doing so well, short of breath and coughing.", {"dyspnea": "present", "cough": "present"}),
        ("Not too well, pain all night.", {"pain": "present"}),
        ("I don't feel good, short of breath.", {"dyspnea": "present"}),
        ("I haven't been well, coughing a lot.", {"cough": "present"}),
        ("[doctor] How are you?\n[patient] Not great, I get short of breath.", {"dyspnea": "present"}),
        # the findings' own negation still counts
        ("Not great, no cough though.", {"cough": "absent"}),
        ("I'm not well but I have no fever.", {"fever": "absent"}),
        ("I do not have a fever.", {"fever": "absent"}),
        ("I'm not in pain.", {"pain": "absent"}),
    )
    FA = (
        ("حالم خوب نیست، سرفه دارم.", {"cough": "present"}),
        ("اصلا خوب نیستم، تب دارم.", {"fever": "present"}),
        ("خوب نیستم ولی تب ندارم.", {"fever": "absent"}),
    )

    @pytest.mark.parametrize(("text", "want"), EN)
    def test_english(self, sym: RuleExtractor, text: str, want: dict) -> None:
        check(sym, text, want)

    @pytest.mark.parametrize(("text", "want"), FA)
    def test_persian(self, sym: RuleExtractor, text: str, want: dict) -> None:
        check(sym, text, want, "fa")


class TestDoubleNegation:
    """Two negations of one clause cancel, with an auxiliary between them or after an answer particle."""

    EN = (
        ("I'm never not tired.", {"fatigue": "present"}),
        ("It never doesn't hurt.", {"pain": "present"}),
        ("I never don't have pain.", {"pain": "present"}),
        ("i never dont have pain", {"pain": "present"}),
        ("No, never not tired.", {"fatigue": "present"}),
        # one negation stays one
        ("No, never had any pain.", {"pain": "absent"}),
        ("No cough, not any fever.", {"cough": "absent", "fever": "absent"}),
        ("i dont have pain", {"pain": "absent"}),
    )
    FA = (
        ("هیچوقت نیست که خسته نباشم.", {"fatigue": "present"}),
        ("هیچ‌وقت نیست که درد نداشته باشم.", {"pain": "present"}),
        ("خسته نیستم.", {"fatigue": "absent"}),
    )

    @pytest.mark.parametrize(("text", "want"), EN)
    def test_english(self, sym: RuleExtractor, text: str, want: dict) -> None:
        check(sym, text, want)

    @pytest.mark.parametrize(("text", "want"), FA)
    def test_persian(self, sym: RuleExtractor, text: str, want: dict) -> None:
        check(sym, text, want, "fa")


class TestYesForAnotherPerson:
    """A "yes" whose statement is about a relative gives the finding to that person (English: Persian
    marks no other person by a relative noun alone, see ``context/fa.json``'s comment)."""

    EN = (
        ("[doctor] Any cough?\n[patient] Yeah my daughter has one.", {"cough": "family"}),
        ("[doctor] Any cough?\n[patient] Yes, my husband does.", {"cough": "family"}),
        ("Any fever? Yes, my kids have had fevers.", {"fever": "family"}),
        ("My daughter has a cough.", {"cough": "family"}),
        # the speaker is in the statement too, or it is about the patient
        ("[doctor] Any cough?\n[patient] Yes, my son and I both have it.", {"cough": "present"}),
        ("[doctor] Any cough?\n[patient] Yeah, my wife has one too.", {"cough": "present"}),
        ("[doctor] Any cough?\n[patient] Yes, a bit.", {"cough": "present"}),
        ("[doctor] Any cough?\n[family] Yeah my daughter has one.", {"cough": "present"}),
    )

    @pytest.mark.parametrize(("text", "want"), EN)
    def test_english(self, sym: RuleExtractor, text: str, want: dict) -> None:
        check(sym, text, want)


class TestAffirmedListItem:
    """A positive quantity after a negated list item asserts the item it opens; after "or" / "any" the
    list goes on. (Persian negates on the verb, and an affirmative verb already ends the scope.)"""

    EN = (
        ("No fever, some cough.", {"fever": "absent", "cough": "present"}),
        ("No fever, a bit of cough.", {"fever": "absent", "cough": "present"}),
        ("I don't have fever, just a little cough.", {"fever": "absent", "cough": "present"}),
        ("i have not body aches joint pain uh a bit of joint pain", {"pain": "present"}),
        # still one negated list
        ("No fever or some cough.", {"fever": "absent", "cough": "absent"}),
        ("No fever, chills, or any cough.", {"fever": "absent", "cough": "absent"}),
        ("I don't have a lot of pain.", {"pain": "absent"}),
    )
    FA = (("تب ندارم، یه کم سرفه دارم.", {"fever": "absent", "cough": "present"}),)

    @pytest.mark.parametrize(("text", "want"), EN)
    def test_english(self, sym: RuleExtractor, text: str, want: dict) -> None:
        check(sym, text, want)

    @pytest.mark.parametrize(("text", "want"), FA)
    def test_persian(self, sym: RuleExtractor, text: str, want: dict) -> None:
        check(sym, text, want, "fa")


def test_yes_for_another_reads_only_the_answers_opening() -> None:
    from appliance.rules.answers import yes_for_another
    from appliance.rules.context import relative_nouns

    rel = relative_nouns("en")
    assert {"daughter", "husband", "kids"} <= rel
    assert relative_nouns("fa") == frozenset()
    assert yes_for_another("Yeah, um, my daughter has one.", rel)
    assert not yes_for_another("My daughter has one.", rel)  # no yes word: not a yes answer at all
    assert not yes_for_another("Yes, and my daughter has one too.", rel)
    assert not yes_for_another("Yes, my chest hurts.", rel)
