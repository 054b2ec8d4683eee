"""Command-line edge. Domain errors become one-line messages; ``APPLIANCE_DEBUG=1`` re-raises them.

Commands live in one module per area (``extract``, ``run``, ``keys``, ...) and are registered here,
so no single file grows into a monolith.
"""

from __future__ import annotations

import sys

import click

import appliance  # noqa: F401  (sets ORT_DISABLE_TELEMETRY before anything imports onnxruntime)

from ..clickgroup import ErrorGroup


@click.group(cls=ErrorGroup)
@click.version_option(package_name="clinical-appliance")
def main() -> None:
    """Offline clinical-feature extraction appliance."""


def _register() -> None:
    from . import evaluate, extract, keys, models, review, run, schema, table, tasks

    for module in (extract, keys, models, run, schema, evaluate, review, tasks, table):
        for command in module.commands:
            main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
