"""Findings stated the way nurses' notes and palliative-care calls state them, which the lexicon missed
(a new-user probe, written for this project; RULES_VERSION 7), fixed by kind and pinned here:

* **checklist values after the feature's name** ("Appetite: poor", "Sleep poor", "appetite's been
  poor"), spelt out term by term: a ``_`` (any one word) would also take a comma ("Good appetite, poor
  sleep") or "not" ("Appetite not poor");
* **intake and sleep stated as what the patient does not do** ("not eating anything", "off her food",
  "unable to sleep", "hasn't slept"); bare "not eating" is left out (diet talk: "not eating too late"),
  and "unable to sleep on her side" is excluded;
* **bowels not opened** (British nursing usage for constipation);
* **"no." / "no" as the abbreviation of "number"** before a number ("Room no. 5", "Bed no 4"): a
  pseudo-negation, so the finding that follows is not negated; without a number ("Patient no pain",
  "in bed no pain") "no" still negates.

Each status is what the rule pre-pass must return, in the built-in ``symptoms13`` task (the
``palliative13`` lexicon received the same terms: checked at the end).
"""

from __future__ import annotations

import pytest

from appliance.rules import RuleExtractor
from tests.support.rulecheck import check

pytest.importorskip("medspacy")

CASES = (
    ("Appetite: poor.", {"appetite_loss": "present"}),
    ("No pain. Appetite: poor.", {"pain": "absent", "appetite_loss": "present"}),
    ("Appetite reduced, weight down 2 kg.", {"appetite_loss": "present"}),
    ("He is not eating anything.", {"appetite_loss": "present"}),
    ("He is careful about not eating too late in the evening.", {"appetite_loss": "not_mentioned"}),
    ("She came off food supplements last month.", {"appetite_loss": "not_mentioned"}),
    ("Good appetite, poor sleep.", {"appetite_loss": "not_mentioned", "insomnia": "present"}),
    ("Good sleep, poor appetite.", {"insomnia": "not_mentioned", "appetite_loss": "present"}),
    ("Appetite not poor.", {"appetite_loss": "not_mentioned"}),
    ("Appetite has been poor all week.", {"appetite_loss": "present"}),
    ("Patient: My appetite's been poor lately.", {"appetite_loss": "present"}),
    ("Unable to sleep on her left side because of the drain.", {"insomnia": "not_mentioned"}),
    ("Awake half of the night coughing.", {"insomnia": "present", "cough": "present"}),
    ("Bowels have not been opened since Friday.", {"constipation": "present"}),
    ("Patient no pain.", {"pain": "absent"}),
    ("Patient no SOB, no cough.", {"dyspnea": "absent", "cough": "absent"}),
    ("Comfortable in bed no pain.", {"pain": "absent"}),
    ("Room no 3 has no fever.", {"fever": "absent"}),
    ("She is off her food since the chemo.", {"appetite_loss": "present"}),
    ("Poor oral intake today.", {"appetite_loss": "present"}),
    ("Not eating out much these days, no pain.", {"appetite_loss": "not_mentioned", "pain": "absent"}),
    ("She's unable to sleep.", {"insomnia": "present"}),
    ("Awake most of the night with pain.", {"insomnia": "present", "pain": "present"}),
    ("He hasn't slept in days.", {"insomnia": "present"}),
    ("Sleep: poor.", {"insomnia": "present"}),
    ("Bowels not opened for 4 days.", {"constipation": "present"}),
    ("Bowels have not opened since Monday.", {"constipation": "present"}),
    ("Denies constipation, bowels opened today.", {"constipation": "absent"}),
    ("Room no. 5, patient reports nausea.", {"nausea_vomiting": "present"}),
    ("Bed no 4: complains of pain.", {"pain": "present"}),
    ("No. No pain.", {"pain": "absent"}),
    ("No nausea. Appetite: good.", {"nausea_vomiting": "absent", "appetite_loss": "not_mentioned"}),
)


@pytest.mark.parametrize(("text", "want"), CASES)
def test_case(sym: RuleExtractor, text: str, want: dict[str, str]) -> None:
    check(sym, text, want)


def test_palliative13_has_the_same_terms() -> None:
    """The default task's lexicon reads the same phrases for its own feature keys."""
    from appliance.tasks import load_task

    rx = RuleExtractor(load_task("palliative13"))
    check(rx, "Appetite: poor. Unable to sleep. Bowels not opened for 3 days. Room no. 2, reports nausea.",
          {"loss_of_appetite": "present", "sleep_disorders": "present", "gastrointestinal_issues": "present"})
