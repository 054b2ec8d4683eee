"""Domain errors. Messages never contain document text: they may end up in logs and sidecars."""

from __future__ import annotations


class ApplianceError(Exception):
    """Base class: the CLI turns these into one-line messages."""


class BundleError(ApplianceError):
    """A model bundle is missing, malformed, or does not match its manifest."""


class TaskError(ApplianceError):
    """A task file is malformed."""


class InputError(ApplianceError):
    """An input document is unusable (encoding, format, size).

    ``reason`` is a stable code, kept as a plain ``str``: the daemon's codes are the members of
    ``appliance.reasons.Reason`` (which may be passed here directly); ``appliance evaluate`` raises
    codes of its own. ``message`` names positions and sizes, never content.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason: str = str(reason)


class ConfigError(ApplianceError):
    """The configuration file or environment is invalid."""
