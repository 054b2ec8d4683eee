"""``appliance models``: what the catalogue offers, what is installed, and whether it is intact."""

from __future__ import annotations

from pathlib import Path

import click

from ..bundle import DEFAULT_BUNDLE, MANIFEST_NAME, default_models_dir, read_manifest, resolve_bundle, verify_bundle
from ..errors import BundleError

_MODELS_DIR = click.option(
    "--models-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding bundles (default: $APPLIANCE_MODELS_DIR or ~/.local/share/appliance/models).",
)


@click.group()
def models() -> None:
    """List, and verify, model bundles."""


def _installed(models_dir: Path) -> dict[str, Path]:
    if not models_dir.is_dir():
        return {}
    return {p.name: p for p in sorted(models_dir.iterdir()) if p.is_dir() and (p / MANIFEST_NAME).is_file()}


def _state(path: Path) -> str:
    """Quick check (sizes, not hashes): listing must stay fast with 5 GB bundles."""
    try:
        m = verify_bundle(path, full=False)
    except BundleError as e:
        return f"DAMAGED ({e})"
    fid = f", fidelity {m.fidelity.top1_agreement:.0%}" if m.fidelity else ""
    return f"installed {m.precision}/{m.execution_provider}{fid}"


@models.command("list")
@_MODELS_DIR
def list_(models_dir: Path | None) -> None:
    """The catalogue, and which bundles are installed in the models folder."""
    from ..catalogue import load_catalogue

    models_dir = models_dir or default_models_dir()
    cat = load_catalogue()
    installed = _installed(models_dir)
    click.echo(f"models folder: {models_dir}")
    width = max(len(m.id) for m in cat.models) + 2
    click.echo(f"{'id':<{width}}{'role':<12}{'recommended':<14}{'RAM':>6}  status")
    for m in cat.models:
        status = _state(installed[m.id]) if m.id in installed else "-"
        if m.embedded and m.id not in installed:
            status = "- (appliance-export default)"
        rec = f"{m.precision}/{m.provider}"
        click.echo(f"{m.id:<{width}}{m.role:<12}{rec:<14}{m.ram_gb:>4.1f}GB  {status}")
    others = [n for n in installed if cat.get(n) is None]
    for name in others:
        try:
            role = read_manifest(installed[name]).role
        except BundleError:
            role = "?"
        click.echo(f"{name:<{width}}{role:<12}{'-':<14}{'':>6}  not in catalogue; {_state(installed[name])}")


@models.command()
@click.argument("bundle", required=False, default=DEFAULT_BUNDLE)
@_MODELS_DIR
@click.option("--quick", is_flag=True, help="Check sizes only, not sha256 (fast, misses same-size changes).")
def verify(bundle: str, models_dir: Path | None, quick: bool) -> None:
    """Check every file of BUNDLE (a name in the models folder, or a folder) against its manifest."""
    path = resolve_bundle(bundle, models_dir)
    m = verify_bundle(path, full=not quick)
    click.echo(f"{path}: OK ({len(m.files)} files{', sizes only' if quick else ', sha256'})")
    click.echo(f"  {m.name}: {m.role}, {m.architecture}, {m.precision}/{m.execution_provider}, "
               f"source {m.source.id}")
    if m.fidelity:
        f = m.fidelity
        click.echo(f"  fidelity: top-1 {f.top1_agreement:.1%}, cosine {f.logit_cosine:.4f} "
                   f"(threshold {f.threshold_top1:.0%}{', OVERRIDDEN' if f.overridden else ''})")
    click.echo(f"  content {m.content_hash}")


commands = [models]
