"""``appliance review``: the clinician review station (on the records workstation, never on the box), its
``report`` of accuracy in use, its ``settings``, and the ``verdict`` on a candidate bundle.

Nothing here is imported by the daemon: Flask, waitress and matplotlib (the ``review`` extra) are loaded
only inside these commands. See ``docs/review.md``.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import click

EXIT_NO = 3  # verdict: keep the running bundle


def _reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


def _need_extra(module: str) -> None:
    try:
        __import__(module)
    except ModuleNotFoundError as e:
        raise click.ClickException(
            f"{e.name} is not installed: pip install 'clinical-appliance[review]' on this workstation"
        ) from None


task_files_option = click.option(
    "--task", "task_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Task file of a task that is not built in (repeatable): its features' names and definitions.")


@click.group("review", invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--identity", "-i", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="age identity file that opens the results (from `appliance keygen`).")
@click.option("--results", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of encrypted results (<key>.json.age; searched recursively).")
@click.option("--inputs", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The box's archive of encrypted inputs (retention 'archive'): shows the transcripts.")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path),
              help="Review folder (created with mode 0700): the label log and the labelled JSONL, with text. "
              "The only place anything decrypted is written.")
@click.option("--reviewer", default=_reviewer, show_default="login name", help="Recorded with every label.")
@task_files_option
@click.option("--audit-rate", type=click.FloatRange(0, 1), help="Share of calls in the random audit sample "
              "(saved in the folder's review.json; default 0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in this machine's browser.")
@click.pass_context
def review(ctx: click.Context, identity: Path | None, results: Path | None, inputs: Path | None,
           folder: Path | None, reviewer: str, task_files: tuple[Path, ...], audit_rate: float | None, port: int,
           open_browser: bool) -> None:
    """Review results against their transcripts in a local web page; keep the labels.

    \b
    Serves on 127.0.0.1 only, on a free port; the printed address carries a one-time token.
    Keys: j/k move, p/a/n present/absent/not mentioned, Enter finish and next, ? help.
    Sub-commands: report, settings, verdict.
    """
    if ctx.invoked_subcommand is not None:
        return
    if identity is None or results is None or folder is None:
        raise click.UsageError("review needs --identity, --results and --folder (or a sub-command)")
    _need_extra("flask")
    _need_extra("waitress")
    from ..review.server import make_server
    from ..review.station import ReviewStation

    station = ReviewStation.open(results, inputs, identity, folder, reviewer, task_files=task_files,
                                 audit_rate=audit_rate, lock=True)
    try:
        try:
            server = make_server(station, port=port)
        except OSError as e:
            raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {e.strerror or e}") from None
        with_text = sum(1 for k in station.source.results if station.source.results[k].input_path is not None)
        click.echo(f"{len(station.source.results)} results ({with_text} with an archived transcript), "
                   f"{len(station.source.problems)} unreadable; review folder {folder}")
        for name, n in station.unknown_tasks().items():
            click.echo(f"note: {n} results of task {name!r}, which is not built in: give its task file with "
                       "--task, or its features are guessed from the values (a missing number or list would be "
                       "asked as present/absent)", err=True)
        click.echo("Open this address in a browser on this machine (it works once; Ctrl-C stops the server):")
        click.echo(f"  {server.url}")
        if open_browser:
            import webbrowser

            webbrowser.open(server.url)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
    finally:
        station.workspace.unlock()
    click.echo(f"stopped; labels in {station.workspace.log_path} and {station.workspace.dataset_path}", err=True)


@review.command("report")
@click.option("--folder", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Default: FOLDER/report.")
@click.option("--period", type=click.Choice(["month", "week"]), default="month", show_default=True)
@click.option("--warn-metric", type=click.Choice(["macro_f1", "mcc", "sensitivity", "specificity"]),
              help="Override review.json's warn.metric for this report.")
@click.option("--warn-below", type=click.FloatRange(-1, 1), help="Override review.json's warn.below.")
@click.option("--min-reviews", type=click.IntRange(min=1), help="Override review.json's warn.min_reviews.")
@click.option("--bootstrap", "replicates", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--seed", type=int, default=20260101, show_default=True)
@click.option("--no-plot", is_flag=True, help="Skip report.png.")
@click.option("--strict", is_flag=True, help="Exit with status 4 when a feature is below the threshold.")
@task_files_option
def report(folder: Path, out: Path | None, period: str, warn_metric: str | None, warn_below: float | None,
           min_reviews: int | None, replicates: int, seed: int, no_plot: bool, strict: bool,
           task_files: tuple[Path, ...]) -> None:
    """Agreement between the appliance and its reviewers: per feature, over time, with warnings.

    \b
    Reads only the review folder's label log (no identity needed); writes report.json, report.md
    and report.png (figures only, no text).
    """
    from ..review.agreement import agreement_report
    from ..review.labels import LabelStore
    from ..review.render import render_markdown, summary_lines
    from ..review.workspace import Workspace
    from ..durable import durable_write
    from ..tasks import load_task

    ws = Workspace.open(folder, create=False)
    rule = ws.settings.warn.model_copy(update={k: v for k, v in (
        ("metric", warn_metric), ("below", warn_below), ("min_reviews", min_reviews)) if v is not None})
    known = {t.name: t for t in (load_task(p) for p in task_files)}
    rep = agreement_report(list(LabelStore(ws.log_path).items.values()), rule, period=period,
                           replicates=replicates, seed=seed, known_tasks=known)
    out = out or ws.report_dir
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = [out / "report.json", out / "report.md"]
    durable_write(files[0], (json.dumps(rep, indent=2, ensure_ascii=False) + "\n").encode(), 0o600)
    durable_write(files[1], render_markdown(rep).encode(), 0o600)
    if not no_plot and rep["populations"]:
        try:
            from ..review.plot import plot_png

            files.append(durable_write(out / "report.png", plot_png(rep), 0o600))
        except ModuleNotFoundError as e:
            click.echo(f"note: report.png skipped: {e.name} is not installed (the 'review' extra)", err=True)
    for line in summary_lines(rep):
        click.echo(line)
    click.echo("wrote " + ", ".join(str(f) for f in files))
    if strict and rep["warnings"]:
        raise SystemExit(4)


@review.command("settings")
@click.option("--folder", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--audit-rate", type=click.FloatRange(0, 1), help="Share of calls in the random audit sample.")
@click.option("--warn-metric", type=click.Choice(["macro_f1", "mcc", "sensitivity", "specificity"]))
@click.option("--warn-below", type=click.FloatRange(-1, 1), help="Warn when a feature's metric is below this.")
@click.option("--min-reviews", type=click.IntRange(min=1), help="Reviews of a feature needed before warning.")
def settings(folder: Path, audit_rate: float | None, warn_metric: str | None, warn_below: float | None,
             min_reviews: int | None) -> None:
    """Show the review folder's settings (review.json); with options, change them (the clinic's threshold)."""
    from ..review.workspace import Workspace

    ws = Workspace.open(folder)
    warn = ws.settings.warn.model_copy(update={k: v for k, v in (
        ("metric", warn_metric), ("below", warn_below), ("min_reviews", min_reviews)) if v is not None})
    changes: dict[str, object] = {"warn": warn} if warn != ws.settings.warn else {}
    if audit_rate is not None:
        changes["audit_rate"] = audit_rate
    if changes:
        ws.update_settings(**changes)
    s = ws.settings
    click.echo(f"audit_rate {s.audit_rate}; warn when {s.warn.metric} < {s.warn.below} "
               f"(at least {s.warn.min_reviews} reviews of a feature)")


@review.command("verdict")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The reviewed calls: FOLDER/labelled.jsonl.")
@click.option("--task", required=True, help="Built-in task name or task file.")
@click.option("--running", required=True, help="The bundle the box runs now (name or folder).")
@click.option("--candidate", required=True, help="The new bundle (name or folder).")
@click.option("--strategy", type=click.Choice(["json", "evidence", "hybrid", "rules"]), default="hybrid",
              show_default=True, help="Strategy of both (the box's config).")
@click.option("--running-strategy", type=click.Choice(["json", "evidence", "hybrid", "rules"]),
              help="The running configuration's strategy when it differs (e.g. rules).")
@click.option("--models-dir", type=click.Path(path_type=Path), help="Folder of bundles.")
@click.option("--threads", type=int, default=0, help="Inference threads (0 = automatic).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run folders and verdict.json (default: verdict/ next to --data).")
@click.option("--metric", type=click.Choice(["macro_f1", "mcc"]), default="macro_f1", show_default=True)
@click.option("--min-gain", type=float, default=0.0, show_default=True, help="Median gain the candidate must exceed.")
@click.option("--min-documents", type=click.IntRange(min=1), default=30, show_default=True,
              help="Reviewed test-split calls needed to judge at all.")
@click.option("--bootstrap", "replicates", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", type=int, default=20260101, show_default=True)
def verdict(data: Path, task: str, running: str, candidate: str, strategy: str, running_strategy: str | None,
            models_dir: Path | None, threads: int, out: Path | None, metric: str, min_gain: float,
            min_documents: int, replicates: int, seed: int) -> None:
    """Install the candidate? Prints the figures and, last, 'yes: install ...' (exit 0) or 'no: keep ...'
    (exit 3).

    \b
    Both run through the box's pipeline on the test split of the reviewed calls (never trained on);
    yes only when the candidate's median macro-F1 (or MCC) is higher with its 95 % paired interval
    above 0 and no feature is clearly worse. Rule: docs/review.md.
    """
    from ..review.verdict import VerdictRule, judge, render_verdict
    from ..settings import PipelineSettings

    def settings_of(model: str, strat: str) -> PipelineSettings:
        return PipelineSettings(task=task, strategy=strat, extractor=model, models_dir=models_dir, threads=threads)

    run_s = settings_of(running, running_strategy or strategy)
    cand_s = settings_of(candidate, strategy)
    v = judge(data, run_s, cand_s, out or data.parent / "verdict", replicates=replicates, seed=seed,
              rule=VerdictRule(metric=metric, min_gain=min_gain, min_documents=min_documents))

    def label(s: PipelineSettings) -> str:
        return "rules" if s.strategy == "rules" else f"{s.extractor} ({s.strategy})"

    click.echo(render_verdict(v, label(run_s), label(cand_s)))
    if not v.install:
        raise SystemExit(EXIT_NO)


commands = [review]
