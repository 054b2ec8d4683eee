"""Rule baseline and evidence pre-pass: medspaCy target matching + ConText, dialogue-aware.

    from appliance.rules import RuleExtractor
    rx = RuleExtractor(task)
    findings = rx.extract(text, "en")          # {key: RuleFinding(value, status, confidence, evidence)}
    passages = rx.select_evidence(text, "en", "pain")

Never imports torch or transformers (see ``_spacy``). Importing this package is cheap: spaCy and
medspaCy are imported when the first pipeline is built.
"""

from __future__ import annotations

from .extractor import RuleExtractor, RuleFinding, Span, Status

__all__ = ["RuleExtractor", "RuleFinding", "Span", "Status"]
