"""HF folder or GGUF file -> bundle folder (ONNX + tokenizer + genai_config.json + manifest.json).

Steps, each in a work folder next to ``out`` (so the final ``rename`` is atomic and a failed export
never leaves a half bundle):

1. *Source*: check the HF folder (config.json, weights, tokenizer, chat template) and stage it (small
   files copied, weights linked) so architecture fixes can patch ``config.json`` without touching the
   source; or dequantize a GGUF file through transformers into an fp32 HF folder.
2. *Builder*: ``onnxruntime_genai.models.builder`` in a child process (``python -m export.arch.builder``:
   the builder with the architecture records' fixes installed), its output captured to a log file.
3. *Fidelity*: compare the ONNX model with the fp32 torch model on fixed clinical prompts.
4. *Manifest*: every file hashed; versions, options, chat template, token facts, fidelity.
5. Rename the work bundle to ``out``.

Architecture-specific knowledge (builder fixes for Gemma 3 and Cohere, which prompts need BOS) comes
from the architecture records in ``export/arch/`` (:mod:`export.arch.registry`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from appliance.bundle import (
    BuilderInfo,
    BundleManifest,
    Fidelity,
    FineTuneInfo,
    SourceInfo,
    TokenFacts,
    scan_files,
    sha256_file,
    verify_bundle,
    write_manifest,
)

from . import ExportError
from .arch import needs_bos, token_facts_overrides

ExportPrecision = Literal["int4", "int8", "fp16", "fp32"]
ExportProvider = Literal["cpu", "cuda", "dml"]

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "sentencepiece.bpe.model")
# Files of an HF folder that the export reads (and that the source hash covers).
SOURCE_SMALL_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
    "tiny.json",
)


@dataclass
class BuildOptions:
    """Builder settings of one export: precision, provider, quantization block size (weights per
    scale), MatMulNBits ``accuracy_level`` (1 fp32 .. 4 int8 activations), ``prune_lm_head`` (logits for
    the last prompt token only) and further builder ``extra`` options (``key -> value`` strings)."""

    precision: str
    provider: str
    block_size: int = 32
    accuracy_level: int | None = None
    prune_lm_head: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    def builder_extra_options(self) -> dict[str, str]:
        """The builder's ``--extra_options`` as ``key -> value`` strings (block size only when quantizing)."""
        opts: dict[str, str] = {}
        if self.precision in ("int4", "int8"):
            opts["block_size"] = str(self.block_size)
            if self.accuracy_level is not None:
                opts["accuracy_level"] = str(self.accuracy_level)
        if self.prune_lm_head:
            opts["prune_lm_head"] = "true"
        opts.update(self.extra)
        return opts


# --------------------------------------------------------------------------------------------------
# Source checks and staging


@dataclass
class Source:
    """The export's source after step 1: a complete HF folder to build from, and what it came from."""

    hf_dir: Path  # a complete HF folder (staged copy or dequantized GGUF)
    format: Literal["hf", "gguf"]
    sha256: str
    file: str | None
    origin: Path


def _find_chat_template(folder: Path) -> str | None:
    """The chat template of an HF folder: chat_template.jinja, chat_template.json, else tokenizer_config.json."""
    p = folder / "chat_template.jinja"
    if p.is_file():
        return p.read_text(encoding="utf-8")
    p = folder / "chat_template.json"
    if p.is_file():
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("chat_template"), str):
                return data["chat_template"]
        except json.JSONDecodeError:
            pass
    p = folder / "tokenizer_config.json"
    if p.is_file():
        try:
            tpl = json.loads(p.read_text(encoding="utf-8")).get("chat_template")
        except json.JSONDecodeError:
            raise ExportError(f"{p} is not valid JSON") from None
        if isinstance(tpl, str):
            return tpl
        if isinstance(tpl, list):  # [{"name": "default", "template": ...}, ...]
            for item in tpl:
                if isinstance(item, dict) and item.get("name") == "default":
                    return item.get("template")
    return None


def check_hf_folder(folder: Path, *, require_chat_template: bool) -> None:
    """Refuse a folder that is not a complete HF model, naming what is missing and how to supply it.

    Needs config.json, weights (``WEIGHT_SUFFIXES``), a tokenizer (``TOKENIZER_FILES``) and, when
    ``require_chat_template``, a chat template. Raises :class:`ExportError`.
    """
    if not (folder / "config.json").is_file():
        raise ExportError(
            f"{folder} has no config.json: this is not a Hugging Face model folder. Give the folder that "
            "holds config.json, the *.safetensors weights and tokenizer files (as downloaded from the model's "
            "repository), or a .gguf file"
        )
    if not any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir() if p.is_file()):
        raise ExportError(
            f"{folder} has config.json but no weights (*.safetensors or *.bin): copy the weight files of "
            "the model into the folder"
        )
    if not any((folder / n).is_file() for n in TOKENIZER_FILES):
        raise ExportError(
            f"{folder} has no tokenizer (tokenizer.json, or tokenizer.model / vocab.json + merges.txt): copy "
            "tokenizer.json and tokenizer_config.json from the model's repository into the folder"
        )
    if require_chat_template and _find_chat_template(folder) is None:
        raise ExportError(
            f"{folder} has no chat template (chat_template.jinja, or 'chat_template' in tokenizer_config.json): "
            "an extractor needs one. Copy chat_template.jinja from the instruct model's repository, or pass "
            "--chat-template FILE (for a base or translation model: --no-chat-template)"
        )


def _hash_hf_source(folder: Path) -> str:
    """sha256 over 'name\\0sha256\\n' lines of the files the export reads (sorted)."""
    h = hashlib.sha256()
    names = sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and (p.name in SOURCE_SMALL_FILES or p.suffix in WEIGHT_SUFFIXES)
    )
    for name in names:
        h.update(f"{name}\0{sha256_file(folder / name)}\n".encode())
    return h.hexdigest()


def _stage_hf(folder: Path, staged: Path, chat_template: str | None) -> None:
    """Small files copied (patchable), weights symlinked (no copy of gigabytes)."""
    staged.mkdir(parents=True)
    for p in folder.iterdir():
        if not p.is_file():
            continue
        if p.suffix in WEIGHT_SUFFIXES:
            (staged / p.name).symlink_to(p.resolve())
        elif p.name in SOURCE_SMALL_FILES or p.suffix in (".json", ".jinja", ".txt", ".model"):
            shutil.copy2(p, staged / p.name)
    if chat_template is not None:
        _set_chat_template(staged, chat_template)


def _set_chat_template(folder: Path, template: str) -> None:
    (folder / "chat_template.jinja").write_text(template, encoding="utf-8")
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():  # a template inside tokenizer_config.json would win over the .jinja in some loaders
        data = json.loads(cfg.read_text(encoding="utf-8"))
        if "chat_template" in data:
            del data["chat_template"]
            cfg.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def dequantize_gguf(gguf_path: Path, out_dir: Path) -> None:
    """GGUF (quantized or not) -> fp32 HF folder ``out_dir`` through transformers (the builder reads F16/F32
    GGUF only). Raises :class:`ExportError` when transformers cannot read the file."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d, f = str(gguf_path.parent), gguf_path.name
    try:
        tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    except Exception as e:  # transformers raises many kinds here; name the file, keep the cause short
        raise ExportError(f"cannot read GGUF file {gguf_path}: {type(e).__name__}: {e}") from e
    # transformers 5 refuses to save a model that still carries its GGUF quantizer.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    del model
    gc.collect()


def _resolve_source(source: Path, gguf_file: str | None) -> tuple[Path, str | None]:
    """(folder, gguf file name or None)."""
    source = Path(source)
    if not source.exists():
        raise ExportError(f"export source not found: {source}")
    if source.is_file():
        if source.suffix.lower() != ".gguf":
            raise ExportError(
                f"{source} is a file but not a .gguf: give a Hugging Face model folder or a GGUF file"
            )
        return source.parent, source.name
    if gguf_file:
        if not (source / gguf_file).is_file():
            raise ExportError(f"GGUF file '{gguf_file}' not found in {source}")
        return source, gguf_file
    if not (source / "config.json").is_file():
        ggufs = sorted(p.name for p in source.glob("*.gguf"))
        if len(ggufs) == 1:
            return source, ggufs[0]
        if len(ggufs) > 1:
            raise ExportError(f"{source} holds several GGUF files ({', '.join(ggufs)}): choose one with --gguf-file")
    return source, None


# --------------------------------------------------------------------------------------------------
# Builder


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def run_builder(hf_dir: Path, out_dir: Path, options: BuildOptions, *, cache_dir: Path, log_path: Path) -> None:
    """Run the genai builder (with the architecture fixes) in a child process; its (huge) output goes to
    ``log_path``. Raises :class:`ExportError` with the log's last lines when it fails."""
    cmd = [sys.executable, "-m", "export.arch.builder", "-i", str(hf_dir), "-o", str(out_dir),
           "-p", options.precision, "-e", options.provider, "-c", str(cache_dir)]
    extra = options.builder_extra_options()
    if extra:
        cmd += ["--extra_options", *[f"{k}={v}" for k, v in extra.items()]]
    env = dict(os.environ)
    env.setdefault("ORT_DISABLE_TELEMETRY", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    # The child must import this package even when it is not installed (running from a checkout).
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(log_path, "wb") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(out_dir.parent)).returncode
    if rc != 0:
        tail = _log_tail(log_path)
        raise ExportError(f"the onnxruntime-genai builder failed (exit {rc}); last lines of its log:\n{tail}")


def _log_tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    # Progress bars use carriage returns; keep the final state of each line.
    rows = [r.split("\r")[-1] for r in text.splitlines() if r.strip()]
    return "\n".join(rows[-lines:])


# --------------------------------------------------------------------------------------------------
# Token facts


def _starts_with_bos(template: str | None, bos: str | None) -> tuple[bool, bool]:
    """(template asks for bos_token first, template text literally begins with the BOS string)."""
    if not template:
        return False, False
    head = template.lstrip()
    for prefix in ("{{ bos_token }}", "{{bos_token}}", "{{- bos_token }}", "{{- bos_token -}}", "{{ bos_token -}}"):
        if head.startswith(prefix):
            return True, False
    if bos and (head.startswith(f"{{{{ '{bos}'") or head.startswith(f"{{{{- '{bos}'") or head.startswith(bos)):
        return False, True
    return False, False


def add_bos_for(bos: str | None, chat_template: str | None, config: Mapping[str, Any]) -> bool:
    """Whether the runtime must put BOS before a prompt's ids (the manifest's ``tokens.add_bos``).

    ``bos``: the tokenizer's BOS token (None: it has none); ``config``: the model's config.json.
    True when the tokenizer has a BOS that the template's literal text does not begin with, and the
    template asks for ``{{ bos_token }}`` first (Llama 3) or the architecture needs it (Gemma; genai's
    tokenizer adds none); an architecture's ``token_facts`` override that. SmolLM2's BOS is
    ``<|im_start|>``, which its template writes literally: no extra BOS there.
    """
    asks_bos, literal_bos = _starts_with_bos(chat_template, bos)
    add_bos = bool(bos) and not literal_bos and (asks_bos or needs_bos(config))
    return bool(token_facts_overrides(config).get("add_bos", add_bos))


def token_facts(hf_dir: Path, bundle_dir: Path, config: Mapping[str, Any], chat_template: str | None) -> TokenFacts:
    """The manifest's token facts: ``add_bos`` (:func:`add_bos_for`), the tokenizer's BOS and pad tokens,
    and every EOS token (genai_config.json's ``eos_token_id`` list plus the tokenizer's own)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    bos = tok.bos_token if isinstance(tok.bos_token, str) else None
    genai_cfg = json.loads((bundle_dir / "genai_config.json").read_text(encoding="utf-8"))["model"]
    eos_ids = genai_cfg.get("eos_token_id")
    eos_ids = eos_ids if isinstance(eos_ids, list) else ([eos_ids] if eos_ids is not None else [])
    eos_tokens: list[str] = []
    for i in eos_ids:
        t = tok.convert_ids_to_tokens(int(i))
        if isinstance(t, str) and t not in eos_tokens:
            eos_tokens.append(t)
    if isinstance(tok.eos_token, str) and tok.eos_token not in eos_tokens:
        eos_tokens.insert(0, tok.eos_token)
    pad = tok.pad_token if isinstance(tok.pad_token, str) else None
    facts = {"add_bos": add_bos_for(bos, chat_template, config), "bos_token": bos, "eos_tokens": eos_tokens,
             "pad_token": pad}
    facts.update(token_facts_overrides(config))  # architecture records know better (Gemma 3: <bos>)
    return TokenFacts(**facts)


# --------------------------------------------------------------------------------------------------
# The export


def _say(progress, msg: str) -> None:
    if progress is not None:
        progress.set_description_str(msg)
        progress.refresh()


def export_bundle(
    source: Path,
    out: Path,
    *,
    name: str,
    role: Literal["extractor", "translator"] = "extractor",
    precision: ExportPrecision = "int4",
    provider: ExportProvider = "cpu",
    block_size: int = 32,
    accuracy_level: int | None = None,
    prune_lm_head: bool = True,
    source_id: str | None = None,
    gguf_file: str | None = None,
    chat_template: str | Path | None = None,
    require_chat_template: bool | None = None,
    fidelity: bool = True,
    min_top1: float | None = None,
    force: bool = False,
    overwrite: bool = False,
    notes: str | None = None,
    extra_options: dict[str, str] | None = None,
    show_progress: bool = True,
    finetune: FineTuneInfo | None = None,
) -> BundleManifest:
    """Export ``source`` (HF folder or GGUF file) to the bundle folder ``out``; returns its manifest.

    ``force`` keeps a bundle that fails the fidelity gate (recorded as ``overridden``) and replaces an
    existing ``out``; ``overwrite`` only replaces an existing ``out``. ``min_top1`` overrides the
    per-precision default threshold (see ``export.fidelity.DEFAULT_MIN_TOP1``).
    ``chat_template`` (text or a file) replaces/supplies the template; ``require_chat_template``
    defaults to True for extractors. ``finetune`` is recorded in the manifest as is.

    Raises :class:`ExportError` (bad arguments or source, builder failure, fidelity not measurable on
    the CPU) or :class:`FidelityError` (below the gate without ``force``); nothing is left at ``out``
    then, and the builder's log is kept as ``OUT.export-failed.log``.
    """
    from tqdm import tqdm

    _quiet_transformers()
    out = Path(out).absolute()
    if precision not in ("int4", "int8", "fp16", "fp32"):
        raise ExportError(f"precision '{precision}' is not one of int4, int8, fp16, fp32")
    if provider not in ("cpu", "cuda", "dml"):
        raise ExportError(f"provider '{provider}' is not one of cpu, cuda, dml")
    if precision == "fp16" and provider == "cpu":
        raise ExportError("fp16 is not supported on the cpu provider: use int4, int8 or fp32")
    if out.exists() and not (force or overwrite):
        raise ExportError(f"{out} already exists: choose another folder, or pass --force to replace it")
    if require_chat_template is None:
        require_chat_template = role == "extractor"
    template_override: str | None = None
    if chat_template is not None:
        p = Path(chat_template) if not str(chat_template).lstrip().startswith("{") else None
        if p is not None and p.is_file():
            template_override = p.read_text(encoding="utf-8")
        elif p is not None and ("{%" not in str(chat_template) and "{{" not in str(chat_template)):
            raise ExportError(f"chat template file not found: {chat_template}")
        else:
            template_override = str(chat_template)

    folder, gguf = _resolve_source(Path(source), gguf_file)
    if gguf is None:
        check_hf_folder(folder, require_chat_template=require_chat_template and template_override is None)

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    started = time.monotonic()
    steps = 5 if fidelity else 4
    progress = tqdm(total=steps, unit="step", disable=not show_progress, leave=True,
                    bar_format="{desc:<46}{bar:20}| {n_fmt}/{total_fmt} [{elapsed}]")
    try:
        hf_dir = work / "hf"
        # 1. source
        if gguf is not None:
            _say(progress, f"{name}: dequantizing {gguf}")
            gguf_path = folder / gguf
            src_hash = sha256_file(gguf_path)
            dequantize_gguf(gguf_path, hf_dir)
            if template_override is not None:
                _set_chat_template(hf_dir, template_override)
            check_hf_folder(hf_dir, require_chat_template=require_chat_template)
            src = Source(hf_dir=hf_dir, format="gguf", sha256=src_hash, file=gguf, origin=gguf_path)
        else:
            _say(progress, f"{name}: hashing source")
            src_hash = _hash_hf_source(folder)
            _stage_hf(folder, hf_dir, template_override)
            src = Source(hf_dir=hf_dir, format="hf", sha256=src_hash, file=None, origin=folder)
        progress.update(1)

        config = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
        model_type = str(config.get("model_type") or "unknown")

        # 2. builder
        options = BuildOptions(precision=precision, provider=provider, block_size=block_size,
                               accuracy_level=accuracy_level, prune_lm_head=prune_lm_head,
                               extra=dict(extra_options or {}))
        bundle_dir = work / "bundle"
        _say(progress, f"{name}: building {precision} ONNX ({provider})")
        t0 = time.monotonic()
        run_builder(hf_dir, bundle_dir, options, cache_dir=work / "cache", log_path=work / "builder.log")
        build_s = time.monotonic() - t0
        for required in ("genai_config.json", "tokenizer.json"):
            if not (bundle_dir / required).is_file():
                raise ExportError(f"the builder did not write {required}; see the builder log")
        template = _find_chat_template(bundle_dir)
        if template is None:
            template = template_override or _find_chat_template(hf_dir)
            if template is not None:
                (bundle_dir / "chat_template.jinja").write_text(template, encoding="utf-8")
        progress.update(1)

        # 3. fidelity
        fid: Fidelity | None = None
        notes_parts = [notes] if notes else []
        facts = token_facts(hf_dir, bundle_dir, config, template)
        if fidelity:
            _say(progress, f"{name}: fidelity vs fp32 source")
            from .fidelity import gate

            from . import FidelityError

            try:
                fid = gate(hf_dir, bundle_dir, precision=precision, needs_bos=facts.add_bos,
                           min_top1=min_top1, force=force)
            except FidelityError:
                raise
            except Exception as e:
                if provider == "cpu":
                    raise ExportError(f"fidelity measurement failed: {type(e).__name__}: {e}") from e
                # A GPU build may not run on this machine's CPU provider: export it, say so.
                notes_parts.append(f"fidelity not measured ({provider} bundle did not run on the CPU: "
                                   f"{type(e).__name__})")
            else:
                if provider != "cpu":
                    notes_parts.append(f"fidelity measured with the CPU provider on this {provider} bundle")
            progress.update(1)

        # 4. manifest
        _say(progress, f"{name}: hashing files, writing manifest")
        genai_cfg = json.loads((bundle_dir / "genai_config.json").read_text(encoding="utf-8"))
        context_length = int(genai_cfg.get("model", {}).get("context_length")
                             or config.get("max_position_embeddings") or 2048)
        builder_opts = {"precision": precision, "execution_provider": provider, "build_seconds": f"{build_s:.1f}"}
        builder_opts.update(options.builder_extra_options())
        sid = source_id or _default_source_id(src, config)
        manifest = BundleManifest(
            name=name,
            role=role,
            kind="decoder",
            architecture=model_type,
            source=SourceInfo(id=sid, format=src.format, sha256=src.sha256, file=src.file),
            precision=precision,
            execution_provider=provider,
            builder=BuilderInfo(
                tool="onnxruntime_genai.models.builder",
                onnxruntime_genai=_version("onnxruntime-genai"),
                onnxruntime=_version("onnxruntime"),
                transformers=_version("transformers"),
                options=builder_opts,
            ),
            chat_template=template,
            context_length=context_length,
            tokens=facts,
            files=scan_files(bundle_dir),
            fidelity=fid,
            finetune=finetune,
            notes=" ".join(notes_parts) or None,
        )
        write_manifest(bundle_dir, manifest)
        verify_bundle(bundle_dir)
        progress.update(1)

        # 5. install atomically
        _say(progress, f"{name}: installing to {out.name}")
        old = None
        if out.exists():
            old = work / "previous"
            os.replace(out, old)
        os.replace(bundle_dir, out)
        _fsync_dir(out.parent)
        (out.parent / f"{out.name}.export-failed.log").unlink(missing_ok=True)
        progress.update(1)
        _say(progress, f"{name}: done in {time.monotonic() - started:.0f} s")
        return manifest
    except Exception:
        log = work / "builder.log"
        if log.is_file():
            keep = out.parent / f"{out.name}.export-failed.log"
            try:
                shutil.copy2(log, keep)
            except OSError:
                pass
        raise
    finally:
        progress.close()
        shutil.rmtree(work, ignore_errors=True)


def _quiet_transformers() -> None:
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except Exception:  # pragma: no cover - logging tweaks are best effort
        pass


def _default_source_id(src: Source, config: dict) -> str:
    tiny = src.origin / "tiny.json" if src.origin.is_dir() else None
    if tiny is not None and tiny.is_file():
        info = json.loads(tiny.read_text(encoding="utf-8"))
        return f"tiny-random-{info.get('arch')}-seed{info.get('seed')}"
    if src.format == "gguf":
        return src.origin.stem
    name = config.get("_name_or_path")
    if isinstance(name, str) and name and not name.startswith("/"):
        return name
    return src.origin.name


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
