"""Llama (``LlamaForCausalLM``; Llama 3, SmolLM2): the builder supports it as is. The record holds its tiny recipe."""

from __future__ import annotations

from typing import Any

from .record import CHATML_BOS_TEMPLATE, Architecture, TinySpec, tiny_dims


def tiny_config(vocab: int, ids: dict[str, int]) -> Any:
    """Llama, hidden 64, 2 layers, head_dim 16, untied embeddings; BOS ``<|begin_of_text|>``."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab,
        **tiny_dims(ids),
        head_dim=16,
        tie_word_embeddings=False,
        bos_token_id=ids["bos"],
        architectures=["LlamaForCausalLM"],
    )


ARCHITECTURE = Architecture(
    name="llama",
    hf_architectures=("LlamaForCausalLM",),
    model_types=("llama",),
    tiny={
        # Llama-3-style: the template begins with {{ bos_token }}, so the manifest says add_bos.
        "llama": TinySpec(
            make_config=tiny_config,
            model_class="LlamaForCausalLM",
            chat_template=CHATML_BOS_TEMPLATE,
            bos_token="<|begin_of_text|>",
            extra_special_tokens=["<|begin_of_text|>"],
        ),
    },
)
