"""``appliance schema``: the JSON Schemas of what the appliance writes (generated from the models)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("schema")
@click.option(
    "--kind",
    type=click.Choice(["result", "error"]),
    default="result",
    show_default=True,
    help="'result': the decrypted result document; 'error': the .error.json sidecar of a failed input.",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE, not stdout."
)
def schema(kind: str, output: Path | None) -> None:
    """Print the JSON Schema (draft 2020-12) of results or of failure sidecars."""
    from ..docsync import dumps, error_schema, result_schema

    text = dumps(result_schema() if kind == "result" else error_schema())
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


commands = [schema]
