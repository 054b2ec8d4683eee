"""The click group both command-line tools use: an ApplianceError is a clear one-line message, not a
traceback (set APPLIANCE_DEBUG=1 for the traceback)."""

from __future__ import annotations

import os

import click

from .errors import ApplianceError


class ErrorGroup(click.Group):
    """A click group whose commands report an ApplianceError as a one-line ``Error: ...`` (exit code 1)."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        """Run the command; an ApplianceError becomes a ClickException with its message.

        With ``APPLIANCE_DEBUG`` set (any non-empty value) the ApplianceError propagates unchanged.
        """
        try:
            return super().invoke(ctx)
        except ApplianceError as e:
            if os.environ.get("APPLIANCE_DEBUG"):
                raise
            raise click.ClickException(str(e)) from None
