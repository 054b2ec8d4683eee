"""Combining the rules and the model: the rule finding's facts, the passages the rules could not decide,
and the fitted combiner that turns both into one decision (used by the 'hybrid' strategy).

* ``facts``: ``finding_facts(analysis, key) -> FindingFacts`` (counts of mentions by assertion, speaker,
  answer; no text);
* ``recall``: ``NearMisses(task).ranked(analysis, keys, max_chars)``: near-miss and fuzzy passages for
  features the rules found no mention of;
* ``model``: ``Combiner`` (coefficients + fitting record; numpy only), ``rule_row``, ``bucket_of``,
  ``combiner_for`` (which combiner a pipeline uses).

Fitting is not here: ``appliance.evaluate.combine_fit`` (needs scipy, the ``evaluate`` extra).
"""

from __future__ import annotations

from .facts import FindingFacts, finding_facts, no_facts
from .model import (
    BUCKETS,
    COLUMNS,
    Combiner,
    bucket_of,
    combiner_for,
    load_combiner,
    rule_row,
    save_combiner,
    trace_decision,
)
from .recall import Candidate, NearMisses

__all__ = ["BUCKETS", "COLUMNS", "Candidate", "Combiner", "FindingFacts", "NearMisses", "bucket_of",
           "combiner_for", "finding_facts", "load_combiner", "no_facts", "rule_row", "save_combiner",
           "trace_decision"]
