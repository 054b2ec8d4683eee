"""``appliance keygen`` and ``appliance decrypt``: the reading side of encrypted results.

Run these on the machine that reads results, not on the box: the identity (secret key) must never be
on the appliance. Files are standard age files; ``age -d -i key.txt FILE`` reads them too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import ApplianceError


@click.command("keygen")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the identity to FILE (created with mode 0600; never overwritten without --force). "
    "Without it the identity goes to stdout, as with age-keygen.",
)
@click.option("--force", is_flag=True, help="Replace an existing identity file (the old key is lost).")
def keygen(out: Path | None, force: bool) -> None:
    """Create an age X25519 key pair; print the public key (the recipient for the box's config).

    Keep the identity off the box: only the public key ('age1...') goes into the appliance's
    recipients.
    """
    from ..crypto import generate_identity, identity_file_text, write_identity_file

    secret, public = generate_identity()
    text = identity_file_text(secret, public)
    if out is None:
        click.echo(text, nl=False)
        click.echo(f"Public key: {public}", err=True)
        return
    write_identity_file(out, text, force=force)
    click.echo(f"# identity written to {out} (mode 0600): keep it off the appliance", err=True)
    click.echo(public)


@click.command("decrypt")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--identity",
    "-i",
    "identity",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="age identity file (from `appliance keygen` or `age-keygen`).",
)
@click.option(
    "--out-dir",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each decrypted file into DIR (name without '.age', mode 0600) instead of printing it.",
)
@click.option("--check", is_flag=True, help="Only decrypt and validate; print one 'ok' line per file.")
@click.option(
    "--raw", is_flag=True, help="Do not parse or validate: for archived inputs (.txt.age, .json.age)."
)
@click.option("--summary", is_flag=True, help="Print a short per-feature table instead of the JSON.")
def decrypt(files: tuple[Path, ...], identity: Path, out_dir: Path | None, check: bool, raw: bool,
            summary: bool) -> None:
    """Decrypt result files and validate each: a native result against the Result schema, a FHIR Bundle
    (recognised by content) with the FHIR library and the appliance's own mapping.

    One file is printed as indented JSON; several as one JSON object per line. A file that fails to
    decrypt or validate is reported and the exit status is 1, after the others are done.
    """
    from ..crypto import decrypt as age_decrypt
    from ..crypto import load_identities
    from ..workstation.reading import recognise

    identities = load_identities(identity)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    bad = 0
    for f in files:
        try:
            data = age_decrypt(f.read_bytes(), identities)
            if not raw:
                parsed = recognise(data)
        except ApplianceError as e:
            click.echo(f"{f}: {e}", err=True)
            bad += 1
            continue
        if check:
            click.echo(f"ok {f}")
        elif out_dir is not None:
            name = f.name[:-4] if f.name.endswith(".age") else f.name + ".decrypted"
            _write_private(out_dir / name, data)
        elif summary and not raw:
            from .extract import _human

            click.echo(f"--- {f.name}" + ("" if parsed.document else f"  ({parsed.format})"))
            click.echo(_human(parsed.document) if parsed.document else _values_summary(parsed.values))
        elif raw:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        elif len(files) == 1:
            click.echo(json.dumps(json.loads(data), indent=2, ensure_ascii=False))
        else:
            click.echo(json.dumps(json.loads(data), ensure_ascii=False))
    if bad:
        raise SystemExit(1)


def _values_summary(v) -> str:
    """Per-feature lines of a result read from a format other than native (``ResultValues``)."""
    lines = [f"{v.input_id}  language={v.language}" + (" (detected)" if v.language_detected else "")
             + f"  task={v.task} v{v.task_version}  strategy={v.strategy}"]
    for key, fr in v.features.items():
        if fr.status == "missing":
            lines.append(f"  {key:28s} MISSING ({fr.reason})")
        else:
            conf = f"  p={fr.confidence:.2f}" if fr.confidence is not None else ""
            lines.append(f"  {key:28s} {fr.value!s:6s}{conf}")
    return "\n".join(lines)


def _write_private(path: Path, data: bytes) -> None:
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


commands = [keygen, decrypt]
