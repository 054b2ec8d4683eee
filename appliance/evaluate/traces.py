"""Traced 'hybrid' runs: the daemon's pipeline, recording per document what the combiner weighs.

A traced run is ``runner.predict`` with the ``Tracing`` hooks (``population_run`` makes them): the
hybrid strategy asks every question (whatever the combiner in use would skip) and each cache record
gets ``trace``: per boolean feature the
rule facts, the rules' score, the question's bucket and the model's P(yes) (``HybridStrategy.trace_sink``;
numbers and codes only). The fingerprint leaves out the combiner, so refitting a combiner never re-runs
the model: a refitted combiner is measured from the traces (``combine.model.trace_decision``).

Answers are also kept by question (``AnswerStore``: sha256 of the prompt hash and the question turn ->
P(yes), one file per extractor bundle hash): when the rules change, only the questions whose excerpt
changed are asked again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from .runner import PipelineLike


class AnswerStore(MutableMapping[str, float]):
    """Model answers by question hash, appended to a JSONL file (``{"q": hash, "p": P(yes)}``) as they
    are made; torn lines are skipped on load. Holds no text."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._d: dict[str, float] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self._d[str(rec["q"])] = float(rec["p"])
                except (ValueError, KeyError, TypeError):
                    continue

    def __getitem__(self, key: str) -> float:
        return self._d[key]

    def __setitem__(self, key: str, value: float) -> None:
        self._d[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"q": key, "p": value}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def __delitem__(self, key: str) -> None:
        raise TypeError("answers are never deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)


RULE_CODE = ("appliance.rules", "appliance.strategies.rules", "appliance.strategies.rule_evidence",
             "appliance.normalize", "appliance.prepared")
HYBRID_CODE = RULE_CODE + ("appliance.combine", "appliance.strategies.hybrid", "appliance.strategies.evidence",
                           "appliance.strategies.question")


def source_hash(modules: Sequence[str]) -> str:
    """sha256 over the Python source of ``modules`` (a package: every ``.py`` file under it, sorted), so a
    cache fingerprint changes when the code that decides the predictions changes, not only its data
    files (the rules' hash covers lexicons and ConText rules)."""
    import hashlib
    import importlib.util

    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for f in files:
            h.update(f"\0{f.relative_to(origin.parent.parent) if origin.name == '__init__.py' else f.name}\0".encode())
            h.update(f.read_bytes())
    return h.hexdigest()


class CodeFingerprint:
    """``runner.Instrument`` that adds ``source_hash(modules)`` to the fingerprint and nothing to records."""

    def __init__(self, modules: Sequence[str] = RULE_CODE) -> None:
        self.code = source_hash(modules)

    def describe(self, describe: dict[str, Any]) -> dict[str, Any]:
        """``describe`` plus the code hash."""
        return {**describe, "code_sha256": self.code}

    def extra(self) -> dict[str, Any]:
        """Nothing."""
        return {}


class Tracing:
    """``runner.Instrument`` for a hybrid pipeline (module docstring). Raises InputError ``not_hybrid``
    when the pipeline's strategy records no traces."""

    def __init__(self, pipeline: PipelineLike, answers_dir: Path) -> None:
        strategy = getattr(pipeline, "strategy", None)
        if strategy is None or not hasattr(strategy, "trace_sink"):
            raise InputError("not_hybrid", "traces are recorded by the 'hybrid' strategy only")
        self._combiner = strategy.combiner.content_hash
        self._code = source_hash(HYBRID_CODE)
        self._last: dict[str, Any] | None = None
        strategy.trace_sink = self._sink
        extractor = next(m for m in strategy.models if m.role == "extractor")
        strategy.answers = AnswerStore(answers_dir / f"answers-{extractor.bundle_hash[:16]}.jsonl")

    def _sink(self, trace: dict[str, Any]) -> None:
        self._last = trace

    def describe(self, describe: dict[str, Any]) -> dict[str, Any]:
        """``describe`` without the combiner's entry among the models, with the hash of the code that
        makes the traces (``HYBRID_CODE``)."""
        models = [m for m in describe.get("models", []) if m.get("bundle_hash") != self._combiner]
        return {**describe, "models": models, "traced": True, "code_sha256": self._code}

    def extra(self) -> dict[str, Any]:
        """``{"trace": ...}`` of the document just processed (None when the strategy was not reached)."""
        trace, self._last = self._last, None
        return {"trace": trace}
