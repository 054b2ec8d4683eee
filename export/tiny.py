"""Tiny randomly initialised checkpoints: the real export path in seconds, for tests and smoke runs.

``build_tiny_checkpoint('qwen2', out)`` writes an ordinary Hugging Face folder (config.json,
model.safetensors, tokenizer.json, tokenizer_config.json, chat_template.jinja, generation_config.json)
that ``export_bundle`` and the genai builder treat exactly like a downloaded model. The tokenizer is a
ByteLevel BPE trained in-process with ``tokenizers`` on a small built-in clinical text, so every byte is
encodable and JSON punctuation has its own tokens (guided JSON generation works).

Architectures are a registry: another module adds one with ``register_tiny('gemma3', TinySpec(...))``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import ExportError

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Llama-3-style: the template itself begins with the BOS token.
CHATML_BOS_TEMPLATE = "{{ bos_token }}" + CHATML_TEMPLATE

_CORPUS = """\
The patient reports pain in the lower back and fatigue for two weeks. No fever, no cough.
She has shortness of breath when walking and her oxygen saturation dropped to ninety percent.
He denies nausea and vomiting but describes loss of appetite and trouble sleeping at night.
The family asks for a home visit by the doctor. Insurance does not cover the morphine.
Seizures were observed yesterday; consciousness is decreased this morning. Urinary retention.
Constipation and diarrhea alternate. Anxiety and depression have worsened since the diagnosis.
Extract the features as JSON: {"pain": true, "fever": false, "cough": false, "fatigue": true}
Answer with true or false for each key. {"request_for_visit": false, "sleep_disorders": true}
system user assistant You are a careful clinical assistant. Return only JSON.
0 1 2 3 4 5 6 7 8 9 10 20 37.5 38 39 mg ml days weeks months yes no null [ ] { } , : " ' .
"""


def train_bpe_tokenizer(vocab_size: int = 800, special_tokens: list[str] | None = None):
    """A ByteLevel BPE ``tokenizers.Tokenizer`` trained on the built-in corpus (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    specials = list(special_tokens or SPECIAL_TOKENS)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = _CORPUS.splitlines()
    tok.train_from_iterator(lines * 4, trainer=trainer)
    return tok


@dataclass(frozen=True)
class TinySpec:
    """How to build one tiny architecture.

    ``make_config(vocab_size, ids)`` returns a transformers config; ``ids`` maps each special token
    (and 'bos'/'eos'/'pad') to its id. ``model_class`` is the transformers class name to instantiate.
    """

    make_config: Callable[[int, dict[str, int]], Any]
    model_class: str
    chat_template: str = CHATML_TEMPLATE
    bos_token: str | None = None
    eos_token: str = "<|im_end|>"
    pad_token: str = "<|endoftext|>"
    extra_special_tokens: list[str] = field(default_factory=list)
    vocab_size: int = 800


def _qwen2_config(vocab: int, ids: dict[str, int]):
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        architectures=["Qwen2ForCausalLM"],
    )


def _llama_config(vocab: int, ids: dict[str, int]):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        bos_token_id=ids["bos"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        architectures=["LlamaForCausalLM"],
    )


TINY_ARCHS: dict[str, TinySpec] = {
    "qwen2": TinySpec(make_config=_qwen2_config, model_class="Qwen2ForCausalLM"),
    "llama": TinySpec(
        make_config=_llama_config,
        model_class="LlamaForCausalLM",
        chat_template=CHATML_BOS_TEMPLATE,
        bos_token="<|begin_of_text|>",
        extra_special_tokens=["<|begin_of_text|>"],
    ),
}


def register_tiny(arch: str, spec: TinySpec) -> None:
    """Add (or replace) a tiny architecture, e.g. from ``export/arch/gemma3.py``."""
    TINY_ARCHS[arch] = spec


def build_tiny_checkpoint(arch: str, out: Path, seed: int = 0) -> Path:
    """Write a tiny random HF checkpoint of ``arch`` into ``out`` (created) and return ``out``."""
    # Architecture modules may register more tiny specs on import (best effort: they are optional).
    if arch not in TINY_ARCHS:
        try:
            from . import arch as _arch_pkg  # noqa: F401
        except ImportError:
            pass
    if arch not in TINY_ARCHS:
        raise ExportError(f"no tiny checkpoint recipe for architecture '{arch}' (known: {', '.join(sorted(TINY_ARCHS))})")
    spec = TINY_ARCHS[arch]

    import torch
    import transformers
    from transformers import GenerationConfig, PreTrainedTokenizerFast

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specials = SPECIAL_TOKENS + [t for t in spec.extra_special_tokens if t not in SPECIAL_TOKENS]
    raw = train_bpe_tokenizer(spec.vocab_size, specials)
    vocab = raw.get_vocab_size()
    ids = {t: raw.token_to_id(t) for t in specials}
    ids["eos"] = ids[spec.eos_token]
    ids["pad"] = ids[spec.pad_token]
    if spec.bos_token:
        ids["bos"] = ids[spec.bos_token]

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token=spec.bos_token,
        eos_token=spec.eos_token,
        pad_token=spec.pad_token,
        unk_token=None,
        model_max_length=4096,
    )
    tokenizer.chat_template = spec.chat_template
    tokenizer.save_pretrained(out)

    config = spec.make_config(vocab, ids)
    torch.manual_seed(seed)
    model_cls = getattr(transformers, spec.model_class)
    model = model_cls(config)
    # Random init has tiny logits; scale them up a little so the argmax is not a near-tie everywhere
    # (makes top-1 agreement a meaningful figure even for a random model).
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.mul_(4.0)
    model.eval()
    model.save_pretrained(out)
    eos = config.eos_token_id
    GenerationConfig(
        bos_token_id=ids.get("bos"),
        eos_token_id=eos,
        pad_token_id=ids["pad"],
        do_sample=False,
    ).save_pretrained(out)
    # A marker so sources are self-describing (export reads it for source_id).
    (out / "tiny.json").write_text(json.dumps({"arch": arch, "seed": seed, "vocab_size": vocab}) + "\n")
    return out
