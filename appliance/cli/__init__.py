"""Command-line edge. Domain errors become one-line messages; ``APPLIANCE_DEBUG=1`` re-raises them.

Commands live in one module per area (``extract``, ``run``, ``keys``, ...) and are registered here,
so no single file grows into a monolith.
"""

from __future__ import annotations

import os
import sys

import click

import appliance  # noqa: F401  (sets ORT_DISABLE_TELEMETRY before anything imports onnxruntime)

from ..errors import ApplianceError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ApplianceError as e:
            if os.environ.get("APPLIANCE_DEBUG"):
                raise
            raise click.ClickException(str(e)) from None


@click.group(cls=_Group)
@click.version_option(package_name="clinical-appliance")
def main() -> None:
    """Offline clinical-feature extraction appliance."""


def _register() -> None:
    from . import extract, keys, models, run, schema, evaluate

    for module in (extract, keys, models, run, schema, evaluate):
        for command in module.commands:
            main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
