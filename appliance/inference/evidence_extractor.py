"""The 'evidence' strategy: the rule pre-pass picks the sentences that matter for each feature, and
the model answers one yes/no question per feature about those sentences only.

Why: a small model asked for 13 answers about a whole transcript answers by rote (measured: the
same output for nearly every document). Asked one narrow question about three relevant sentences,
its yes/no log-probabilities carry far more signal, and the prompt is short. A feature for which the
rules find no relevant sentence at all is 'not mentioned': False, without a model call.

The shared instruction and worked examples form a prefix that is prefilled once and reused with
``rewind_to`` for every question.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from ..bundle import resolve_bundle
from ..result import Evidence, FeatureResult, ModelRef
from ..settings import PipelineSettings
from ..tasks import Feature, Task
from .engine import LoadedModel, last_logprobs, prefill

SYSTEM = (
    "You read excerpts from a conversation between a clinician and a patient (or the patient's family). "
    "For the item asked about, answer yes if the excerpt shows the patient has it now, and no if it is "
    "denied, in the past only, only asked about without a yes, about someone else, or not in the excerpt. "
    "Answer with one word: yes or no."
)

# Worked examples in the same layout as the real questions (written for the project, not from data).
EXAMPLES: list[tuple[str, str, str, bool]] = [
    ("Fever", "Clinician: Have you had any fever?\nPatient: Yes, 38.5 last night.", "Fever or raised temperature.", True),
    ("Pain", "Clinician: Any pain?\nPatient: No, no pain at all.", "Pain of any kind or location.", False),
    ("Cough", "Patient: My husband has a terrible cough, but I'm fine.", "A cough.", False),
    ("Loss of appetite", "Daughter: She barely eats anything, she just pushes the plate away.",
     "Reduced appetite or not eating.", True),
]


def _question(label: str, definition: str, excerpt: str) -> str:
    return f"Excerpt:\n{excerpt.strip()}\n\nItem: {label}. {definition.strip()}\nDoes the patient have it now?"


# How the excerpt is chosen; the fine-tuning data (export/finetune.py) is built with the same values.
CONTEXT_SENTENCES = 1
EXCERPT_CHARS = 1200
# Context for one question after the shared prefix: the question turn plus an excerpt of at most
# EXCERPT_CHARS characters (~300 tokens of English, ~1,300 of Persian with SmolLM2's tokenizer).
# The KV cache is allocated for the whole max_length up front, so this, not max_context_tokens,
# sizes it (~95 MB less resident memory for SmolLM2 than 4,096 tokens).
QUESTION_TOKENS = 2048
# First tokens of these words are summed into P(yes) / P(no).
YES_WORDS = ["yes", "Yes", " yes", " Yes"]
NO_WORDS = ["no", "No", " no", " No"]


def prefix_messages() -> list[dict[str, str]]:
    """The fixed part of every question: system instruction and the worked examples as turns."""
    messages = [{"role": "system", "content": SYSTEM}]
    for label, excerpt, definition, answer in EXAMPLES:
        messages.append({"role": "user", "content": _question(label, definition, excerpt)})
        messages.append({"role": "assistant", "content": "yes" if answer else "no"})
    return messages


def question_turn(f: Feature, excerpt: str, language: str) -> str:
    return _question(f.label(language), f.definition, excerpt)


def prompt_hash(render) -> str:
    """sha256 of the whole question template (prefix, question with placeholders, generation prompt) as
    ``render(messages, add_generation_prompt=...)`` (a chat template) lays it out. The fine-tuning
    command records the same hash for the prompts it trained on."""
    template = render(prefix_messages() + [{"role": "user", "content": _question("{label}", "{def}", "{x}")}],
                      add_generation_prompt=True)
    return hashlib.sha256(("evidence-v1\0" + template).encode()).hexdigest()


def select_excerpt(rules, text: str, language: str, key: str, max_chars: int = EXCERPT_CHARS) -> str | None:
    """The rule-selected excerpt the model is asked about; None when the rules find no mention."""
    sentences = rules.select_evidence(text, language, key, context_sentences=CONTEXT_SENTENCES, max_chars=max_chars)
    return "\n".join(sentences) if sentences else None


class EvidenceStrategy:
    def __init__(self, settings: PipelineSettings, task: Task, models_dir: Path) -> None:
        from ..rules import RuleExtractor

        self.task = task
        self.settings = settings
        self.rules = RuleExtractor(task)
        self.model = LoadedModel(resolve_bundle(settings.extractor, models_dir), verify=settings.verify_bundles,
                                 threads=settings.threads)
        messages = prefix_messages()
        self._messages = messages
        self.prefix = self.model.render(messages, add_generation_prompt=False)
        probe = self.model.render(messages + [{"role": "user", "content": "x"}], add_generation_prompt=True)
        self.reuse = settings.prefix_reuse and probe.startswith(self.prefix)
        self._prefix_tokens = self.model.encode(self.prefix, add_bos=True)  # tokenised once, used below
        self.prefix_ids = self._prefix_tokens if self.reuse else []
        self.yes_ids = self._first_ids(YES_WORDS)
        self.no_ids = self._first_ids(NO_WORDS)
        self.max_length = min(self.model.context_length, settings.max_context_tokens,
                              len(self._prefix_tokens) + QUESTION_TOKENS)
        self.prompt_hash = prompt_hash(self.model.render)
        m = self.model.manifest
        rules_hash = getattr(self.rules, "content_hash", None) or task.content_hash
        self.models = [
            ModelRef(name=m.name, role="extractor", bundle_hash=self.model.bundle_hash, precision=m.precision,
                     execution_provider=m.execution_provider),
            ModelRef(name=f"rules-{task.name}", role="rules", bundle_hash=rules_hash),
        ]
        self.count_tokens = self.model.count_tokens
        # Evidence is selected from the whole document; only the excerpt must fit the context.
        self.window_tokens = None
        self.excerpt_chars = EXCERPT_CHARS
        self._gen = None

    def _first_ids(self, words: list[str]) -> list[int]:
        ids = []
        for w in words:
            enc = self.model.encode(w)
            if enc and enc[0] not in ids:
                ids.append(enc[0])
        return ids

    def warm(self) -> None:
        with self.model.lock:
            if self.reuse and self._gen is None:
                self._gen = self.model.generator(self.max_length)
                prefill(self._gen, self.prefix_ids)
        self.rules.extract("warm up", "en")

    def _p_yes(self, f: Feature, excerpt: str, language: str) -> float:
        turn = question_turn(f, excerpt, language)
        with self.model.lock:
            if self.reuse:
                self.warm()
                gen = self._gen
                gen.rewind_to(len(self.prefix_ids))
                full = self.model.render(self._messages + [{"role": "user", "content": turn}],
                                         add_generation_prompt=True)
                ids = self.model.encode(full[len(self.prefix):])
            else:
                gen = self.model.generator(self.max_length)
                full = self.model.render(self._messages + [{"role": "user", "content": turn}],
                                         add_generation_prompt=True)
                ids = self._prefix_tokens + self.model.encode(full[len(self.prefix):]) \
                    if full.startswith(self.prefix) else self.model.encode(full, add_bos=True)
            room = self.max_length - gen.token_count() - 2
            prefill(gen, ids[: max(room, 1)])
            lp = last_logprobs(gen)
        yes = np.logaddexp.reduce([lp[i] for i in self.yes_ids])
        no = np.logaddexp.reduce([lp[i] for i in self.no_ids])
        return float(1.0 / (1.0 + math.exp(no - yes)))

    def extract(self, text: str, language: str) -> dict[str, FeatureResult]:
        findings = self.rules.extract(text, language)
        out: dict[str, FeatureResult] = {}
        for f in self.task.features:
            if f.type != "boolean":  # yes/no questions only: other types are not asked
                out[f.key] = FeatureResult(status="missing", reason="not_supported_by_evidence_strategy")
                continue
            excerpt = select_excerpt(self.rules, text, language, f.key, self.excerpt_chars)
            rule = findings.get(f.key)
            if excerpt is None:
                out[f.key] = no_evidence_result(f, rule)
                continue
            p = self._score(rule, self._p_yes(f, excerpt, language))
            value = p >= f.threshold
            out[f.key] = FeatureResult(value=value, status="extracted", score=p, confidence=p if value else 1 - p,
                                       threshold=f.threshold, evidence=rule_quotes(rule))
        return out

    def _score(self, rule, p_model: float) -> float:
        """P(true) the decision rests on: the model's own here; 'hybrid' blends in the rule finding."""
        return p_model


class HybridStrategy(EvidenceStrategy):
    """'hybrid': the rule pre-pass and the model vote. Same questions as 'evidence' (one yes/no per
    feature with a rule-selected excerpt, none for a feature without one); the decision is on the
    equal-weight mean of the two probabilities of True:

        score = RULE_WEIGHT * P_rules(true) + (1 - RULE_WEIGHT) * P_model(yes),   value = score >= threshold

    ``P_rules`` is the rule finding's heuristic confidence (``appliance.rules``: present 0.65-0.95,
    absent 0.10-0.25, history/family/hypothetical 0.20, asked but unanswered 0.05), as the 'rules'
    strategy reports it. With the default threshold 0.5 the model keeps or drops a weak rule finding
    (one present mention needs P(yes) >= 0.35) and can overturn a rule 'absent' only when it is sure
    (P(yes) >= 0.9). Equal weights are a fixed choice (no parameter fitted to any data set)."""

    RULE_WEIGHT = 0.5

    def _score(self, rule, p_model: float) -> float:
        score = self.RULE_WEIGHT * rule_score(rule) + (1.0 - self.RULE_WEIGHT) * p_model
        return min(1.0, max(0.0, score))


def rule_score(rule) -> float:
    """The rule finding's probability of True, as the 'rules' strategy reports it (0.5 without one)."""
    if rule is None:
        return 0.5
    conf = max(0.0, min(1.0, float(rule.confidence)))
    return conf if rule.value else 1.0 - conf


NO_EVIDENCE = "no_evidence"


def no_evidence_result(f: Feature, rule) -> FeatureResult:
    """A feature the rule pre-pass found no mention of: False without a model call.

    ``reason`` says so (``no_evidence``); ``score`` stays empty (no model probability exists, and the
    threshold is not applied: calibration leaves these documents out, exactly as the pipeline decides);
    ``confidence`` is the rule pre-pass's heuristic for 'not mentioned' (``appliance.rules``)."""
    conf = float(rule.confidence) if rule is not None and not rule.value else None
    return FeatureResult(value=False, status="extracted", reason=NO_EVIDENCE, confidence=conf, score=None,
                         threshold=f.threshold)


def rule_quotes(rule, limit: int = 3) -> list[Evidence]:
    """The sentences of the rule pre-pass's mentions behind a decision, as evidence quotes (verbatim
    sentences of the text the rules read, so the pipeline's evidence check finds them)."""
    if rule is None:
        return []
    quotes: list[Evidence] = []
    for span in rule.evidence:
        q = span.sentence.strip()[:300]
        if q and all(q != e.quote for e in quotes):
            quotes.append(Evidence(quote=q, found_in_text=False))
        if len(quotes) >= limit:
            break
    return quotes
