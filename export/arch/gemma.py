"""Gemma and Gemma 2 (``GemmaForCausalLM``, ``Gemma2ForCausalLM``): the builder supports them as is.

One fact the export must add: Gemma's chat template starts with ``{{ bos_token }}``, genai's tokenizer
does not add ``<bos>``, and Gemma produces garbage without it, so prompts need BOS (``needs_bos``).
Gemma 3 has its own module (:mod:`export.arch.gemma3`).
"""

from __future__ import annotations

from .record import Architecture

ARCHITECTURE = Architecture(
    name="gemma",
    hf_architectures=("GemmaForCausalLM", "Gemma2ForCausalLM"),
    model_types=("gemma", "gemma2"),
    needs_bos=True,
)
