"""Domain errors. Messages never contain document text: they may end up in logs and sidecars."""

from __future__ import annotations


class ApplianceError(Exception):
    """Base class: the CLI turns these into one-line messages."""


class BundleError(ApplianceError):
    """A model bundle is missing, malformed, or does not match its manifest."""


class TaskError(ApplianceError):
    """A task file is malformed."""


class InputError(ApplianceError):
    """An input document is unusable (encoding, format, size). ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConfigError(ApplianceError):
    """The configuration file or environment is invalid."""
