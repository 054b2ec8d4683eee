"""``appliance table``: many encrypted results → one research table (CSV or Parquet), on the workstation."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("table")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--identity", "-i", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="age identity file (from `appliance keygen` or `age-keygen`).",
)
@click.option(
    "--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="The table: FILE.csv, or FILE.parquet (needs pyarrow: the 'table' extra). Written with mode 0600.",
)
@click.option("--allow-mixed-tasks", is_flag=True,
              help="Put results of different tasks in one table (columns: every task's features; reads the "
              "files twice). Without it, results of a second task stop the table.")
@click.option("--task", "task_files", multiple=True,
              help="Task file (or built-in name) of the results, to type Parquet value columns; needed only "
              "for tasks that are not built in. Repeatable.")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def table(results: tuple[Path, ...], identity: Path, out: Path, allow_mixed_tasks: bool,
          task_files: tuple[str, ...], force: bool) -> None:
    """Decrypt every result in RESULTS (files, or folders of `<key><suffix>.age` files) into one table.

    One row per transcript: id, language, task, strategy, provenance hashes, then per feature its
    value, status, reason and confidence. A missing feature has an empty value and status 'missing',
    never 'false'. Native and FHIR results are both read; a result written in both formats counts
    once (the native file of the two in one folder is read). Streams: any number of files.
    """
    from ..crypto import load_identities
    from ..tasks import load_task
    from ..workstation.table import write_table

    report = write_table(list(results), load_identities(identity), out, allow_mixed_tasks=allow_mixed_tasks,
                         tasks=[load_task(t) for t in task_files], force=force)
    click.echo(f"{report.rows} row(s) written to {out}", err=True)
    if report.skipped:
        click.echo(f"{len(report.skipped)} file(s) not read: the same result in another format", err=True)


commands = [table]
