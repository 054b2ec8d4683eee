"""Qwen2 (``Qwen2ForCausalLM``; Qwen2.5): the builder supports it as is. The record holds its tiny recipe."""

from __future__ import annotations

from typing import Any

from .record import Architecture, TinySpec, tiny_dims


def tiny_config(vocab: int, ids: dict[str, int]) -> Any:
    """Qwen2, hidden 64, 2 layers, 4 heads / 2 KV heads, tied embeddings; BOS is ``<|endoftext|>``."""
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=vocab,
        **tiny_dims(ids),
        tie_word_embeddings=True,
        bos_token_id=ids["<|endoftext|>"],
        architectures=["Qwen2ForCausalLM"],
    )


ARCHITECTURE = Architecture(
    name="qwen2",
    hf_architectures=("Qwen2ForCausalLM",),
    model_types=("qwen2",),
    # ChatML template, no BOS token: the runtime adds none.
    tiny={"qwen2": TinySpec(make_config=tiny_config, model_class="Qwen2ForCausalLM")},
)
