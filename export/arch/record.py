"""The record each ``export/arch/<name>.py`` module fills in: :class:`Architecture`, with its :class:`TinySpec` recipes.

Everything in the export that depends on the model architecture reads these records through
:mod:`export.arch.registry`: the builder's class patches and added classes (:mod:`export.arch._builder`),
the manifest's token facts (``export.build``), fine-tuning's BOS decision (``export.finetune``) and the
tiny checkpoints (``export.tiny``). This module imports nothing from the export, so every architecture
module and every reader can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

# ChatML, as Qwen2 and SmolLM2 write it: the template the tiny checkpoints carry unless a recipe says otherwise.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Llama-3-style: the template itself begins with the BOS token.
CHATML_BOS_TEMPLATE = "{{ bos_token }}" + CHATML_TEMPLATE



def tiny_dims(ids: Mapping[str, int]) -> dict[str, Any]:
    """The size and special tokens every tiny decoder recipe shares (config keyword arguments): hidden 64,
    MLP 128, 2 layers, 4 attention heads over 2 KV heads, 4,096 positions; EOS ``<|im_end|>`` and
    ``<|endoftext|>``, padding ``<|endoftext|>`` (``ids``: the tiny tokenizer's ids by token). Small enough
    to build and export in seconds, grouped-query attention so the builder's GQA path is exercised."""
    return {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]],
        "pad_token_id": ids["<|endoftext|>"],
    }

@dataclass(frozen=True)
class TinySpec:
    """How to build one tiny random checkpoint (``export.tiny.build_tiny_checkpoint``).

    ``make_config(vocab_size, ids)`` returns a transformers config; ``ids`` maps each special token
    (and 'bos'/'eos'/'pad') to its id. ``model_class`` is the transformers class name to instantiate.
    ``bos_token`` / ``eos_token`` / ``pad_token`` name special tokens of the tiny tokenizer;
    ``extra_special_tokens`` are added to its three ChatML ones; ``vocab_size`` is the BPE vocabulary size.
    """

    make_config: Callable[[int, dict[str, int]], Any]
    model_class: str
    chat_template: str = CHATML_TEMPLATE
    bos_token: str | None = None
    eos_token: str = "<|im_end|>"
    pad_token: str = "<|endoftext|>"
    extra_special_tokens: list[str] = field(default_factory=list)
    vocab_size: int = 800


# factory(builder_module, original_class) -> the class that replaces the builder's global of that name
ClassPatch = Callable[[ModuleType, type], type]
# factory(builder_module) -> a builder Model subclass for an architecture the builder does not know
BuilderClass = Callable[[ModuleType], type]


@dataclass(frozen=True)
class Architecture:
    """What the export needs to know about one model architecture.

    * ``name``: the record's name (its module's name).
    * ``hf_architectures``: ``config.architectures[0]`` values it covers (e.g. ``'Gemma3ForCausalLM'``);
      ``model_types``: ``config.model_type`` values it covers (e.g. ``'gemma3_text'``). A config matches
      the first record naming its architecture, else the first naming its model type.
    * ``class_patches``: builder globals to replace (``'Gemma3Model'`` -> a subclass with fixes).
    * ``builder_class``: for an architecture the onnxruntime-genai builder lacks (Cohere), the class it
      dispatches ``hf_architectures`` to.
    * ``needs_bos``: prompts must begin with BOS and genai's tokenizer does not add it (Gemma): the
      manifest says ``add_bos`` when the tokenizer has a BOS token the template does not write literally.
    * ``token_facts``: manifest ``TokenFacts`` fields set whatever the template says (Gemma 3:
      ``{'add_bos': True}``).
    * ``tiny``: tiny random checkpoint recipes by name (``appliance-export tiny NAME``), for tests.
    """

    name: str
    hf_architectures: tuple[str, ...] = ()
    model_types: tuple[str, ...] = ()
    class_patches: Mapping[str, ClassPatch] = field(default_factory=dict)
    builder_class: BuilderClass | None = None
    needs_bos: bool = False
    token_facts: Mapping[str, Any] = field(default_factory=dict)
    tiny: Mapping[str, TinySpec] = field(default_factory=dict)
