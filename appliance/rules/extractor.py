"""The rule extractor: medspaCy target matching + ConText over a dialogue-aware segmentation.

Per document (``RuleExtractor.analyse``, once): the prepared text (``appliance.prepared``: normalised,
with offsets back to the user's text) -> turns, sentences, questions (``segment``) -> tokenise once with
a blank spaCy pipeline, sentence starts from the segmentation (``matcher``) -> medspaCy ``TargetMatcher``
(one category per feature, terms from ``lexicon``) -> medspaCy ``ConText`` (rules in
``context/<lang>.json``) -> one assertion per mention (``assertion``) -> a ``RuleAnalysis``
(``analysis``), queried per feature: one finding per feature (``findings``: the vote and the
heuristic confidence), and the excerpt an LLM is asked about.

Modules: ``matcher`` (spaCy pipeline per task and language), ``context`` (the ConText rules) and
``scope`` (which targets a cue reaches), ``segment`` / ``speakers`` / ``answers`` (dialogue structure),
``assertion`` (one mention), ``findings`` (one feature), ``analysis`` (one document), ``lexicon``
(terms), this module (the entry point and its provenance hash).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import TYPE_CHECKING

from ..prepared import PreparedText, prepare_text
from .analysis import RuleAnalysis, analyse_document
from .findings import RuleFinding
from .matcher import rules_language

if TYPE_CHECKING:
    from ..tasks import Task

RULES_VERSION = "7"


def prepare_for_rules(text: str, language: str | None = "en") -> PreparedText:
    """Prepare a raw text the way the rules read it when called on their own (tests, bench): the rules
    language of ``language`` (``rules_language``; with no code, ``fa`` for mostly Arabic-script text, else
    ``en``: no statistical detection), normalised for it, offsets back to ``text``."""
    return prepare_text(text, rules_language(language, text))


class RuleExtractor:
    """Rule baseline for a task's boolean features; also picks evidence sentences for an LLM prompt.

    ``analyse(prepared)`` -> ``RuleAnalysis`` (one per document; ``findings()``, ``finding(key)``,
    ``select_evidence(key, ...)``). ``extract(text, language)`` is the one-call convenience
    ``analyse(prepare_for_rules(text, language)).findings()``. The spaCy pipeline is built once per
    (task content, language) and shared by every extractor (``matcher.pipeline_for``).
    """

    def __init__(self, task: Task) -> None:
        self.task = task
        self._content_hash: str | None = None

    @property
    def content_hash(self) -> str:
        """sha256 over what decides the output: the task, every built-in lexicon, ConText rule and
        shorthand file, and ``RULES_VERSION`` (bumped when the logic changes). For result provenance."""
        if self._content_hash is None:
            h = hashlib.sha256(f"rules-{RULES_VERSION}\0{self.task.content_hash}".encode())
            root = resources.files(__package__)
            for folder in ("lexicons", "context", "shorthand"):
                for ref in sorted(root.joinpath(folder).iterdir(), key=lambda r: r.name):
                    if ref.name.endswith(".json"):
                        h.update(f"\0{folder}/{ref.name}\0".encode())
                        h.update(ref.read_bytes())
            self._content_hash = h.hexdigest()
        return self._content_hash

    def analyse(self, prepared: PreparedText) -> RuleAnalysis:
        """Run the rules once over ``prepared.normalized``, in the rules language of
        ``prepared.extract_language`` (English when the document's language is unknown)."""
        return analyse_document(self.task, prepared, rules_language(prepared.extract_language))

    def extract(self, text: str, language: str | None = "en") -> dict[str, RuleFinding]:
        """``{feature_key: RuleFinding}`` (boolean features only) for a raw text; span offsets index
        ``text``. For tests and benchmarks; the pipeline prepares once and calls ``analyse``."""
        return self.analyse(prepare_for_rules(text, language)).findings()

    def warm(self, language: str = "en") -> None:
        """Build the spaCy pipeline for ``language`` now (about a second), not on the first document."""
        self.extract("warm up", language)
