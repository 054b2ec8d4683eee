"""``appliance extract``: run the pipeline on files for local testing (plaintext to stdout).

This is the same pipeline the daemon runs; only the edges differ (files named on the command line
instead of an inbox, stdout instead of encrypted results).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import InputError
from ..settings import PipelineSettings
from ..strategies import strategy_names

DEFAULT_MAX_BYTES = 10 * 1024 * 1024


def pipeline_options(f):
    """Options shared by every command that builds a pipeline (extract, evaluate)."""
    decorators = [
        click.option("--task", default="palliative13", show_default=True, help="Built-in task name or task file."),
        click.option("--strategy", type=click.Choice(strategy_names()),
                     default=PipelineSettings.model_fields["strategy"].default, show_default=True),
        click.option("--model", "extractor", default=None, help="Extractor bundle name or folder."),
        click.option("--models-dir", type=click.Path(path_type=Path), default=None, help="Folder of bundles."),
        click.option("--translate", "translate_policy", type=click.Choice(["never", "always", "auto"]),
                     default="never", show_default=True, help="Policy for non-English input."),
        click.option("--translator", default=None, help="Translator bundle name or folder."),
        click.option("--threads", type=int, default=0, help="Inference threads (0 = automatic)."),
        click.option("--no-prefix-reuse", is_flag=True, help="Prefill the whole prompt for every document."),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def settings_from_options(task, strategy, extractor, models_dir, translate_policy, translator, threads,
                          no_prefix_reuse) -> PipelineSettings:
    """``PipelineSettings`` from the ``pipeline_options`` values (non-English input translated per
    ``translate_policy``, English never); raises pydantic's ``ValidationError`` for invalid values."""
    data = dict(task=task, strategy=strategy, models_dir=models_dir, translator=translator, threads=threads,
                prefix_reuse=not no_prefix_reuse, translate={"en": "never", "*": translate_policy})
    if extractor:
        data["extractor"] = extractor
    return PipelineSettings(**data)


def _inputs(paths: tuple[Path, ...]) -> list[Path]:
    """The files named, and in each folder named every file of a registered input format (not hidden
    or temporary), sorted by name."""
    from ..inputs import is_supported
    from ..reader import is_ignored

    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(x for x in p.iterdir() if x.is_file() and is_supported(x.name) and not is_ignored(x.name))
        else:
            files.append(p)
    return files


def _human(result) -> str:
    lines = [f"{result.input_id}  language={result.language}"
             + (" (detected)" if result.language_detected else "")
             + (f"  translated from {result.translation.source_language}" if result.translation else "")
             + f"  tokens={result.document_tokens}  windows={result.windows}  {result.timings.total_s:.2f}s"]
    for key, fr in result.features.items():
        if fr.status == "missing":
            lines.append(f"  {key:28s} MISSING ({fr.reason})")
        else:
            conf = f"  p={fr.confidence:.2f}" if fr.confidence is not None else ""
            quote = f"  \"{fr.evidence[0].quote[:60]}\"" if fr.evidence else ""
            lines.append(f"  {key:28s} {str(fr.value):6s}{conf}{quote}")
    return "\n".join(lines)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@pipeline_options
@click.option("--json", "as_json", is_flag=True, help="One result JSON per line (JSONL).")
@click.option("--max-file-bytes", type=int, default=DEFAULT_MAX_BYTES, show_default=True)
def extract(paths, task, strategy, extractor, models_dir, translate_policy, translator, threads, no_prefix_reuse,
            as_json, max_file_bytes):
    """Extract features from FILE(s) or every .txt, .json, .vtt, .srt in DIR(s); prints plaintext results."""
    from tqdm import tqdm

    from ..inputs import REGISTRY as INPUTS
    from ..pipeline import Pipeline
    from ..reader import read_bytes

    settings = settings_from_options(task, strategy, extractor, models_dir, translate_policy, translator, threads,
                                     no_prefix_reuse)
    files = _inputs(paths)
    if not files:
        raise click.ClickException(f"no {INPUTS.describe('or')} inputs found")
    pipeline = Pipeline.load(settings)
    failures = 0
    bar = tqdm(files, unit="doc", file=sys.stderr, disable=len(files) < 2 or not sys.stderr.isatty())
    for path in bar:
        try:
            doc = INPUTS.parse(read_bytes(path, max_file_bytes), path.name)
            result = pipeline.process(doc)
        except InputError as e:
            failures += 1
            click.echo(f"{path.name}: refused ({e.reason}): {e}", err=True)
            continue
        if as_json:
            click.echo(result.model_dump_json())
        else:
            tqdm.write(_human(result), file=sys.stdout)
    pipeline.close()
    if failures:
        sys.exit(1)


commands = [extract]
