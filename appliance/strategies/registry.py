"""Extraction strategies by name: the one list of what ``strategy = '...'`` may say.

A new strategy is one new module in this package with a class implementing ``ExtractionStrategy``
(constructor ``(settings, task, models_dir)``) plus one line in ``_STRATEGIES``. Entries are module paths,
imported only when that strategy is built: the ``json`` / ``evidence`` / ``hybrid`` modules import
onnxruntime-genai, ``rules`` does not, and this module imports nothing of the appliance but the
``ConfigError`` it raises (the settings model reads the names from here).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from ..tasks import Task
    from .protocol import ExtractionStrategy


class NamedSettings(Protocol):
    """What the registry reads of the settings (``appliance.settings.PipelineSettings``, which imports
    this module for the names: it is not imported here, not even for type checking, so there is no cycle)."""

    strategy: str


class Entry(NamedTuple):
    """One registered strategy: ``target`` = ``'.module:Class'`` inside this package; ``summary`` = one
    line for the settings reference (docs/configuration.md)."""

    target: str
    summary: str


_STRATEGIES: dict[str, Entry] = {
    "json": Entry(".json:JsonStrategy", "one constrained JSON answer per document (window)"),
    "evidence": Entry(".evidence:EvidenceStrategy",
                      "per-feature yes/no on rule-selected sentences, decided by the model alone"),
    "hybrid": Entry(".hybrid:HybridStrategy", "the same questions as 'evidence', decided by the mean of the "
                    "rule finding's and the model's probability"),
    "rules": Entry(".rules:RulesStrategy", "the rule baseline alone (no model)"),
}


def strategy_names() -> list[str]:
    """Every registered strategy name, in registration order."""
    return list(_STRATEGIES)


def strategy_summaries() -> dict[str, str]:
    """``{name: one-line summary}`` for every registered strategy."""
    return {name: e.summary for name, e in _STRATEGIES.items()}


def check_strategy_name(name: str) -> str:
    """``name`` if registered; ``ValueError`` naming the known strategies otherwise."""
    if name not in _STRATEGIES:
        raise ValueError(f"unknown extraction strategy '{name}': known strategies are "
                         + ", ".join(f"'{n}'" for n in _STRATEGIES))
    return name


def strategy_class(name: str) -> type:
    """The class registered as ``name`` (its module is imported now). ``ConfigError`` for an unknown name."""
    from ..errors import ConfigError

    try:
        entry = _STRATEGIES[check_strategy_name(name)]
    except ValueError as e:
        raise ConfigError(str(e)) from None
    module, _, attr = entry.target.partition(":")
    return getattr(import_module(module, __package__), attr)


def build_strategy(settings: NamedSettings, task: Task, models_dir: Path) -> ExtractionStrategy:
    """The strategy ``settings.strategy`` for ``task``, its models loaded from ``models_dir`` (not warmed);
    ``settings`` is the ``PipelineSettings`` the strategy's constructor reads.
    Raises ``ConfigError`` for an unknown name (naming the known ones) or an unusable configuration,
    ``BundleError`` for a bundle that does not verify or load."""
    return strategy_class(settings.strategy)(settings, task, models_dir)
