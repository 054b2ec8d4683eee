"""Extraction strategies: how a document's features are decided.

``ExtractionStrategy`` (``protocol``) is the interface; ``build_strategy(settings, task, models_dir)``
(``registry``) builds one by name. One module per strategy: ``json`` (the whole task in one constrained
JSON answer per window), ``rules`` (the rule baseline alone), ``evidence`` (one yes/no question per
feature about rule-selected sentences), ``hybrid`` (the same questions, decided with the rules' vote).
Shared parts: ``loading`` (the extractor bundle), ``rule_evidence`` (rule probability, quotes,
'no evidence' results), ``question`` (the evidence question prompt, also trained on by
``export/finetune.py``).

Importing this package is cheap: no strategy module (nor onnxruntime-genai) is imported until one is built.
"""

from __future__ import annotations

from .protocol import ExtractionStrategy
from .registry import build_strategy, check_strategy_name, strategy_class, strategy_names, strategy_summaries

__all__ = ["ExtractionStrategy", "build_strategy", "check_strategy_name", "strategy_class", "strategy_names",
           "strategy_summaries"]
