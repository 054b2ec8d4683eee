"""The optional translation stage: per-language policy, then an LLM or seq2seq translator bundle.

* :mod:`.interface`: the :class:`Translator` protocol, :class:`TranslationOutput`, :data:`TARGET_LANGUAGE`
  and the per-language policy (:func:`policy_for`, :func:`should_translate`);
* :mod:`.llm`: :class:`LlmTranslator`, a decoder LLM prompted to translate (``kind='decoder'``);
* :mod:`.seq2seq`: :class:`Seq2SeqTranslator`, Marian / NLLB encoder-decoder models (``kind='seq2seq'``);
* :mod:`.registry`: :func:`load_translator`, which picks the module by the bundle manifest's ``kind``.
"""

from __future__ import annotations

from .interface import TARGET_LANGUAGE, TranslationOutput, Translator, policy_for, should_translate
from .llm import LlmTranslator
from .registry import TRANSLATOR_KINDS, load_translator
from .seq2seq import MtConfig, Seq2SeqTranslator

__all__ = [
    "TARGET_LANGUAGE",
    "TRANSLATOR_KINDS",
    "LlmTranslator",
    "MtConfig",
    "Seq2SeqTranslator",
    "TranslationOutput",
    "Translator",
    "load_translator",
    "policy_for",
    "should_translate",
]
