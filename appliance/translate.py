"""The optional translation stage: per-language policy, then an LLM or seq2seq translator bundle.

Translation is a per-language choice, measured rather than assumed: it helped the Persian study and
hurt a Dutch one. So the policy is configured per input language, and the translation is kept in
the result for audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .bundle import read_manifest
from .errors import BundleError
from .inference.engine import LoadedModel, prefill
from .language import language_name
from .settings import TranslatePolicy
from .windows import split_windows

TARGET_LANGUAGE = "en"


def policy_for(language: str | None, policies: dict[str, TranslatePolicy]) -> TranslatePolicy:
    if language is None:
        return "never"
    return policies.get(language) or policies.get("*") or "never"


def should_translate(language: str | None, policies: dict[str, TranslatePolicy], supported: list[str]) -> bool:
    """'always' translates any non-English input; 'auto' only where the translator lists the language."""
    if language is None or language == TARGET_LANGUAGE:
        return False
    policy = policy_for(language, policies)
    if policy == "always":
        return True
    if policy == "auto":
        return not supported or language in supported
    return False


@dataclass
class TranslationOutput:
    text: str
    chunks: int


class Translator(Protocol):
    name: str
    bundle_hash: str
    languages: list[str]

    def translate(self, text: str, source_language: str, target_language: str = TARGET_LANGUAGE) -> TranslationOutput:
        ...


class LlmTranslator:
    """A decoder LLM (e.g. Aya-expanse) prompted to translate, chunked by speaker turns to fit."""

    def __init__(self, model: LoadedModel, *, max_context: int = 4096) -> None:
        self.model = model
        self.name = model.name
        self.bundle_hash = model.bundle_hash
        self.languages = list(model.manifest.languages)
        self.max_length = min(model.context_length, max_context)

    def _messages(self, chunk: str, src: str, tgt: str) -> list[dict[str, str]]:
        system = (
            f"You are a professional medical translator. Translate the user's {language_name(src)} text into "
            f"{language_name(tgt)}. Keep every line break and speaker label exactly where it is. "
            "Translate everything faithfully; add nothing. Reply with the translation only."
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": chunk}]

    def translate(self, text: str, source_language: str, target_language: str = TARGET_LANGUAGE) -> TranslationOutput:
        overhead = len(self.model.encode(self.model.render(self._messages("", source_language, target_language),
                                                          add_generation_prompt=True)))
        # Half the room for the source chunk, half for its translation (plus a margin).
        budget = max(32, (self.max_length - overhead - 16) // 2)
        chunks = split_windows(text, budget, self.model.count_tokens, overlap=0)
        out = [self._translate_chunk(c, source_language, target_language, budget) for c in chunks]
        return TranslationOutput(text="\n".join(out), chunks=len(chunks))

    def _translate_chunk(self, chunk: str, src: str, tgt: str, budget: int) -> str:
        if not chunk.strip():
            return chunk
        prompt = self.model.render(self._messages(chunk, src, tgt), add_generation_prompt=True)
        ids = self.model.encode(prompt, add_bos=True)
        eos = self.model.eos_ids
        with self.model.lock:
            gen = self.model.generator(min(self.max_length, len(ids) + 2 * budget + 16))
            prefill(gen, ids)
            start = len(ids)
            while not gen.is_done() and gen.token_count() - start < 2 * budget:
                gen.generate_next_token()
            seq = [int(t) for t in gen.get_sequence(0)[start:]]
        while seq and seq[-1] in eos:
            seq.pop()
        return self.model.decode(seq).strip()


def load_translator(bundle_dir: Path, *, verify: bool = True, threads: int = 0, max_context: int = 4096) -> Translator:
    manifest = read_manifest(Path(bundle_dir))
    if manifest.role != "translator":
        raise BundleError(f"bundle {bundle_dir} has role '{manifest.role}', not 'translator'")
    if manifest.kind == "seq2seq":
        from .translate_mt import Seq2SeqTranslator

        return Seq2SeqTranslator(Path(bundle_dir), verify=verify, threads=threads)
    return LlmTranslator(LoadedModel(Path(bundle_dir), verify=verify, threads=threads), max_context=max_context)
