"""The architecture registry: one :class:`~export.arch.record.Architecture` per ``export/arch/<name>.py`` module.

Every part of the export that depends on the architecture asks here: the builder patches
(:mod:`export.arch._builder`), token facts and the BOS decision (``export.build``, ``export.finetune``)
and the tiny checkpoints (``export.tiny``). Adding an architecture: write ``export/arch/<name>.py``
with an ``ARCHITECTURE`` record and add it to :data:`ARCHITECTURES` below (see docs/export.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import cohere, gemma, gemma3, llama, qwen2
from .record import Architecture, BuilderClass, ClassPatch, TinySpec

ARCHITECTURES: tuple[Architecture, ...] = (
    qwen2.ARCHITECTURE,
    llama.ARCHITECTURE,
    gemma.ARCHITECTURE,
    gemma3.ARCHITECTURE,
    cohere.ARCHITECTURE,
)


def _names(config: Any) -> tuple[str, str]:
    """(``architectures[0]``, ``model_type``) of an HF config object or config.json dict ('' when absent)."""
    if isinstance(config, Mapping):
        archs, model_type = config.get("architectures") or [""], config.get("model_type", "")
    else:
        archs, model_type = getattr(config, "architectures", None) or [""], getattr(config, "model_type", "")
    return archs[0] or "", model_type or ""


def architecture_for(config: Any) -> Architecture | None:
    """The record for an HF config (object or config.json dict): the first naming its
    ``architectures[0]``, else the first naming its ``model_type``; None for an architecture no
    record covers (the builder's own support then applies unchanged)."""
    arch, model_type = _names(config)
    if arch:
        for record in ARCHITECTURES:
            if arch in record.hf_architectures:
                return record
    if model_type:
        for record in ARCHITECTURES:
            if model_type in record.model_types:
                return record
    return None


def token_facts_overrides(config: Any) -> dict[str, Any]:
    """``TokenFacts`` fields this architecture sets whatever the template says (Gemma 3: ``add_bos=True``)."""
    record = architecture_for(config)
    return dict(record.token_facts) if record is not None else {}


def needs_bos(config: Any) -> bool:
    """Whether this architecture's prompts need BOS that genai's tokenizer does not add (Gemma)."""
    record = architecture_for(config)
    return bool(record and record.needs_bos)


def tiny_recipes() -> dict[str, TinySpec]:
    """Every tiny checkpoint recipe, by name (``'qwen2'``, ``'llama'``, ``'gemma3'``, ``'cohere'``, ...).

    Raises ``ValueError`` when two records use the same recipe name.
    """
    out: dict[str, TinySpec] = {}
    for record in ARCHITECTURES:
        for name, spec in record.tiny.items():
            if name in out:
                raise ValueError(f"tiny recipe '{name}' is defined twice (architecture '{record.name}')")
            out[name] = spec
    return out


def class_patches() -> dict[str, ClassPatch]:
    """Builder globals to replace, by name (``'Gemma3Model'`` -> factory(builder, original))."""
    return {name: patch for record in ARCHITECTURES for name, patch in record.class_patches.items()}


def builder_classes() -> dict[str, BuilderClass]:
    """Classes for architectures the builder lacks, by ``config.architectures[0]`` (``'CohereForCausalLM'``)."""
    return {arch: record.builder_class for record in ARCHITECTURES if record.builder_class is not None
            for arch in record.hf_architectures}
