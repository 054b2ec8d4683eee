"""The service commands: ``run`` (the daemon), ``status``, ``requeue``, ``config check|show``."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from ..errors import ApplianceError

EX_CONFIG = 78  # sysexits.h; the unit sets RestartPreventExitStatus=78: no restart loop on bad config
EX_TEMPFAIL = 75  # sysexits.h; model bundles not there (yet): the unit restarts the service after RestartSec

config_option = click.option(
    "--config",
    "-c",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $APPLIANCE_CONFIG, else /etc/appliance/config.toml).",
)


def _load(config_file: Path | None):
    from ..config import load_config

    return load_config(config_file)


@click.command("run")
@config_option
def run(config_file: Path | None) -> None:
    """Run the drop-folder daemon in the foreground (systemd: Type=notify).

    Loads and warms the models once, processes what is already in work/ and the inbox, then watches.
    SIGTERM finishes the current input and exits; a second SIGTERM exits at once. SIGHUP finishes the
    current input and exits with status 75 (systemd restarts it, re-reading the config).
    """
    from ..config import config_path
    from ..daemon import Daemon
    from ..daemon.models import ModelsUnavailable
    from ..logfmt import setup_logging

    try:
        cfg = _load(config_file)
    except ApplianceError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(EX_CONFIG)
    setup_logging(cfg.service.log_format, cfg.service.log_level)
    daemon = Daemon(cfg, config_path=config_path(config_file))
    try:
        code = daemon.run()
    except ModelsUnavailable as e:  # not mounted yet, after waiting: restarted with backoff
        click.echo(f"Error: {e}", err=True)
        sys.exit(EX_TEMPFAIL)
    except ApplianceError as e:  # start-up refused: recipients, bundles, folders, task (already logged)
        click.echo(f"Error: {e}", err=True)
        sys.exit(EX_CONFIG)
    sys.exit(code)


@click.command("isolated-worker", hidden=True)
def isolated_worker() -> None:
    """Internal: the daemon's child process for one suspect input (appliance.daemon.isolation).

    Reads its request on stdin and answers on stdout; never run by hand.
    """
    import os

    from ..daemon import isolation, service

    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the answer
    sys.exit(isolation.worker_main(lambda s: service.default_loader(s), sys.stdin.buffer, protocol))


def _ago(t: datetime | None, now: datetime) -> str:
    if t is None:
        return "never"
    s = max(0, int((now - t).total_seconds()))
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s // n}{unit} ago"
    return f"{s}s ago"


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(config_file: Path | None, as_json: bool) -> None:
    """Show whether the daemon runs, its queue, counts, last error and models.

    Exit status: 0 running, 3 not running (as `systemctl status`).
    """
    from ..outputs import REGISTRY as OUTPUTS
    from ..state import is_running, read_status
    from ..store import Store

    cfg = _load(config_file)
    store = Store(cfg.paths, result_suffixes=[r.suffix for r in OUTPUTS.select(cfg.output.formats)])
    st = read_status(store.state)
    now = datetime.now(timezone.utc)
    running = is_running(st, now)
    try:
        counts = store.counts()
    except OSError as e:
        raise ApplianceError(
            f"cannot read the data folders: {e.__class__.__name__} (run as the service user?)"
        ) from None
    failures = store.failures()
    last_failed = max((r for _, r in failures if r is not None), key=lambda r: r.failed_at, default=None)
    report = {
        "running": running,
        "state": st.state if st else None,
        "pid": st.pid if st else None,
        "started": st.started.isoformat() if st else None,
        "heartbeat": st.updated.isoformat() if st else None,
        "current": st.current if st and running else None,
        "queue": {
            "total": counts["inbox"] + counts["work"],
            "inbox": counts["inbox"],
            "work": counts["work"],
        },
        "processed": {"since_start": st.processed if st else 0, "total": counts["processed"]},
        "failed": {"since_start": st.failed if st else 0, "in_failed_folder": counts["failed"]},
        "duplicates_since_start": st.duplicates if st else 0,
        "retries_since_start": st.retries if st else 0,
        "outbox": counts["outbox"],
        "last_error": (
            {"code": st.last_error.code, "at": st.last_error.at.isoformat()}
            if st and st.last_error
            else (
                {"code": last_failed.reason, "at": last_failed.failed_at.isoformat()} if last_failed else None
            )
        ),
        "models": st.models if st else {},
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        head = (
            "running"
            if running
            else ("not running" if st is None or st.state == "stopped" else "not running (stale status)")
        )
        lines = [f"appliance: {head}"]
        if st:
            lines[0] += (
                f" (pid {st.pid}, state {st.state}, started {st.started:%Y-%m-%d %H:%M:%S}Z, "
                f"heartbeat {_ago(st.updated, now)})"
            )
        q = report["queue"]
        lines.append(f"queue:      {q['total']} (inbox {q['inbox']}, work {q['work']})")
        if report["current"]:
            lines.append(f"current:    {report['current']}")
        lines.append(
            f"processed:  {report['processed']['since_start']} since start, "
            f"{report['processed']['total']} in ledger"
        )
        lines.append(
            f"failed:     {report['failed']['since_start']} since start, {counts['failed']} in {store.failed}"
        )
        lines.append(f"outbox:     {counts['outbox']} result(s) waiting")
        le = report["last_error"]
        lines.append(f"last error: {le['code']} at {le['at']}" if le else "last error: none")
        models = report["models"] or {}
        if models:
            lines.append(
                f"task:       {models.get('task')} v{models.get('task_version')} ({models.get('strategy')}), "
                f"prompt {str(models.get('prompt_hash', ''))[:16]}"
            )
            for m in models.get("models", []):
                lines.append(
                    f"model:      {m.get('role')} {m.get('name')} bundle {str(m.get('bundle_hash', ''))[:16]}"
                )
        click.echo("\n".join(lines))
    sys.exit(0 if running else 3)


@click.command("requeue")
@config_option
@click.option("--all", "all_", is_flag=True, help="Requeue every failed input.")
@click.argument("names", nargs=-1)
def requeue(config_file: Path | None, all_: bool, names: tuple[str, ...]) -> None:
    """Move failed inputs back into the inbox (their .error.json is removed).

    NAMES are file names in the failed folder (see `appliance failures`).
    """
    from ..store import Store

    cfg = _load(config_file)
    store = Store(cfg.paths)
    if all_:
        names = tuple(p.name for p, _ in store.failures() if p.exists())
    if not names:
        raise click.UsageError("give NAMES or --all")
    errors = 0
    for name in names:
        try:
            target = store.requeue(name)
            click.echo(f"requeued {name} -> {target.name}")
        except ApplianceError as e:
            click.echo(f"{e}", err=True)
            errors += 1
    if errors:
        sys.exit(1)


@click.command("failures")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def failures(config_file: Path | None, as_json: bool) -> None:
    """List failed inputs with reason code, attempts and time."""
    from ..store import Store

    cfg = _load(config_file)
    for path, rec in Store(cfg.paths).failures():
        if as_json:
            click.echo(json.dumps({"file": path.name, **(rec.model_dump(mode="json") if rec else {})}))
        elif rec is None:
            click.echo(f"{path.name}\t(unreadable sidecar)")
        else:
            click.echo(
                f"{path.name}\t{rec.reason}\tattempts={rec.attempts}\t{rec.failed_at:%Y-%m-%dT%H:%M:%SZ}"
            )


@click.group("config")
def config_group() -> None:
    """Check or show the daemon configuration."""


@config_group.command("check")
@config_option
def config_check(config_file: Path | None) -> None:
    """Validate the config file and the recipients (does not load models)."""
    from ..config import config_path
    from ..crypto import load_recipients

    cfg = _load(config_file)
    recipients = load_recipients(cfg.recipients.keys, cfg.recipients.files)
    click.echo(f"config OK: {config_path(config_file)}")
    click.echo(f"recipients: {len(recipients)}")
    for name in ("inbox", "work", "outbox", "failed", "archive", "state"):
        click.echo(f"{name + ':':<11} {cfg.paths.folder(name)}")
    click.echo(
        f"extractor:  {cfg.pipeline.extractor} (task {cfg.pipeline.task}, strategy {cfg.pipeline.strategy})"
    )


@config_group.command("show")
@config_option
def config_show(config_file: Path | None) -> None:
    """Print the effective configuration (file + environment + defaults) as JSON."""
    cfg = _load(config_file)
    click.echo(cfg.model_dump_json(indent=2))


commands = [run, isolated_worker, status, requeue, failures, config_group]
