"""The 'hybrid' strategy (the default): the rule pre-pass and the model vote.

Same questions as 'evidence' (one yes/no per feature with a rule-selected excerpt, none for a feature
without one); the decision is on the equal-weight mean of the two probabilities of True:

    score = RULE_WEIGHT * P_rules(true) + (1 - RULE_WEIGHT) * P_model(yes),   value = score >= threshold

``P_rules`` is the rule finding's heuristic confidence (``appliance.rules.findings``: present 0.55-0.95,
absent 0.10-0.25, history/family/hypothetical/uncertain 0.20, asked but unanswered 0.05), as the 'rules'
strategy reports it (``rule_score``). With the default threshold 0.5 the model keeps or drops a weak
rule finding (one present mention needs P(yes) >= 0.20 in the patient's own words, >= 0.45 in a
clinician's) and can overturn a rule 'absent' only when it is sure (P(yes) >= 0.9). Equal weights are a
fixed choice (no parameter fitted to any data set).
"""

from __future__ import annotations

from ..rules import RuleFinding
from .evidence import EvidenceStrategy
from .rule_evidence import rule_score


class HybridStrategy(EvidenceStrategy):
    """'hybrid': ``EvidenceStrategy`` with the score blended with the rule finding (module docstring)."""

    name = "hybrid"
    RULE_WEIGHT = 0.5

    def _score(self, rule: RuleFinding | None, p_model: float) -> float:
        """``RULE_WEIGHT * rule_score(rule) + (1 - RULE_WEIGHT) * p_model``, clamped to [0, 1]."""
        score = self.RULE_WEIGHT * rule_score(rule) + (1.0 - self.RULE_WEIGHT) * p_model
        return min(1.0, max(0.0, score))
