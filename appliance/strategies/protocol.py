"""The one interface every extraction strategy implements (``ExtractionStrategy``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ..prepared import PreparedText
from ..result import FeatureResult, ModelRef


@runtime_checkable
class ExtractionStrategy(Protocol):
    """How one document's features are decided. Built by ``build_strategy`` (``registry``) with
    ``(settings: PipelineSettings, task: Task, models_dir: Path)``; loading may raise ``ConfigError`` /
    ``BundleError``. The pipeline calls ``warm()`` once, then ``extract`` per document (or per window).

    Attributes
      ``name``: the registry name (``'hybrid'``, ``'json'``, ...), recorded in ``Provenance.strategy``.
      ``models``: provenance of every model and rule set used (``ModelRef``: extractor bundle, rules).
      ``prompt_hash``: sha256 (hex) of what decides the output besides the models (the prompt template;
      for the rules alone, the rules' content hash).
      ``count_tokens``: the extractor's tokenizer, ``text -> number of tokens``; None when there is no
      token limit (the pipeline then neither counts nor refuses long documents).
      ``window_tokens``: the most document tokens one ``extract`` call may be given; the pipeline splits
      longer documents into overlapping windows (``appliance.windows``) and merges the answers. None:
      the whole document at once.
    """

    name: str
    models: list[ModelRef]
    prompt_hash: str
    count_tokens: Callable[[str], int] | None
    window_tokens: int | None

    def warm(self) -> None:
        """Load and prefill what the first document would otherwise pay for (seconds, once)."""
        ...

    def extract(self, text: PreparedText) -> dict[str, FeatureResult]:
        """Decide every feature of the task for ``text`` (a whole document, its translation, or one
        window of either: ``text.normalized`` is what is read, in ``text.extract_language``).

        Returns one ``FeatureResult`` per task feature key, in task order:

        * ``status='extracted'``: ``value`` of the feature's type (bool for a boolean feature; an option,
          number or list of strings otherwise). For a boolean, ``score`` = P(True) in [0, 1] before the
          threshold and ``threshold`` = the feature's; ``value == (score >= threshold)`` where a score
          exists. ``confidence`` = probability of the reported value in [0, 1], or None where none exists.
          ``reason`` is None, or a stable code for a value decided without a model call
          (``'no_evidence'``: the rules found no mention, so False, with no score).
        * ``status='missing'``: ``value`` None and ``reason`` a stable code (``'not_supported_by_rules'``,
          ``'not_supported_by_evidence_strategy'`` for non-boolean features; the generation's failure
          code for the json strategy). Model-level trouble comes back this way, never as an exception.
        * ``evidence``: quotes the value rests on (at most a few). A quote that is a verbatim slice of
          ``text.original`` carries its ``start`` / ``end`` character offsets into it (end exclusive);
          a model-written quote has none. ``found_in_text`` and ``source`` are left at their defaults:
          the pipeline sets them (``Pipeline.process``).
        """
        ...
