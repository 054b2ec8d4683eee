"""Model bundles: the folder of ONNX files a box runs, and the manifest that vouches for it.

A bundle is produced on a connected workstation (``export/``) and carried to the box, often on a USB
stick. The box must never run a bundle that differs from what was exported and measured, so every
file is listed in ``manifest.json`` with its sha256, and loading refuses any mismatch by file name.
The export side imports this module to *write* manifests; the runtime only reads and verifies them.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import BundleError

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
DEFAULT_BUNDLE = "smollm2-135m-instruct"

Precision = Literal["int4", "int8", "fp16", "fp32"]
Provider = Literal["cpu", "cuda", "dml"]
Role = Literal["extractor", "translator"]
# How the bundle runs: 'decoder' = onnxruntime-genai (extractors, LLM translators); 'seq2seq' = three
# onnxruntime graphs (appliance.translate.seq2seq). A translator kind also needs a loader registered in
# appliance.translate.registry.
BundleKind = Literal["decoder", "seq2seq"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Strict):
    """One file of a bundle: path, sha256 (64 hex characters) and size in bytes."""

    path: str = Field(description="Path relative to the bundle folder, '/'-separated.")
    sha256: str
    size: int


class SourceInfo(_Strict):
    """Where the weights came from: model id, source format and a hash over what the export read."""

    id: str = Field(description="Model id, e.g. 'HuggingFaceTB/SmolLM2-135M-Instruct'.")
    format: Literal["hf", "gguf"]
    sha256: str = Field(description="Hash over the source files the export read.")
    file: str | None = Field(default=None, description="GGUF file name, when the source was one.")


class TokenFacts(_Strict):
    """What the runtime must know about special tokens that the ONNX files do not say reliably."""

    add_bos: bool = Field(description="Prepend BOS to prompts (Gemma needs it; genai's tokenizer omits it).")
    bos_token: str | None = None
    eos_tokens: list[str] = Field(default_factory=list)
    pad_token: str | None = None


class Fidelity(_Strict):
    """Agreement of the exported model with its fp32 source on fixed clinical prompts."""

    reference: str = "torch-fp32"
    prompts: int
    positions: int
    top1_agreement: float = Field(ge=0, le=1)
    logit_cosine: float = Field(ge=-1, le=1)
    threshold_top1: float
    passed: bool
    overridden: bool = False


class BuilderInfo(_Strict):
    """The tool that made the ONNX files, the library versions at export time and its options (as strings)."""

    tool: str = "onnxruntime_genai.models.builder"
    onnxruntime_genai: str | None = None
    onnxruntime: str | None = None
    transformers: str | None = None
    optimum: str | None = None
    options: dict[str, str] = Field(default_factory=dict)


class FineTuneInfo(_Strict):
    """How a fine-tuned bundle was trained (``appliance-export finetune``), so it can be reproduced and
    its test figures trusted: which base, which data (and which part of it), which prompt, which settings."""

    method: str = Field(default="lora", description="'lora' (merged into the weights before export).")
    base: str = Field(description="Base model id, e.g. 'HuggingFaceTB/SmolLM2-135M-Instruct'.")
    base_sha256: str = Field(description="Hash over the base checkpoint files that were trained.")
    base_source_sha256: str | None = Field(default=None, description="Hash of the base's own source (GGUF).")
    task: str
    task_sha256: str
    strategy: str = Field(default="evidence", description="The runtime strategy whose prompts were trained.")
    prompt_sha256: str = Field(description="Hash of the trained prompt template (system, examples, question).")
    rules_sha256: str = Field(description="Rule pre-pass hash: the excerpts depend on it.")
    data_file: str = Field(description="File name of the labelled data (no path).")
    data_sha256: str
    split: str = Field(description="Documents trained on: 'dev' keeps the 'test' split unseen.")
    split_rule: str
    documents: int
    document_ids_sha256: str
    examples: int
    synthetic: str | None = Field(default=None, description="Synthetic training data, if any: file and sha256.")
    excluded: dict[str, list[str]] = Field(
        default_factory=dict, description="Documents left out by field value, e.g. {'source_subset': ['aci']}: "
        "a fold model for 'appliance evaluate populations --fold-model'.")
    hyperparameters: dict[str, str | int | float | bool | list[str]] = Field(default_factory=dict)


class BundleManifest(_Strict):
    """``manifest.json``: versioned, so a newer runtime can still read (or clearly refuse) old bundles."""

    manifest_version: Literal[1] = MANIFEST_VERSION
    name: str
    role: Role
    kind: BundleKind = "decoder"
    architecture: str
    source: SourceInfo
    precision: Precision
    execution_provider: Provider
    builder: BuilderInfo
    chat_template: str | None = None
    context_length: int = Field(gt=0)
    tokens: TokenFacts
    languages: list[str] = Field(default_factory=list, description="For translators: supported languages.")
    files: list[FileEntry]
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    fidelity: Fidelity | None = None
    finetune: FineTuneInfo | None = Field(default=None, description="Set when the weights were fine-tuned here.")
    notes: str | None = None

    @property
    def content_hash(self) -> str:
        """One hash for the whole bundle: what results record as 'the model that produced this'."""
        h = hashlib.sha256()
        for entry in sorted(self.files, key=lambda e: e.path):
            h.update(f"{entry.path}\0{entry.sha256}\0{entry.size}\n".encode())
        return h.hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte blocks (1 MiB). Raises ``OSError`` if unreadable."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def scan_files(folder: Path) -> list[FileEntry]:
    """Hash every regular file under ``folder`` except the manifest itself (sorted, reproducible)."""
    entries = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name == MANIFEST_NAME:
            continue
        rel = p.relative_to(folder).as_posix()
        entries.append(FileEntry(path=rel, sha256=sha256_file(p), size=p.stat().st_size))
    return entries


def write_manifest(folder: Path, manifest: BundleManifest) -> Path:
    """Write ``manifest.json`` durably (the export side calls this last, after hashing)."""
    target = folder / MANIFEST_NAME
    tmp = folder / f".{MANIFEST_NAME}.tmp"
    data = manifest.model_dump_json(indent=2)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(data + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target


def read_manifest(folder: Path) -> BundleManifest:
    """Read and validate ``folder/manifest.json`` (no file hashes checked: see :func:`verify_bundle`).

    Raises :class:`BundleError` naming the problem: no such folder, no manifest, invalid JSON, an
    unsupported ``manifest_version``, or the first invalid field (e.g. an unknown ``kind``).
    """
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise BundleError(f"model bundle folder not found: {folder}")
    if not path.is_file():
        raise BundleError(
            f"{path} is missing: this folder is not an exported bundle "
            "(export one with 'appliance-export', or copy the whole bundle folder)"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path} is not valid JSON: {e}") from None
    version = raw.get("manifest_version") if isinstance(raw, dict) else None
    if version != MANIFEST_VERSION:
        raise BundleError(
            f"{path}: manifest_version {version!r} is not supported by this runtime (expects {MANIFEST_VERSION})"
        )
    try:
        return BundleManifest.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise BundleError(f"{path}: invalid manifest at '{loc}': {first['msg']}") from None


def verify_bundle(folder: Path, *, full: bool = True) -> BundleManifest:
    """Check every listed file exists with the recorded size (and hash when ``full``); returns the manifest.

    Refuses, naming the file, on any difference: a missing file, a changed byte, or an extra model
    file that the manifest does not list (an unlisted ``.onnx`` could be loaded by genai). Raises
    :class:`BundleError`.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    listed = {e.path for e in manifest.files}
    for entry in manifest.files:
        p = folder / entry.path
        if not p.is_file():
            raise BundleError(f"bundle {folder}: file '{entry.path}' listed in the manifest is missing")
        size = p.stat().st_size
        if size != entry.size:
            raise BundleError(
                f"bundle {folder}: file '{entry.path}' has size {size}, manifest says {entry.size} "
                "(damaged or modified; copy the bundle again)"
            )
        if full and sha256_file(p) != entry.sha256:
            raise BundleError(
                f"bundle {folder}: file '{entry.path}' does not match its sha256 in the manifest "
                "(damaged or modified; copy the bundle again)"
            )
    for p in folder.rglob("*"):
        if p.is_file() and p.name != MANIFEST_NAME and p.relative_to(folder).as_posix() not in listed:
            if p.suffix in {".onnx", ".data", ".json", ".jinja"} or p.name.endswith(".onnx.data"):
                raise BundleError(f"bundle {folder}: file '{p.relative_to(folder)}' is not listed in the manifest")
    return manifest


def default_models_dir() -> Path:
    """Where bundles live: ``$APPLIANCE_MODELS_DIR``, else the XDG data folder of the user."""
    env = os.environ.get("APPLIANCE_MODELS_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "appliance" / "models"


def resolve_bundle(name_or_path: str | os.PathLike[str], models_dir: Path | None = None) -> Path:
    """A bundle given as a folder path, or as a name inside the models folder (default: :func:`default_models_dir`).

    Raises :class:`BundleError` when neither exists (with a hint for the default bundle's name).
    """
    p = Path(name_or_path)
    if p.is_dir():
        return p
    if models_dir is None:
        models_dir = default_models_dir()
    candidate = models_dir / str(name_or_path)
    if candidate.is_dir():
        return candidate
    hint = ""
    if str(name_or_path) == DEFAULT_BUNDLE:
        hint = " (prepare it with 'appliance-export default')"
    raise BundleError(f"model bundle '{name_or_path}' not found in {models_dir}{hint}")
