"""The click group both command-line tools use: an ApplianceError is a clear one-line message, not a
traceback (set APPLIANCE_DEBUG=1 for the traceback)."""

from __future__ import annotations

import os

import click

from .errors import ApplianceError


class ErrorGroup(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ApplianceError as e:
            if os.environ.get("APPLIANCE_DEBUG"):
                raise
            raise click.ClickException(str(e)) from None
