"""``appliance tasks``: look at task files — check one, or print it as a FHIR Questionnaire."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def tasks() -> None:
    """Check task files and print them in other forms (FHIR Questionnaire)."""


@tasks.command("check")
@click.argument("task")
def check(task: str) -> None:
    """Validate TASK (a built-in name or a task file) and list its features with their codes.

    Exits non-zero with the field and line at fault when the file is invalid.
    """
    from ..tasks import load_task

    t = load_task(task)
    click.echo(f"{t.name} v{t.version}: {len(t.features)} feature(s), sha256 {t.content_hash}")
    for f in t.features:
        codes = ", ".join(f"{c.system} {c.code}" + (f" ({c.display})" if c.display else "") for c in f.codings)
        click.echo(f"  {f.key:28s} {f.type:11s} {codes or 'no code'}")
        if f.coding_note:
            click.echo(f"  {'':28s} {'':11s} note: {f.coding_note}")


@tasks.command("fhir-questionnaire")
@click.argument("task")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE, not stdout.")
def fhir_questionnaire(task: str, output: Path | None) -> None:
    """Print TASK (a built-in name or a task file) as a FHIR R4 Questionnaire (JSON).

    One item per feature (linkId = the feature key) with its type, options and codes; the
    QuestionnaireResponse of every FHIR result answers it (docs/result-schema.md).
    """
    from ..fhir import render_questionnaire
    from ..tasks import load_task

    data = render_questionnaire(load_task(task))
    if output:
        try:
            output.write_bytes(data + b"\n")
        except OSError as e:
            raise click.ClickException(f"cannot write {output}: {e.strerror}") from None
    else:
        click.echo(data.decode("utf-8"))


commands = [tasks]
