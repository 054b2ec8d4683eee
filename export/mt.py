"""Seq2seq translation models (Marian, NLLB) -> ``kind='seq2seq'`` translator bundles.

``appliance-export mt SRC OUT``:

1. In the separate MT environment (``export/mt_env.py``; created on first use), ``mt_worker.py
   export`` runs optimum's seq2seq ONNX export (encoder, decoder, decoder-with-past), converts the
   tokenizer to a ``tokenizers``-format ``tokenizer.json`` (Marian's sentencepiece models included)
   and checks it against the original tokenizer, and writes ``facts.json``.
2. Back here: MatMul weights are quantized with onnxruntime's ``MatMulNBitsQuantizer`` (4 bits by
   default, symmetric, block 32), ``mt_config.json`` is written from the facts, the bundle is
   smoke-tested with the runtime's own decoder (:class:`appliance.translate.seq2seq.Seq2SeqTranslator`),
   and ``manifest.json`` is written last (every file hashed).

All of it happens in a work folder beside ``OUT`` that is renamed into place at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Literal

from appliance.bundle import BuilderInfo, BundleManifest, SourceInfo, TokenFacts, scan_files, write_manifest
from appliance.translate.seq2seq import MT_CONFIG_NAME, MtConfig, iso_languages

from . import ExportError
from .mt_env import ensure_mt_venv, installed_versions, run_worker

MtPrecision = Literal["int4", "int8", "fp32"]
ONNX_FILES = ("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")
# Source files whose bytes the source hash covers.
SOURCE_FILES = (
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "vocab.json", "source.spm", "target.spm", "target_vocab.json",
    "sentencepiece.bpe.model", "spiece.model", "model.safetensors.index.json",
)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


def _hash_source(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.is_file() and (p.name in SOURCE_FILES or p.suffix in (".safetensors", ".bin")):
            h.update(p.name.encode() + b"\0")
            with open(p, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
    return h.hexdigest()


def _dist_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def quantize_onnx(src: Path, dst: Path, *, bits: int = 4, block_size: int = 32, accuracy_level: int | None = None) -> int:
    """MatMul weights -> MatMulNBits (``bits`` 4 or 8, symmetric). Returns the number of MatMuls quantized."""
    import logging

    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    # It logs every node at INFO (thousands of lines for a real model).
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    model = onnx.load(str(src), load_external_data=True)
    before = sum(1 for n in model.graph.node if n.op_type == "MatMul")
    q = MatMulNBitsQuantizer(model, bits=bits, block_size=block_size, is_symmetric=True, accuracy_level=accuracy_level)
    q.process()
    out = q.model.model
    after = sum(1 for n in out.graph.node if n.op_type == "MatMulNBits")
    _save_onnx(out, dst)
    _log(f"  {src.name}: {after} of {before} MatMuls quantized to {bits} bits")
    return after


def _save_onnx(model, dst: Path) -> None:
    import onnx

    big = model.ByteSize() > 1_800_000_000
    onnx.save_model(model, str(dst), save_as_external_data=big, all_tensors_to_one_file=True,
                    location=dst.name + ".data" if big else None)


def _copy_onnx(src: Path, dst: Path) -> None:
    import onnx

    _save_onnx(onnx.load(str(src), load_external_data=True), dst)


def mt_config_from_facts(facts: dict, *, source_languages: list[str] | None = None,
                         target_languages: list[str] | None = None) -> MtConfig:
    """``mt_config.json`` from the worker's ``facts.json`` (special ids, language tokens, limits).

    ``source_languages`` / ``target_languages`` override or restrict the model's own codes. The
    encoder limit is ``max_position_embeddings`` capped at 1024 (512 when not stated). Raises
    :class:`ExportError` when a language token is missing from the converted tokenizer or the model
    states no ``decoder_start_token_id``.
    """
    langs = facts["languages"]
    eos = facts["eos_token_id"]
    eos_ids = [int(e) for e in (eos if isinstance(eos, list) else [eos])]
    src = list(source_languages) if source_languages else list(langs.get("source") or [])
    tgt = list(target_languages) if target_languages else list(langs.get("target") or [])
    vocab_prefix = langs.get("source_text_prefix") or {}
    tok = None
    if vocab_prefix:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(facts["_tokenizer_path"])
    target_source_prefix = {}
    for code, token in vocab_prefix.items():
        if tgt and code not in tgt:
            continue
        tid = tok.token_to_id(token) if tok else None
        if tid is None:
            raise ExportError(f"language token {token!r} is not in the converted tokenizer")
        target_source_prefix[code] = [tid]
    source_prefix = {c: [int(i) for i in ids] for c, ids in (langs.get("source_prefix") or {}).items()
                     if not src or c in src}
    forced = {c: int(i) for c, i in (langs.get("target_forced_bos") or {}).items() if not tgt or c in tgt}
    if facts.get("decoder_start_token_id") is None:
        raise ExportError("the model states no decoder_start_token_id")
    return MtConfig(
        model_type=facts["model_type"],
        decoder_start_token_id=int(facts["decoder_start_token_id"]),
        eos_token_ids=eos_ids,
        pad_token_id=facts.get("pad_token_id"),
        suppress_token_ids=[int(i) for i in facts.get("suppress_token_ids") or []],
        max_length=int(facts["max_length"]),
        max_source_tokens=int(min(facts.get("max_position_embeddings") or 512, 1024)),
        source_languages=src,
        target_languages=tgt,
        source_prefix_ids=source_prefix,
        target_source_prefix_ids=target_source_prefix,
        target_forced_bos_ids=forced,
    )


def export_mt(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    name: str | None = None,
    source_id: str | None = None,
    precision: MtPrecision = "int4",
    block_size: int = 32,
    source_languages: list[str] | None = None,
    target_languages: list[str] | None = None,
    smoke_text: str = "The patient reports pain.",
    venv: Path | None = None,
    overwrite: bool = False,
) -> BundleManifest:
    """Export a local HF seq2seq folder to a translator bundle at ``out``; returns its manifest.

    Runs optimum in the MT environment (created on first use: needs the package index), quantizes the
    MatMul weights (``int4`` / ``int8``, ``block_size`` weights per scale; ``fp32`` copies them), writes
    ``mt_config.json`` and the manifest (languages as ISO 639-1 codes where the language table knows
    them), smoke-tests with the runtime's decoder, and renames the work folder to ``out``. Raises
    :class:`ExportError` (not a model folder, ``out`` exists without ``overwrite``, tokenizer mismatch,
    missing ONNX files, worker failure).
    """
    source, out = Path(source), Path(out)
    if not (source / "config.json").is_file():
        raise ExportError(f"{source}: not a Hugging Face model folder (no config.json)")
    if out.exists() and not overwrite:
        raise ExportError(f"{out} exists (pass overwrite=True / --overwrite to replace it)")
    if precision not in ("int4", "int8", "fp32"):
        raise ExportError(f"precision {precision!r} is not supported for seq2seq bundles (int4, int8, fp32)")
    venv = ensure_mt_venv(venv, log=_log)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        raw = work / "raw"
        bundle = work / "bundle"
        bundle.mkdir()
        _log(f"exporting {source} in the MT environment")
        run_worker(["export", str(source), str(raw)], venv=venv, log=_log)
        facts = json.loads((raw / "facts.json").read_text())
        check = facts["tokenizer"]["check"]
        if check["mismatches"]:
            raise ExportError(
                f"the converted tokenizer.json disagrees with the model's own tokenizer on "
                f"{len(check['mismatches'])} of {check['checked']} check texts: {check['mismatches'][:2]}"
            )
        missing = [f for f in ONNX_FILES if f not in facts["onnx_files"]]
        if missing:
            raise ExportError(f"optimum did not produce {', '.join(missing)} (got {facts['onnx_files']})")
        for f in ONNX_FILES:
            if precision == "fp32":
                _copy_onnx(raw / "onnx" / f, bundle / f)
            else:
                quantize_onnx(raw / "onnx" / f, bundle / f, bits=4 if precision == "int4" else 8, block_size=block_size)
        shutil.copy2(raw / "tokenizer.json", bundle / "tokenizer.json")
        facts["_tokenizer_path"] = str(bundle / "tokenizer.json")
        cfg = mt_config_from_facts(facts, source_languages=source_languages, target_languages=target_languages)
        (bundle / MT_CONFIG_NAME).write_text(cfg.model_dump_json(indent=2) + "\n", encoding="utf-8")

        versions = installed_versions(venv)
        wv = facts.get("versions", {})
        languages = iso_languages(sorted(set(cfg.source_languages) | set(cfg.target_languages)))
        manifest = BundleManifest(
            name=name or out.name,
            role="translator",
            kind="seq2seq",
            architecture=facts["architecture"],
            source=SourceInfo(id=source_id or source.name, format="hf", sha256=_hash_source(source)),
            precision=precision,
            execution_provider="cpu",
            builder=BuilderInfo(
                tool="optimum.exporters.onnx+onnxruntime.quantization.matmul_nbits_quantizer",
                onnxruntime=_dist_version("onnxruntime"),
                transformers=wv.get("transformers") or versions.get("transformers"),
                optimum=wv.get("optimum-onnx") or versions.get("optimum-onnx"),
                options={
                    "task": "text2text-generation-with-past",
                    "bits": "0" if precision == "fp32" else ("4" if precision == "int4" else "8"),
                    "block_size": str(block_size),
                    "is_symmetric": "true",
                    "tokenizer": facts["tokenizer"]["method"],
                    "torch": str(wv.get("torch")),
                },
            ),
            chat_template=None,
            context_length=cfg.max_source_tokens,
            tokens=TokenFacts(
                add_bos=False,
                bos_token=facts.get("bos_token"),
                eos_tokens=[t for t in [facts.get("eos_token")] if t],
                pad_token=facts.get("pad_token"),
            ),
            languages=languages,
            files=scan_files(bundle),
            notes=f"{facts['model_type']} seq2seq; greedy decoding per docs/translation-models.md",
        )
        write_manifest(bundle, manifest)
        _smoke(bundle, cfg, smoke_text)
        if out.exists():
            shutil.rmtree(out)
        os.replace(bundle, out)
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _smoke(bundle: Path, cfg: MtConfig, text: str) -> None:
    """The runtime decoder must load the bundle (hashes verified) and produce some output."""
    from appliance.translate.seq2seq import Seq2SeqTranslator

    tr = Seq2SeqTranslator(bundle, verify=True)
    src = cfg.source_languages[0] if cfg.source_languages else "en"
    tgt = cfg.target_languages[0] if cfg.target_languages else "en"
    ids = tr.generate_ids(tr.source_ids(text, src, tgt), tr.start_ids(tgt), max_new_tokens=8)
    if not isinstance(ids, list):
        raise ExportError("smoke translation failed")


# --------------------------------------------------------------------------------------------------
# CLI: registered in export/cli.py as ``appliance-export mt``

try:
    import click
except ImportError:  # pragma: no cover
    click = None

if click is not None:

    def _split(values: tuple[str, ...]) -> list[str] | None:
        out = [v.strip() for item in values for v in item.split(",") if v.strip()]
        return out or None

    @click.command("mt")
    @click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.argument("out", type=click.Path(path_type=Path))
    @click.option("--name", help="Bundle name (default: the OUT folder's name).")
    @click.option("--source-id", help="Model id to record, e.g. 'Helsinki-NLP/opus-mt-fa-en'.")
    @click.option("--precision", type=click.Choice(["int4", "int8", "fp32"]), default="int4", show_default=True)
    @click.option("--block-size", type=int, default=32, show_default=True, help="MatMulNBits block size.")
    @click.option("--source-lang", "source_langs", multiple=True,
                  help="Source language code(s) the model takes (default: from its tokenizer). Repeat or comma-separate.")
    @click.option("--target-lang", "target_langs", multiple=True,
                  help="Target language code(s) to keep (default: all the model has).")
    @click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
    @click.option("--prepare-env", is_flag=True, help="Only create the MT environment (needs PyPI), then exit.")
    def mt_command(source, out, name, source_id, precision, block_size, source_langs, target_langs, overwrite,
                   prepare_env):
        """Export a Marian/NLLB translation model (local HF folder SOURCE) to a seq2seq bundle OUT.

        Runs optimum's export in a separate environment (created once under
        $XDG_CACHE_HOME/appliance/mt-venv, or $APPLIANCE_MT_VENV), because optimum-onnx needs
        transformers<4.58 while the decoder export needs transformers 5.
        """
        try:
            if prepare_env:
                click.echo(str(ensure_mt_venv(log=_log)))
                return
            manifest = export_mt(
                source, out, name=name, source_id=source_id, precision=precision, block_size=block_size,
                source_languages=_split(source_langs), target_languages=_split(target_langs), overwrite=overwrite,
            )
        except ExportError as e:
            if os.environ.get("APPLIANCE_DEBUG"):
                raise
            raise click.ClickException(str(e)) from None
        click.echo(f"{out}: {manifest.architecture} {manifest.precision}, languages {', '.join(manifest.languages)}")
