"""Runs inside the MT environment (see ``export/mt_env.py``), never in the main one.

Standalone on purpose: it imports only what that environment has (torch, transformers<4.58,
optimum-onnx, sentencepiece, tokenizers) and nothing from this project, and talks to the caller
through files and one JSON line on stdout.

Commands:

``export SRC OUT``
    optimum's seq2seq ONNX export (the exporter behind ``ORTModelForSeq2SeqLM``; task
    ``text2text-generation-with-past``: ``encoder_model.onnx``, ``decoder_model.onnx``,
    ``decoder_with_past_model.onnx``), a ``tokenizer.json`` in the ``tokenizers`` format whose ids
    are the model's ids and which adds no special tokens, and ``facts.json`` (special ids,
    languages, generation settings, versions) for the caller to write ``mt_config.json`` and the
    manifest from.
``greedy SRC --texts-json FILE``
    Reference greedy translations with transformers (``num_beams=1``), for tests.
``make-tiny-marian OUT``
    A tiny random Marian checkpoint with real sentencepiece models (separate source and target
    spm, shared vocab), for tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

SPIECE_UNDERLINE = "\u2581"
# Sentences used to check the converted tokenizer against the original one.
CHECK_TEXTS = [
    "The patient reports pain in the lower back and fatigue for two weeks.",
    "No fever, no cough; oxygen saturation 92%.",
    "Der Patient hat Schmerzen und Fieber seit zwei Tagen.",
    "  Leading and trailing spaces, tabs\tand (brackets) [x] {y} \"quotes\" 'single' ...  ",
    "Numbers 1234 5.5 mg/ml, e-mail a@b.c, URL https://example.org/x?y=1",
    "بیمار از درد و تب شکایت دارد.",
    "Ünïcödé àccents ñ ß ø æ œ — dashes – and … ellipsis",
]


def _log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Tokenizer conversion


def _marian_tokenizer_json(tok, out: Path) -> None:
    """Marian (sentencepiece, ids from vocab.json) -> tokenizers ``Unigram`` with the model's ids.

    transformers has no fast Marian tokenizer. The Unigram vocabulary is laid out in vocab.json's
    id order; pieces of the *source* spm keep their spm scores (so segmentation matches the
    source spm), vocab entries the source spm does not know (target-only pieces) get a score below
    every source piece (chosen only where the source spm itself would emit an unknown piece),
    special tokens are added tokens. Decoding uses the Metaspace decoder (▁ -> space), as
    ``spm.decode_pieces`` does.
    """
    from sentencepiece import sentencepiece_model_pb2 as model_pb2
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import Unigram

    if getattr(tok, "separate_vocabs", False):
        raise SystemExit("Marian models with separate source/target vocabularies are not supported yet")
    proto = model_pb2.ModelProto()
    proto.ParseFromString(Path(tok.spm_files[0]).read_bytes())
    if proto.trainer_spec.model_type != 1:
        raise SystemExit("only unigram sentencepiece models are supported for Marian")
    spm_scores = {p.piece: p.score for p in proto.pieces if p.type == 1}  # NORMAL pieces
    min_score = min(spm_scores.values()) if spm_scores else 0.0
    encoder = tok.encoder  # token -> id
    size = max(encoder.values()) + 1
    id_to_tok = {i: t for t, i in encoder.items()}
    special = set(tok.all_special_tokens) | {t for t in encoder if t.startswith(">>") and t.endswith("<<")}
    vocab = []
    for i in range(size):
        t = id_to_tok.get(i, f"<unused_{i}>")
        if t in spm_scores:
            vocab.append((t, float(spm_scores[t])))
        else:
            vocab.append((t, float(min_score) - 20.0))
    unk_id = encoder[tok.unk_token]
    t = Tokenizer(Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    ns = proto.normalizer_spec
    norms = []
    if ns.precompiled_charsmap:
        norms.append(normalizers.Precompiled(ns.precompiled_charsmap))
    if ns.remove_extra_whitespaces:
        norms += [normalizers.Strip(left=True, right=True), normalizers.Replace(Regex(" {2,}"), " ")]
    if norms:
        t.normalizer = normalizers.Sequence(norms)
    scheme = "always" if ns.add_dummy_prefix else "never"
    split = bool(proto.trainer_spec.split_by_whitespace) if proto.trainer_spec.HasField("split_by_whitespace") else True
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme=scheme, split=split)
    t.decoder = decoders.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme=scheme, split=split)
    t.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in sorted(special) if s in encoder])
    t.save(str(out))


def _fast_tokenizer_json(tok, out: Path) -> None:
    """Tokenizers that have a fast version (NLLB, M2M, mBART...): save it, without the post-processor.

    The post-processor would add one fixed source-language code; the runtime adds the language
    tokens itself (``mt_config.json`` says which), so encoding must add nothing.
    """
    from transformers import AutoTokenizer

    fast = tok if getattr(tok, "is_fast", False) else AutoTokenizer.from_pretrained(tok.name_or_path, use_fast=True)
    raw = json.loads(fast.backend_tokenizer.to_str())
    raw["post_processor"] = None
    out.write_text(json.dumps(raw, ensure_ascii=False))


def convert_tokenizer(tok, out: Path) -> str:
    """Write ``out`` (tokenizer.json) for a transformers tokenizer; returns the method used."""
    name = type(tok).__name__
    if name.startswith("MarianTokenizer"):
        _marian_tokenizer_json(tok, out)
        return "marian-spm->unigram"
    _fast_tokenizer_json(tok, out)
    return "fast"


def _reference_ids(tok, text: str) -> list[int]:
    # The model input without special tokens: what the runtime's tokenizer.json must reproduce.
    return list(tok(text, add_special_tokens=False)["input_ids"])


def check_tokenizer(tok, path: Path, texts: list[str]) -> dict:
    """Compare the converted tokenizer with the original on ``texts`` (ids, and decoding of the same ids).

    Returns ``{"checked": N, "mismatches": [...]}`` (the first 40 ids of each differing encoding).
    """
    from tokenizers import Tokenizer

    fast = Tokenizer.from_file(str(path))
    mismatches = []
    for text in texts:
        want = _reference_ids(tok, text)
        got = fast.encode(text, add_special_tokens=False).ids
        if want != got:
            mismatches.append({"index": texts.index(text), "want": want[:40], "got": got[:40]})
        # decoding: the original tokenizer's decode of the same ids
        want_text = tok.decode(want, skip_special_tokens=True).strip()
        got_text = fast.decode(want, skip_special_tokens=True).strip()  # Marian strips; the runtime does too
        if want_text != got_text:
            mismatches.append({"index": texts.index(text), "decode_want": want_text, "decode_got": got_text})
    return {"checked": len(texts), "mismatches": mismatches}


# --------------------------------------------------------------------------------------------------
# Export


def _languages(tok, config) -> dict:
    """Source/target languages and how each is signalled to the model."""
    info: dict = {"source": [], "target": [], "source_prefix": {}, "source_text_prefix": {}, "target_forced_bos": {}}
    name = type(tok).__name__
    vocab = tok.get_vocab()
    if name.startswith("MarianTokenizer"):
        src = getattr(tok, "source_lang", None)
        tgt = getattr(tok, "target_lang", None)
        if src:
            info["source"] = [src]
        codes = sorted(t[2:-2] for t in vocab if t.startswith(">>") and t.endswith("<<"))
        if codes:  # multilingual target: ">>xx<<" starts the source text
            info["target"] = codes
            info["source_text_prefix"] = {c: f">>{c}<<" for c in codes}
        elif tgt:
            info["target"] = [tgt]
    else:
        codes = [c for c in (getattr(tok, "additional_special_tokens", None) or []) if c in vocab]
        if hasattr(tok, "lang_code_to_id"):
            codes = sorted(set(codes) | set(tok.lang_code_to_id))
        info["source"] = list(codes)
        info["target"] = list(codes)
        info["source_prefix"] = {c: [vocab[c]] for c in codes}
        info["target_forced_bos"] = {c: vocab[c] for c in codes}
    return info


def cmd_export(args) -> None:
    """``export SRC OUT``: optimum's seq2seq ONNX export, tokenizer.json and facts.json into OUT.

    Exits with an error for a model that is not encoder-decoder; prints one JSON line when done.
    """
    import transformers
    from optimum.exporters.onnx import main_export
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    src, out = Path(args.src), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = AutoConfig.from_pretrained(src)
    if not getattr(config, "is_encoder_decoder", False):
        raise SystemExit(f"{src}: not an encoder-decoder model (model_type {config.model_type})")
    tok = AutoTokenizer.from_pretrained(src)
    onnx_dir = out / "onnx"
    _log(f"exporting {config.model_type} with optimum (text2text-generation-with-past)")
    main_export(
        str(src),
        onnx_dir,
        task="text2text-generation-with-past",
        opset=args.opset,
        device="cpu",
        no_post_process=True,  # keep decoder_model + decoder_with_past_model (no merged If-graph)
        local_files_only=True,
        do_validation=not args.no_validation,
        library_name="transformers",
    )
    tok_path = out / "tokenizer.json"
    method = convert_tokenizer(tok, tok_path)
    check = check_tokenizer(tok, tok_path, CHECK_TEXTS + list(args.check_text or []))
    try:
        gen = GenerationConfig.from_pretrained(src)
    except (OSError, ValueError):  # no generation_config.json
        gen = GenerationConfig.from_model_config(config)

    def first(*vals):
        for v in vals:
            if v is not None:
                return v
        return None

    suppress = set()
    for ids in first(gen.bad_words_ids, getattr(config, "bad_words_ids", None)) or []:
        if len(ids) == 1:
            suppress.add(int(ids[0]))
    eos = first(gen.eos_token_id, config.eos_token_id, tok.eos_token_id)
    facts = {
        "model_type": config.model_type,
        "architecture": (config.architectures or [type(config).__name__])[0],
        "decoder_start_token_id": first(gen.decoder_start_token_id, config.decoder_start_token_id),
        "eos_token_id": eos,
        "pad_token_id": first(gen.pad_token_id, config.pad_token_id, tok.pad_token_id),
        "bos_token": tok.bos_token,
        "eos_token": tok.eos_token,
        "pad_token": tok.pad_token,
        "unk_token": tok.unk_token,
        "forced_bos_token_id": first(gen.forced_bos_token_id, getattr(config, "forced_bos_token_id", None)),
        "suppress_token_ids": sorted(suppress),
        "max_length": int(first(gen.max_length, getattr(config, "max_length", None), 256)),
        "max_position_embeddings": int(getattr(config, "max_position_embeddings", 0) or 1024),
        "num_beams": int(first(gen.num_beams, 1)),
        "vocab_size": int(config.vocab_size),
        "languages": _languages(tok, config),
        "tokenizer": {"method": method, "check": check},
        "onnx_files": sorted(p.name for p in onnx_dir.glob("*.onnx")),
        "versions": {
            "transformers": transformers.__version__,
            "optimum": _version("optimum"),
            "optimum-onnx": _version("optimum-onnx"),
            "torch": _version("torch"),
            "onnx": _version("onnx"),
        },
    }
    (out / "facts.json").write_text(json.dumps(facts, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({"ok": True, "facts": str(out / "facts.json")}))


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def cmd_greedy(args) -> None:
    """``greedy SRC --texts-json FILE``: transformers' greedy translations of each item, as one JSON line."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.src)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.src).eval()
    items = json.loads(Path(args.texts_json).read_text())
    results = []
    for item in items:
        text = item["text"]
        kwargs = {}
        if item.get("text_prefix"):
            text = item["text_prefix"] + text
        if item.get("src_lang") and hasattr(tok, "src_lang"):
            tok.src_lang = item["src_lang"]
        if item.get("forced_bos_token_id") is not None:
            kwargs["forced_bos_token_id"] = item["forced_bos_token_id"]
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            ids = model.generate(
                **enc, num_beams=1, do_sample=False, max_new_tokens=item.get("max_new_tokens", 32), **kwargs
            )[0].tolist()
        results.append({"input_ids": enc["input_ids"][0].tolist(), "ids": ids,
                        "text": tok.decode(ids, skip_special_tokens=True)})
    print(json.dumps(results, ensure_ascii=False))


# --------------------------------------------------------------------------------------------------
# Tiny Marian checkpoint (tests)

_EN = """the patient reports pain in the lower back and fatigue for two weeks
no fever no cough but shortness of breath when walking
she has trouble sleeping and lost her appetite
the family asks for a visit by the doctor
seizures were observed yesterday and consciousness is decreased
insurance does not cover the cost of the morphine"""
_DE = """der patient berichtet über schmerzen im unteren rücken und müdigkeit seit zwei wochen
kein fieber kein husten aber atemnot beim gehen
sie hat schlafstörungen und keinen appetit mehr
die familie bittet um einen besuch des arztes
gestern wurden krampfanfälle beobachtet und das bewusstsein ist vermindert
die versicherung übernimmt die kosten für das morphin nicht"""


# (source, target) pairs the tiny model is trained on, so its greedy output is a real sentence
# (a random seq2seq model just repeats one token, which would make a weak test of the decoding loop).
TINY_PAIRS = [
    ("the patient reports pain", "der patient berichtet über schmerzen"),
    ("no fever no cough", "kein fieber kein husten"),
    ("she has trouble sleeping", "sie hat schlafstörungen"),
    ("the family asks for a visit", "die familie bittet um einen besuch"),
    ("insurance does not cover the cost", "die versicherung übernimmt die kosten nicht"),
]


def _train_spm(text: str, prefix: Path, vocab_size: int) -> None:
    import sentencepiece as spm

    corpus = prefix.with_suffix(".txt")
    corpus.write_text((text + "\n") * 3)
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2,
        unk_id=2, bos_id=-1, eos_id=1, pad_id=-1, unk_piece="<unk>", eos_piece="</s>",
    )
    corpus.unlink()


def cmd_make_tiny_marian(args) -> None:
    """``make-tiny-marian OUT``: a tiny Marian en->de model trained on :data:`TINY_PAIRS` (one JSON line out)."""
    import sentencepiece as spm
    import torch
    from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / "_spm"
    work.mkdir(exist_ok=True)
    _train_spm(_EN, work / "source", 120)
    _train_spm(_DE, work / "target", 120)
    shutil.copy(work / "source.model", out / "source.spm")
    shutil.copy(work / "target.model", out / "target.spm")
    # Shared vocab, Marian layout: </s>=0, <unk>=1, pieces..., <pad> last.
    vocab = {"</s>": 0, "<unk>": 1}
    for name in ("source", "target"):
        sp = spm.SentencePieceProcessor(model_file=str(work / f"{name}.model"))
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i)
            if piece not in vocab and piece not in ("<s>", "</s>", "<unk>", "<pad>"):
                vocab[piece] = len(vocab)
    vocab["<pad>"] = len(vocab)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=1))
    shutil.rmtree(work)
    tok = MarianTokenizer(
        source_spm=str(out / "source.spm"), target_spm=str(out / "target.spm"), vocab=str(out / "vocab.json"),
        source_lang="en", target_lang="de",
    )
    tok.save_pretrained(out)
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
        pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad, forced_eos_token_id=0,
        scale_embedding=True, share_encoder_decoder_embeddings=True, tie_word_embeddings=True,
        architectures=["MarianMTModel"],
    )
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a tiny model trains faster on one thread than on contended cores
    config.dropout = config.attention_dropout = config.activation_dropout = 0.0
    model = MarianMTModel(config)
    if args.train_steps:
        src, tgt = [p[0] for p in TINY_PAIRS], [p[1] for p in TINY_PAIRS]
        batch = tok(src, text_target=tgt, return_tensors="pt", padding=True)
        labels = batch["labels"].masked_fill(batch["labels"] == pad, -100)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        model.train()
        for _ in range(args.train_steps):
            loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
        _log(f"tiny marian: final training loss {float(loss.detach()):.4f}")
    model.eval()
    model.save_pretrained(out)
    GenerationConfig(
        bad_words_ids=[[pad]], decoder_start_token_id=pad, eos_token_id=0, forced_eos_token_id=0,
        max_length=64, num_beams=1, pad_token_id=pad,
    ).save_pretrained(out)
    print(json.dumps({"ok": True, "out": str(out), "vocab_size": len(vocab), "pairs": TINY_PAIRS}, ensure_ascii=False))


def cmd_make_tiny_nllb(args) -> None:
    """A tiny NLLB (M2M100 architecture, NLLB tokenizer with 3 language codes), trained en<->de."""
    import sentencepiece as spm
    import torch
    from transformers import (
        GenerationConfig,
        M2M100Config,
        M2M100ForConditionalGeneration,
        NllbTokenizer,
        NllbTokenizerFast,
    )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / "_spm"
    work.mkdir(exist_ok=True)
    corpus = work / "corpus.txt"
    corpus.write_text(((_EN + "\n" + _DE) + "\n") * 3)
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(work / "spm"), vocab_size=200, model_type="bpe",
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2,
    )
    codes = ["deu_Latn", "eng_Latn", "pes_Arab"]
    slow = NllbTokenizer(vocab_file=str(work / "spm.model"), src_lang="eng_Latn", tgt_lang="deu_Latn",
                         additional_special_tokens=codes)
    slow.save_pretrained(out)
    shutil.rmtree(work)
    tok = NllbTokenizerFast.from_pretrained(out, src_lang="eng_Latn", tgt_lang="deu_Latn")
    tok.save_pretrained(out)  # tokenizer.json, as real NLLB checkpoints ship it
    vocab = len(tok)
    config = M2M100Config(
        vocab_size=vocab, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.eos_token_id, scale_embedding=True, tie_word_embeddings=True,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, architectures=["M2M100ForConditionalGeneration"],
    )
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    model = M2M100ForConditionalGeneration(config)
    # Both directions, so the test shows the language tokens steer the model.
    batches = []
    for s_lang, t_lang, pairs in (("eng_Latn", "deu_Latn", TINY_PAIRS),
                                  ("deu_Latn", "eng_Latn", [(b, a) for a, b in TINY_PAIRS])):
        tok.src_lang, tok.tgt_lang = s_lang, t_lang
        b = tok([p[0] for p in pairs], text_target=[p[1] for p in pairs], return_tensors="pt", padding=True)
        b["labels"] = b["labels"].masked_fill(b["labels"] == tok.pad_token_id, -100)
        batches.append(b)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(args.train_steps):
        b = batches[step % 2]
        loss = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.save_pretrained(out)
    GenerationConfig(decoder_start_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, max_length=64,
                     num_beams=1).save_pretrained(out)
    _log(f"tiny nllb: final training loss {float(loss.detach()):.4f}")
    print(json.dumps({"ok": True, "out": str(out), "vocab_size": vocab, "pairs": TINY_PAIRS}, ensure_ascii=False))


def main(argv=None) -> None:
    """The worker's command line (see the module docstring for the commands)."""
    p = argparse.ArgumentParser(prog="mt_worker")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("src")
    e.add_argument("out")
    e.add_argument("--opset", type=int, default=None)
    e.add_argument("--no-validation", action="store_true")
    e.add_argument("--check-text", action="append")
    g = sub.add_parser("greedy")
    g.add_argument("src")
    g.add_argument("--texts-json", required=True)
    t = sub.add_parser("make-tiny-marian")
    t.add_argument("out")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--train-steps", type=int, default=120)
    n = sub.add_parser("make-tiny-nllb")
    n.add_argument("out")
    n.add_argument("--seed", type=int, default=0)
    n.add_argument("--train-steps", type=int, default=240)
    args = p.parse_args(argv)
    commands = {"export": cmd_export, "greedy": cmd_greedy, "make-tiny-marian": cmd_make_tiny_marian,
                "make-tiny-nllb": cmd_make_tiny_nllb}
    commands[args.cmd](args)


if __name__ == "__main__":
    main()
