"""Model architectures for the export: one record per module, one registry that everything reads.

Each ``export/arch/<name>.py`` module defines ``ARCHITECTURE``, an :class:`Architecture` record
(:mod:`export.arch.record`), listed in :data:`export.arch.registry.ARCHITECTURES`:

* ``qwen2``, ``llama``: supported by the builder as is; their records hold the tiny checkpoint recipes.
* ``gemma``: Gemma and Gemma 2 need ``<bos>`` before prompts (genai's tokenizer does not add it).
* ``gemma3``: Gemma 3 under transformers 5 (RoPE config, exact embedding scale, ``<bos>``, sliding
  window cache slack). See :mod:`export.arch.gemma3`.
* ``cohere``: ``CohereForCausalLM`` (Aya-expanse-8B), which the builder does not support. See
  :mod:`export.arch.cohere`.

Readers: :func:`run_builder` / :func:`install` (the builder with every record's patches installed; a
subprocess runs ``python -m export.arch.builder`` instead of ``python -m onnxruntime_genai.models.builder``),
:func:`token_facts_overrides` and :func:`needs_bos` (``export.build``'s token facts, ``export.finetune``),
:func:`tiny_recipes` (``export.tiny``).
"""

from __future__ import annotations

from ._builder import builder_module, install, run_builder
from .record import Architecture, TinySpec
from .registry import architecture_for, needs_bos, tiny_recipes, token_facts_overrides

__all__ = [
    "Architecture",
    "TinySpec",
    "architecture_for",
    "builder_module",
    "install",
    "needs_bos",
    "run_builder",
    "tiny_recipes",
    "token_facts_overrides",
]
