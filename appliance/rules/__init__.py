"""Rule baseline and evidence pre-pass: medspaCy target matching + ConText, dialogue-aware.

    from appliance.prepared import prepare_text
    from appliance.rules import RuleExtractor
    rx = RuleExtractor(task)
    analysis = rx.analyse(prepare_text(text, "en"))   # once per document
    analysis.findings()                                # {key: RuleFinding(value, status, confidence, evidence)}
    analysis.select_evidence("pain")                   # excerpts for a model, from the normalised text
    rx.extract(text, "en")                             # convenience: prepare + analyse + findings

Never imports torch or transformers (see ``_spacy``). Importing this package is cheap: spaCy and
medspaCy are imported when the first pipeline is built.
"""

from __future__ import annotations

from .analysis import RuleAnalysis
from .extractor import RuleExtractor, prepare_for_rules
from .findings import RuleFinding, Span, Status

__all__ = ["RuleAnalysis", "RuleExtractor", "RuleFinding", "Span", "Status", "prepare_for_rules"]
