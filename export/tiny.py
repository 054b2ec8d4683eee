"""Tiny randomly initialised checkpoints: the real export path in seconds, for tests and smoke runs.

``build_tiny_checkpoint('qwen2', out)`` writes an ordinary Hugging Face folder (config.json,
model.safetensors, tokenizer.json, tokenizer_config.json, chat_template.jinja, generation_config.json)
that ``export_bundle`` and the genai builder treat exactly like a downloaded model. The tokenizer is a
ByteLevel BPE trained in-process with ``tokenizers`` on a small built-in clinical text, so every byte is
encodable and JSON punctuation has its own tokens (guided JSON generation works).

The recipes (:class:`TinySpec`) belong to the architecture records (``export/arch/<name>.py``, field
``tiny``); :func:`export.arch.tiny_recipes` lists them all.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import ExportError
from .arch import tiny_recipes
from .arch.record import CHATML_BOS_TEMPLATE, CHATML_TEMPLATE, TinySpec

__all__ = ["CHATML_BOS_TEMPLATE", "CHATML_TEMPLATE", "SPECIAL_TOKENS", "TinySpec", "build_tiny_checkpoint",
           "train_bpe_tokenizer"]

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

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
    """A ByteLevel BPE ``tokenizers.Tokenizer`` of at most ``vocab_size`` tokens trained on the built-in
    corpus (deterministic), with ``special_tokens`` (default :data:`SPECIAL_TOKENS`) first."""
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


def build_tiny_checkpoint(arch: str, out: Path, seed: int = 0) -> Path:
    """Write a tiny random HF checkpoint of recipe ``arch`` into ``out`` (created) and return ``out``.

    ``seed`` seeds torch's weight initialisation (the tokenizer is deterministic). Raises
    :class:`ExportError` for a recipe name no architecture record defines.
    """
    recipes = tiny_recipes()
    if arch not in recipes:
        raise ExportError(f"no tiny checkpoint recipe for architecture '{arch}' (known: {', '.join(sorted(recipes))})")
    spec = recipes[arch]

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
