"""Seq2seq translation bundles (Marian, NLLB): greedy decoding with onnxruntime + tokenizers + numpy.

A ``kind='seq2seq'`` bundle (made by ``appliance-export mt``) holds three ONNX graphs exported by
optimum (encoder, decoder, decoder-with-past), a ``tokenizer.json`` whose ids are the model's and
which adds no special tokens, and ``mt_config.json`` (:class:`MtConfig`): special ids, language
tokens, limits. The decoding loop is documented in ``docs/translation-models.md``; in short::

    src   = source_prefix[src_lang] + target_source_prefix[tgt_lang] + encode(text) + [eos]
    enc   = encoder(input_ids=src, attention_mask=1)                      -> last_hidden_state
    start = [decoder_start_token_id] + [target_forced_bos[tgt_lang]]?     (NLLB forces the language)
    step 0: decoder(input_ids=start, encoder_hidden_states=enc, encoder_attention_mask)
            -> logits, present.{i}.decoder.{key,value}, present.{i}.encoder.{key,value}
    step n: decoder_with_past(input_ids=[[last]], encoder_attention_mask,
                              past_key_values.{i}.decoder.* = previous present.{i}.decoder.*,
                              past_key_values.{i}.encoder.* = step-0 present.{i}.encoder.*)
    next  = argmax(logits[0, -1] with suppress_token_ids at -inf); stop at eos or the length cap

No torch and no transformers: this module is part of the runtime.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..bundle import read_manifest, verify_bundle
from ..errors import BundleError
from ..inference.control_tokens import BREAK, ControlTokens, control_strings
from ..language import LANGUAGES, mt_codes
from ..threads import inference_threads
from ..windows import split_windows
from .interface import TARGET_LANGUAGE, TranslationOutput, Translator

MT_CONFIG_NAME = "mt_config.json"


class MtConfig(BaseModel):
    """``mt_config.json``: what the greedy loop needs that the ONNX files do not say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: Literal[1] = 1
    model_type: str = Field(description="transformers model_type of the source, e.g. 'marian', 'm2m_100'.")
    encoder: str = "encoder_model.onnx"
    decoder: str = "decoder_model.onnx"
    decoder_with_past: str = "decoder_with_past_model.onnx"
    tokenizer: str = "tokenizer.json"
    decoder_start_token_id: int
    eos_token_ids: list[int] = Field(min_length=1)
    pad_token_id: int | None = None
    suppress_token_ids: list[int] = Field(default_factory=list, description="Never generated (Marian: <pad>).")
    max_length: int = Field(gt=0, description="Generation cap in decoder tokens (source generation_config).")
    max_source_tokens: int = Field(gt=1, description="Longest encoder input; longer text is split.")
    append_eos_to_source: bool = True
    source_languages: list[str] = Field(default_factory=list, description="Model codes; empty = not stated.")
    target_languages: list[str] = Field(default_factory=list)
    source_prefix_ids: dict[str, list[int]] = Field(
        default_factory=dict, description="By source language: ids before the text (NLLB: the language token)."
    )
    target_source_prefix_ids: dict[str, list[int]] = Field(
        default_factory=dict, description="By target language: ids before the text (multilingual Marian: >>xx<<)."
    )
    target_forced_bos_ids: dict[str, int] = Field(
        default_factory=dict, description="By target language: the decoder's forced first token (NLLB)."
    )


def read_mt_config(folder: Path) -> MtConfig:
    """Read and validate ``folder/mt_config.json``; raises :class:`BundleError` naming the file and field."""
    path = Path(folder) / MT_CONFIG_NAME
    try:
        return MtConfig.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path} is missing: not a seq2seq translation bundle") from None
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise BundleError(f"{path}: invalid at '{loc}': {first['msg']}") from None


def resolve_language(code: str, known: list[str]) -> str | None:
    """The model's code for ``code``: ``code`` itself when the model lists it, else the first of its MT
    codes (:func:`appliance.language.mt_codes`, e.g. ``'fa'`` -> ``'pes_Arab'``) the model lists; None if
    none. With ``known`` empty (the model states no languages) ``code`` is taken as is."""
    if not known:
        return code
    if code in known:
        return code
    for cand in mt_codes(code):
        if cand in known:
            return cand
    return None


def iso_languages(codes: list[str]) -> list[str]:
    """The ISO 639-1 codes (detector codes) a model's language codes cover, in the order of
    :data:`appliance.language.LANGUAGES`, then the model codes no table entry covers, in their order.

    ``['deu_Latn', 'eng_Latn', 'xyz_Latn']`` -> ``['en', 'de', 'xyz_Latn']``. What export writes to a
    seq2seq bundle's ``manifest.languages``.
    """
    out = [lang.code for lang in LANGUAGES if lang.code in codes or any(c in codes for c in lang.mt_codes)]
    covered = {c for iso in out for c in (iso, *mt_codes(iso))}
    return out + [c for c in codes if c not in covered]


class Seq2SeqTranslator:
    """A loaded ``kind='seq2seq'`` bundle: three onnxruntime sessions, its tokenizer and :class:`MtConfig`.

    ``translate`` is thread-safe (one decode at a time). Language arguments are the model's own codes
    or ISO 639-1 codes resolved through :func:`resolve_language`. Loading raises :class:`BundleError`
    for a bundle that fails verification (``verify``: every file's sha256), is not ``seq2seq``, or has
    an invalid ``mt_config.json``. ``threads``: onnxruntime intra-op threads, 0 = every CPU.
    """

    def __init__(self, bundle_dir: Path, *, verify: bool = True, threads: int = 0) -> None:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = Path(bundle_dir)
        manifest = verify_bundle(self.folder, full=verify) if verify else read_manifest(self.folder)
        if manifest.kind != "seq2seq":
            raise BundleError(f"bundle {self.folder} is kind '{manifest.kind}', not 'seq2seq'")
        self.manifest = manifest
        self.name = manifest.name
        self.bundle_hash = manifest.content_hash
        self.languages = list(manifest.languages)
        self.config = cfg = read_mt_config(self.folder)
        self.tokenizer = Tokenizer.from_file(str(self.folder / cfg.tokenizer))
        # The tokenizer reads its added tokens (`</s>`, `<pad>`, NLLB's `eng_Latn`) anywhere in its input,
        # add_special_tokens=False or not: document text passes through `plain` first.
        self.control_tokens = ControlTokens(control_strings(
            (t.content, t.special) for t in self.tokenizer.get_added_tokens_decoder().values()))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = inference_threads(threads)
        opts.log_severity_level = 3

        def session(name: str):
            return ort.InferenceSession(str(self.folder / name), sess_options=opts, providers=["CPUExecutionProvider"])

        self.encoder = session(cfg.encoder)
        self.decoder = session(cfg.decoder)
        self.decoder_with_past = session(cfg.decoder_with_past)
        self._past_names = [i.name for i in self.decoder_with_past.get_inputs() if i.name.startswith("past_key_values.")]
        self._dec_out = [o.name for o in self.decoder.get_outputs()]
        self._past_out = [o.name for o in self.decoder_with_past.get_outputs()]
        self._lock = threading.Lock()

    # -- languages ---------------------------------------------------------------------------------

    def _languages(self, src: str, tgt: str) -> tuple[str, str]:
        cfg = self.config
        s = resolve_language(src, cfg.source_languages)
        t = resolve_language(tgt, cfg.target_languages)
        if s is None or t is None:
            raise BundleError(
                f"translator '{self.name}' does not translate {src}->{tgt} "
                f"(sources: {', '.join(cfg.source_languages) or '?'}; targets: {', '.join(cfg.target_languages) or '?'})"
            )
        return s, t

    # -- token level ---------------------------------------------------------------------------------

    def plain(self, text: str) -> str:
        """``text`` with every control-token string of this tokenizer broken by an invisible joiner, so it
        is read as text, never as ``</s>`` or a language token (``inference.control_tokens``)."""
        return self.control_tokens.plain(text)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` alone, as the encoder reads it (``plain``; no language prefix, no eos)."""
        return len(self.tokenizer.encode(self.plain(text), add_special_tokens=False).ids)

    def source_ids(self, text: str, src: str, tgt: str) -> list[int]:
        """Encoder input: source-language prefix + target-language prefix + text + eos (per MtConfig);
        control-token strings in ``text`` are read as text (``plain``), never as their ids.

        Raises :class:`BundleError` when the bundle does not translate ``src`` -> ``tgt``.
        """
        s, t = self._languages(src, tgt)
        cfg = self.config
        ids = list(cfg.source_prefix_ids.get(s, [])) + list(cfg.target_source_prefix_ids.get(t, []))
        ids += self.tokenizer.encode(self.plain(text), add_special_tokens=False).ids
        if cfg.append_eos_to_source:
            ids.append(cfg.eos_token_ids[0])
        return ids

    def start_ids(self, tgt: str) -> list[int]:
        """Decoder's first input ids: the start token, then the forced target-language token if any (NLLB)."""
        t = resolve_language(tgt, self.config.target_languages)
        forced = self.config.target_forced_bos_ids.get(t) if t else None
        return [self.config.decoder_start_token_id] + ([forced] if forced is not None else [])

    def generate_ids(self, source_ids: list[int], start_ids: list[int], max_new_tokens: int | None = None) -> list[int]:
        """Greedy decoding; returns the generated ids after ``start_ids`` (without the final eos).

        Stops at an eos token, at ``max_length - len(start_ids)`` tokens, or at ``max_new_tokens``
        (default ``3 * len(source_ids) + 16``). Raises :class:`BundleError` for a source longer than
        ``max_source_tokens``. Not locked: :meth:`translate_segment` holds the lock around it.
        """
        cfg = self.config
        if len(source_ids) > cfg.max_source_tokens:
            raise BundleError(f"source has {len(source_ids)} tokens, more than this model's {cfg.max_source_tokens}")
        cap = cfg.max_length - len(start_ids)
        if max_new_tokens is None:
            # Greedy decoding can loop; a translation is rarely over 3x its source (+ slack).
            max_new_tokens = 3 * len(source_ids) + 16
        cap = max(0, min(cap, max_new_tokens))
        eos = set(cfg.eos_token_ids)
        suppress = np.asarray(cfg.suppress_token_ids, dtype=np.int64)
        src = np.asarray([source_ids], dtype=np.int64)
        mask = np.ones_like(src)
        hidden = self.encoder.run(["last_hidden_state"], {"input_ids": src, "attention_mask": mask})[0]
        outs = self.decoder.run(
            self._dec_out,
            {"input_ids": np.asarray([start_ids], dtype=np.int64), "encoder_attention_mask": mask,
             "encoder_hidden_states": hidden},
        )
        named = dict(zip(self._dec_out, outs))
        past = {n: named[n.replace("past_key_values.", "present.")] for n in self._past_names}
        logits = named["logits"]
        generated: list[int] = []
        while len(generated) < cap:
            step = logits[0, -1].astype(np.float32, copy=True)
            if suppress.size:
                step[suppress] = -np.inf
            token = int(np.argmax(step))
            if token in eos:
                break
            generated.append(token)
            if len(generated) >= cap:
                break
            feed = {"input_ids": np.asarray([[token]], dtype=np.int64), "encoder_attention_mask": mask, **past}
            outs = self.decoder_with_past.run(self._past_out, feed)
            named = dict(zip(self._past_out, outs))
            logits = named["logits"]
            for n in self._past_names:
                if ".decoder." in n:  # encoder (cross-attention) entries stay those of step 0
                    past[n] = named[n.replace("past_key_values.", "present.")]
        return generated

    def decode(self, ids: list[int]) -> str:
        """Text of generated ids, special tokens and ``plain``'s joiners dropped, stripped."""
        return self.tokenizer.decode(ids, skip_special_tokens=True).replace(BREAK, "").strip()

    # -- text level ----------------------------------------------------------------------------------

    def translate_segment(self, text: str, source_language: str, target_language: str,
                          max_new_tokens: int | None = None) -> str:
        """Translate one piece of text that fits the encoder (one greedy decode, under the lock)."""
        src_ids = self.source_ids(text, source_language, target_language)
        with self._lock:
            ids = self.generate_ids(src_ids, self.start_ids(target_language), max_new_tokens)
        return self.decode(ids)

    def translate(self, text: str, source_language: str, target_language: str = TARGET_LANGUAGE) -> TranslationOutput:
        """Translate line by line (speaker turns stay on their lines); over-long lines are split.

        A line over ``max_source_tokens - 4`` tokens is cut into windows translated separately and
        joined with a space; blank lines are kept as they are. ``chunks`` counts the decodes. Raises
        :class:`BundleError` before any work when the language pair is not translated.
        """
        self._languages(source_language, target_language)  # fail early, before any work
        overhead = 4  # language tokens + eos
        budget = max(8, self.config.max_source_tokens - overhead)
        out_lines, chunks = [], 0
        for line in text.split("\n"):
            if not line.strip():
                out_lines.append(line)
                continue
            parts = split_windows(line, budget, self.count_tokens, overlap=0)
            chunks += len(parts)
            out_lines.append(" ".join(self.translate_segment(p, source_language, target_language) for p in parts))
        return TranslationOutput(text="\n".join(out_lines), chunks=chunks)



def load(bundle_dir: Path, *, verify: bool = True, threads: int = 0, max_context: int = 4096) -> Translator:
    """Load a ``kind='seq2seq'`` translator bundle (``max_context`` does not apply: the encoder's
    ``max_source_tokens`` bounds each piece). Raises :class:`BundleError`."""
    return Seq2SeqTranslator(Path(bundle_dir), verify=verify, threads=threads)
