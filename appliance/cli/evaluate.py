"""``appliance evaluate``: the study's measurements on a labelled set; ``compare`` and ``calibrate`` runs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import InputError
from .extract import pipeline_options, settings_from_options


def _default_out(data: Path, task: str, strategy: str, model: str | None) -> Path:
    parts = [data.stem, Path(task).stem, strategy]
    if strategy != "rules" and model:
        parts.append(Path(model).name)
    return Path("evaluation") / "-".join(parts)


def _headline(run: dict) -> list[str]:
    from ..evaluate.report import VIEW_TITLES, fmt_stat

    med = run["summary"].get("median") or {}
    if not med:
        return [f"  {run['label']}: no feature with both classes labelled"]
    lines = []
    for view in ("extracted", "missing_false"):
        b = med[view]
        lines.append(
            f"  {run['label']} [{VIEW_TITLES[view]}]: macro-F1 {fmt_stat(b['macro_f1'])}, MCC {fmt_stat(b['mcc'])}, "
            f"sensitivity {fmt_stat(b['sensitivity'])}, specificity {fmt_stat(b['specificity'])}"
        )
    lines.append(f"  {run['label']}: missing rate {fmt_stat(med['missing_rate'])}, ROC AUC {fmt_stat(med['auc'])}")
    return lines


def hybrid_options(f):
    """``--combiner`` and ``--recall-calls`` (the 'hybrid' strategy's settings)."""
    f = click.option("--recall-calls", type=click.IntRange(0, 13), default=None,
                     help="hybrid: near-miss questions per document (default: the settings' default).")(f)
    return click.option("--combiner", default=None,
                        help="hybrid: combiner file, or 'rules-only' (default: the built-in one for the model).")(f)


def _with_hybrid(settings, combiner: str | None, recall_calls: int | None):
    update = {}
    if combiner is not None:
        update["combiner"] = combiner
    if recall_calls is not None:
        update["recall_calls"] = recall_calls
    return settings.model_copy(update=update) if update else settings


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        name, sep, rest = v.partition("=")
        if not sep or not name or not rest:
            raise click.BadParameter(f"'{v}': expected NAME=VALUE", param_hint=what)
        out[name] = rest
    return out


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path),
              help="Labelled JSONL: id, text, language, labels {feature: true/false} (extra fields ignored).")
@pipeline_options
@click.option("--split", type=click.Choice(["dev", "test", "all"]), default="all", show_default=True,
              help="Fixed split by sha256 of the id (70 % dev / 30 % test). Report figures from 'test'.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (predictions cache + reports); re-running the same command resumes. "
              "Default: evaluation/<data>-<task>-<strategy>[-<model>].")
@click.option("--limit", type=click.IntRange(min=0), help="Only the first N documents of the split.")
@click.option("--no-baseline", is_flag=True, help="Do not run the rule baseline next to the model.")
@click.option("--bootstrap", "replicates", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap replicates for the 95 % intervals (0: none).")
@click.option("--seed", type=int, default=20260101, show_default=True, help="Bootstrap seed.")
@click.option("--no-plot", is_flag=True, help="Skip report.png.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
@hybrid_options
@click.pass_context
def evaluate(ctx: click.Context, data, task, strategy, extractor, models_dir, translate_policy, translator, threads,
             no_prefix_reuse, split, out, limit, no_baseline, replicates, seed, no_plot, progress, combiner,
             recall_calls) -> None:
    """Measure the pipeline on a labelled set, next to the rule baseline and the published study.

    \b
    Runs the daemon's own pipeline over every document of the split, caching predictions in --out
    (an interrupted run resumes), and writes report.json, report.md and report.png there.
    Sub-commands: `compare RUN_A RUN_B`, `calibrate RUN`, `populations` (leave one part out).
    """
    if ctx.invoked_subcommand is not None:
        return
    if data is None or ctx.get_parameter_source("task") is click.core.ParameterSource.DEFAULT:
        # --task is required here: a default task that merely shares a feature or two with the labels
        # would quietly evaluate the wrong thing.
        raise click.UsageError("evaluate needs --data and --task (or a sub-command: compare, calibrate)")
    from ..evaluate import evaluate as run_evaluation

    settings = _with_hybrid(settings_from_options(task, strategy, extractor, models_dir, translate_policy, translator,
                                                  threads, no_prefix_reuse), combiner, recall_calls)
    out = out or _default_out(data, task, strategy, settings.extractor)
    outcome = run_evaluation(
        data, settings, out, split=split, limit=limit, baseline=not no_baseline, replicates=replicates,
        seed=seed, progress=progress, plot=not no_plot,
    )
    r = outcome.report
    click.echo(
        f"task {r['task']['name']} · split {split} · {r['documents']['evaluated']} documents "
        f"(dev {r['documents']['dev']}, test {r['documents']['test']})"
    )
    for name, run in r["runs"].items():
        click.echo(f"{name}: {outcome.cached.get(name, 0)} cached, {outcome.processed.get(name, 0)} processed, "
                   f"{run['errors']} refused")
        for line in _headline(run):
            click.echo(line)
    for note in outcome.notes:
        click.echo(f"note: {note}")
    click.echo("wrote " + ", ".join(str(p) for p in outcome.files.values()))


@evaluate.command("compare")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Also write compare.json and compare.md into this folder.")
@click.option("--bootstrap", "replicates", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--seed", type=int, default=20260101, show_default=True)
def compare(run_a: str, run_b: str, out: Path | None, replicates: int, seed: int) -> None:
    """Two runs side by side with per-feature deltas (B − A) on their common documents.

    \b
    RUN is an `evaluate --out` folder; append `:baseline` for the rule baseline recorded in it,
    e.g. `appliance evaluate compare runs/en runs/en:baseline`.
    """
    from ..evaluate import compare_runs, load_run, render_comparison

    c = compare_runs(load_run(run_a), load_run(run_b), replicates=replicates, seed=seed)
    md = render_comparison(c)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(c, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (out / "compare.md").write_text(md, encoding="utf-8")
    click.echo(md)


@evaluate.command("calibrate")
@click.argument("run")
@click.option("--objective", type=click.Choice(["mcc", "sensitivity"]), default="mcc", show_default=True)
@click.option("--target-sensitivity", type=click.FloatRange(0, 1), default=0.9, show_default=True,
              help="For --objective sensitivity: the sensitivity to reach on the dev split.")
@click.option("--task", "task", help="Task to copy the thresholds into (default: the run's task).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Task file to write (with the fitted thresholds).")
@click.option("--bootstrap", "replicates", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--seed", type=int, default=20260101, show_default=True)
def calibrate(run: str, objective: str, target_sensitivity: float, task: str | None, out: Path,
              replicates: int, seed: int) -> None:
    """Fit per-feature thresholds on P(true) on the run's dev split; report the effect on its test split.

    \b
    Writes the task file (--out) and, next to it, <name>.calibration.json. The test split is never
    used to choose a threshold.
    """
    from ..evaluate import calibrate_run, load_run, render_calibration

    if out.exists() and out.is_dir():
        raise InputError("bad_out", f"{out} is a folder: --out names the task file to write")
    result = calibrate_run(load_run(run, cached=True), objective=objective, target_sensitivity=target_sensitivity,
                           task=task, out=out, replicates=replicates, seed=seed)
    side = out.with_name(out.stem + ".calibration.json")
    side.write_text(json.dumps(result.report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(render_calibration(result.report))
    click.echo(f"wrote {out}, {side}")


@evaluate.command("populations")
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Labelled JSONL with the field to split by.")
@pipeline_options
@hybrid_options
@click.option("--by", default="source_subset", show_default=True, help="Document field whose values are the parts.")
@click.option("--variant", "variants", multiple=True, metavar="NAME=FILE",
              help="A rewrite of the data (same ids and labels, e.g. bench/asr_rewrite.py output); repeatable.")
@click.option("--fit-split", type=click.Choice(["dev", "test", "all"]), default="dev", show_default=True,
              help="Which documents of the other parts a fold fits on ('test' for fold models fine-tuned on 'dev').")
@click.option("--fold-model", "fold_models", multiple=True, metavar="PART=BUNDLE",
              help="Extractor bundle trained without PART, used for that fold; repeatable.")
@click.option("--calibrate", type=click.Choice(["mcc", "sensitivity"]), default=None,
              help="evidence/json: per-fold thresholds fitted on the other parts' dev documents.")
@click.option("--combiner-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="hybrid: write the combiner fitted on every part (with its fitting record) here.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder: prediction caches, populations.json, populations.md.")
@click.option("--bootstrap", "replicates", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--seed", type=int, default=20260101, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
def populations_command(data, task, strategy, extractor, models_dir, translate_policy, translator, threads,
                        no_prefix_reuse, combiner, recall_calls, by, variants, fit_split, fold_models, calibrate,
                        combiner_out, out, replicates, seed, progress) -> None:
    """Leave one part out: fit on the other parts, measure on the held-out one and its rewrites.

    \b
    --strategy defaults to hybrid here (the rules are what every configuration is judged against).
    Every figure next to the rules' on the same documents, with intervals and the paired difference;
    the gate says whether the configuration is at least the rules' equal (median macro-F1 and
    sensitivity) on every held-out part and rewrite. docs/evaluation.md.
    """
    import shlex
    import sys

    from ..combine import Combiner, save_combiner
    from ..evaluate.population_run import populations

    if combiner is not None:
        raise click.UsageError("populations fits a combiner per fold on the other parts; --combiner is for "
                               "'appliance evaluate' and the daemon (use --combiner-out to keep the fitted one)")
    settings = _with_hybrid(settings_from_options(task, strategy, extractor, models_dir, translate_policy, translator,
                                                  threads, no_prefix_reuse), combiner, recall_calls)
    report = populations(data, settings, out, by=by, variants=_pairs(variants, "--variant"), fit_split=fit_split,
                         fold_models=_pairs(fold_models, "--fold-model"), calibrate=calibrate,
                         replicates=replicates, seed=seed, progress=progress,
                         command="appliance evaluate populations " + shlex.join(sys.argv[3:]))
    g = report["gate"]
    click.echo(f"gate: {'PASSED' if g['passed'] else 'FAILED'}" + (f" (fails on {', '.join(g['failed'])})" if g["failed"] else ""))
    for r in report["held_out"]:
        d = r["paired"]["summary"]["median"]
        click.echo(f"  {r['part']}/{r['variant']} ({r['documents']} docs): Δ macro-F1 "
                   f"{d['missing_false.macro_f1']['delta']['value']:+.3f}, Δ sensitivity "
                   f"{(d['missing_false.sensitivity']['delta']['value'] or 0):+.3f}, "
                   f"added {r['changes']['added']} ({r['changes']['added_right']} right)")
    if combiner_out is not None:
        if not report.get("final_combiner"):
            raise click.UsageError("--combiner-out needs --strategy hybrid without --fold-model")
        save_combiner(Combiner.model_validate(report["final_combiner"]), combiner_out)
        click.echo(f"wrote {combiner_out}")
    click.echo(f"wrote {out / 'populations.json'}, {out / 'populations.md'}")


def _populations_defaults(command: click.Command) -> None:
    """The shared options as ``populations`` takes them: --strategy defaults to (and shows) 'hybrid',
    because the settings' default, the rules, is the reference here; --combiner, refused here, is hidden."""
    for p in command.params:
        if p.name == "strategy":
            p.default = "hybrid"
        elif p.name == "combiner":
            p.hidden = True


_populations_defaults(populations_command)

commands = [evaluate]
