"""The evidence question: the prompt the 'evidence' and 'hybrid' strategies ask per feature, and the
excerpt it is asked about.

``export/finetune.py`` trains on exactly these prompts (it imports this module), and a bundle records
``prompt_hash`` of what it was trained on: change nothing here without a new fine-tune. No model and no
onnxruntime import here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..rules import RuleAnalysis
    from ..tasks import Feature

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

Render = Callable[..., str]


def prefix_messages() -> list[dict[str, str]]:
    """The fixed part of every question: system instruction and the worked examples as turns."""
    messages = [{"role": "system", "content": SYSTEM}]
    for label, excerpt, definition, answer in EXAMPLES:
        messages.append({"role": "user", "content": _question(label, definition, excerpt)})
        messages.append({"role": "assistant", "content": "yes" if answer else "no"})
    return messages


def question_turn(f: Feature, excerpt: str, language: str) -> str:
    """The user turn asking about feature ``f`` (label in ``language``, its definition) given ``excerpt``."""
    return _question(f.label(language), f.definition, excerpt)


def prompt_hash(render: Render) -> str:
    """sha256 of the whole question template (prefix, question with placeholders, generation prompt) as
    ``render(messages, add_generation_prompt=...)`` (a chat template) lays it out. The fine-tuning
    command records the same hash for the prompts it trained on."""
    template = render(prefix_messages() + [{"role": "user", "content": _question("{label}", "{def}", "{x}")}],
                      add_generation_prompt=True)
    return hashlib.sha256(("evidence-v1\0" + template).encode()).hexdigest()


def select_excerpt(analysis: RuleAnalysis, key: str, max_chars: int = EXCERPT_CHARS) -> str | None:
    """The rule-selected excerpt the model is asked about (passages of ``analysis.select_evidence`` with
    ``CONTEXT_SENTENCES``, at most ``max_chars`` characters, joined by newlines); None when the rules find
    no mention of feature ``key``."""
    sentences: Sequence[str] = analysis.select_evidence(key, context_sentences=CONTEXT_SENTENCES,
                                                        max_chars=max_chars)
    return "\n".join(sentences) if sentences else None
