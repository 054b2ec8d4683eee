"""The 'rules' strategy: the rule baseline alone (``appliance.rules``). No model, milliseconds per
document, for boxes too weak for an LLM. Decides boolean features only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..prepared import PreparedText
from ..result import FeatureResult
from ..rules import RuleExtractor
from .rule_evidence import rule_quotes, rule_score, rules_model_ref

if TYPE_CHECKING:
    from ..settings import PipelineSettings
    from ..tasks import Task

NOT_SUPPORTED = "not_supported_by_rules"


class RulesStrategy:
    """The rule findings as results (see ``ExtractionStrategy``): ``score`` = ``rule_score`` (the
    heuristic confidence as P(True)), ``confidence`` = the finding's, up to three mention sentences as
    quotes with offsets; enum / number / string_list features missing (``not_supported_by_rules``)."""

    name = "rules"

    def __init__(self, settings: PipelineSettings, task: Task, models_dir: Path | None = None) -> None:
        self.task = task
        self.rules = RuleExtractor(task)
        ref = rules_model_ref(self.rules, task)
        self.models = [ref]
        self.prompt_hash = ref.bundle_hash
        self.count_tokens: Callable[[str], int] | None = None
        self.window_tokens: int | None = None

    def warm(self) -> None:
        """Build the English rule pipeline (imports spaCy and medspaCy)."""
        self.rules.warm("en")

    def extract(self, text: PreparedText) -> dict[str, FeatureResult]:
        """One rules analysis of ``text``, one result per feature."""
        found = self.rules.analyse(text).findings()
        out: dict[str, FeatureResult] = {}
        for f in self.task.features:
            r = found.get(f.key)
            if r is None:  # enum / number / string_list: the rules decide booleans only
                out[f.key] = FeatureResult(status="missing", reason=NOT_SUPPORTED)
                continue
            conf = max(0.0, min(1.0, float(r.confidence)))
            out[f.key] = FeatureResult(
                value=bool(r.value), status="extracted", confidence=conf, score=rule_score(r),
                threshold=f.threshold, evidence=rule_quotes(r, unique=False),
            )
        return out
