"""LLM translator: a decoder bundle (role ``translator``, kind ``decoder``) prompted to translate.

The model (e.g. Aya-expanse-8B, exported with ``appliance-export build --role translator``) runs in
onnxruntime-genai through :class:`appliance.inference.engine.LoadedModel`, the extractor's own runtime.
The text is cut at line ends (speaker turns) into chunks that fit the context, each translated in one
greedy generation.
"""

from __future__ import annotations

from pathlib import Path

from ..inference.engine import LoadedModel, prefill
from ..language import language_name
from ..windows import split_windows
from .interface import TARGET_LANGUAGE, TranslationOutput, Translator


class LlmTranslator:
    """A decoder LLM (e.g. Aya-expanse) prompted to translate, chunked by speaker turns to fit.

    ``max_context`` caps the tokens one call may use (prompt + source + translation), below the model's
    own context length. ``translate`` holds the model's lock while generating (one call at a time).
    """

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
        """Translate ``text`` chunk by chunk; chunks are whole lines of at most half the free context.

        Each chunk gets ``(max_length - prompt overhead - 16) // 2`` tokens (at least 32) and its
        translation at most twice that, so a noisy model cannot run past the context. Chunks are
        joined with newlines; ``chunks`` in the output counts them.
        """
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


def load(bundle_dir: Path, *, verify: bool = True, threads: int = 0, max_context: int = 4096) -> Translator:
    """Load a ``kind='decoder'`` translator bundle (``verify``: check every file's sha256 first;
    ``threads``: onnxruntime threads, 0 = every CPU). Raises :class:`appliance.errors.BundleError`."""
    return LlmTranslator(LoadedModel(Path(bundle_dir), verify=verify, threads=threads), max_context=max_context)
