"""The strategy registry and interface (appliance.strategies), and the rules analysis computed once per
document."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from appliance.document import Document
from appliance.errors import ConfigError
from appliance.pipeline import Pipeline
from appliance.settings import PipelineSettings
from appliance.strategies import ExtractionStrategy, build_strategy, strategy_class, strategy_names
from appliance.tasks import load_task

DOC = Document(
    id="s-1",
    language="en",
    text=("[doctor] Any fever lately?\n[patient] No, no fever.\n"
          "[doctor] And the pain?\n[patient] My lower back still hurts every morning.\n"
          "[doctor] If you get a cough, call us."),
)


def test_registry_lists_every_strategy_once():
    names = strategy_names()
    assert set(names) == {"json", "evidence", "hybrid", "rules"} and len(names) == len(set(names))
    assert PipelineSettings().strategy == "rules"
    description = PipelineSettings.model_fields["strategy"].description
    assert all(f"'{n}'" in description for n in names)


def test_cli_offers_the_registered_names():
    from appliance.cli.extract import extract

    option = next(p for p in extract.params if p.name == "strategy")
    assert list(option.type.choices) == strategy_names()


def test_unknown_strategy_is_a_clear_error():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as e:
        PipelineSettings(strategy="magic")
    assert "unknown extraction strategy 'magic'" in str(e.value)
    assert all(f"'{n}'" in str(e.value) for n in strategy_names())
    # Built around the settings' validation (model_construct): still an error, never a silent fallback.
    settings = PipelineSettings.model_construct(**{**PipelineSettings().model_dump(), "strategy": "magic"})
    with pytest.raises(ConfigError) as e:
        build_strategy(settings, load_task("symptoms13"), Path("."))
    assert "'magic'" in str(e.value) and all(f"'{n}'" in str(e.value) for n in strategy_names())


@pytest.mark.parametrize("name", ["json", "evidence", "hybrid", "rules"])
def test_registered_classes_name_themselves(name):
    cls = strategy_class(name)
    assert cls.name == name and callable(cls.extract) and callable(cls.warm)


def test_rules_strategy_implements_the_protocol_and_needs_no_model_runtime():
    strategy = build_strategy(PipelineSettings(strategy="rules"), load_task("symptoms13"), Path("."))
    assert isinstance(strategy, ExtractionStrategy)
    assert strategy.window_tokens is None and strategy.count_tokens is None
    assert [m.role for m in strategy.models] == ["rules"] and strategy.prompt_hash == strategy.models[0].bundle_hash
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from appliance.settings import PipelineSettings
        from appliance.strategies import build_strategy
        from appliance.tasks import load_task
        build_strategy(PipelineSettings(strategy="rules"), load_task("symptoms13"), Path("."))
        print("onnxruntime_genai" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "False"


def _count_rule_runs(monkeypatch) -> list[int]:
    from appliance.rules.matcher import RulePipeline

    runs: list[int] = []
    original = RulePipeline.run_blocks

    def spy(self, text, starts, hard=None):
        runs.append(len(text))
        return original(self, text, starts, hard)

    monkeypatch.setattr(RulePipeline, "run_blocks", spy)
    return runs


def test_rules_run_once_per_document_under_rules(monkeypatch):
    pipe = Pipeline.load(PipelineSettings(task="symptoms13", strategy="rules", languages=["en"]))
    runs = _count_rule_runs(monkeypatch)
    pipe.process(DOC)
    assert len(runs) == 1


@pytest.mark.parametrize("strategy", ["hybrid", "evidence"])
def test_rules_run_once_per_document_and_the_generator_is_made_once(tiny_bundle, monkeypatch, strategy):
    from appliance.strategies.evidence import EvidenceStrategy

    pipe = Pipeline.load(PipelineSettings(task="symptoms13", strategy=strategy, extractor=str(tiny_bundle),
                                          threads=1))
    runs = _count_rule_runs(monkeypatch)
    warms: list[int] = []
    original_warm = EvidenceStrategy.warm
    monkeypatch.setattr(EvidenceStrategy, "warm", lambda self: (warms.append(1), original_warm(self))[1])
    generators: list[int] = []
    model = pipe.strategy.model
    original_generator = model.generator
    monkeypatch.setattr(model, "generator", lambda *a, **kw: (generators.append(1), original_generator(*a, **kw))[1])
    for _ in range(2):
        r = pipe.process(DOC)
        assert sum(fr.score is not None for fr in r.features.values()) >= 3  # several questions asked
    assert len(runs) == 2  # one rules analysis per document, however many questions
    assert warms == []  # answering a question does not re-warm
    assert generators == []  # the prefilled generator of warm() is reused (prefix reuse is on)
