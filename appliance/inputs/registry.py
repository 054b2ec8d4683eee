"""The input-format registry: file suffix → parser. One registry answers every "which inputs" question.

A parser is a function ``(raw bytes, file name, ParseLimits) → Document`` that validates what it
accepts and raises ``InputError`` (an ``appliance.reasons.Reason`` code, a message without content)
for anything else. The registry checks the name (``reader.check_name``) before any parser runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from ..document import Document
from ..errors import InputError
from ..reader import check_name
from ..reasons import Reason


@dataclass(frozen=True)
class ParseLimits:
    """Bounds a parser enforces (the daemon takes them from ``[limits]``; these are its defaults)."""

    max_json_depth: int = 16  # deepest nesting of a structured input
    max_metadata_bytes: int = 65536  # serialised UTF-8 size of a `metadata` object


class InputParser(Protocol):
    """Bytes of a dropped file (its original ``name``) → a validated ``Document``, or ``InputError``."""

    def __call__(self, raw: bytes, name: str, limits: ParseLimits) -> Document:
        """Parse ``raw`` (the file's bytes) named ``name`` within ``limits``; raises ``InputError``."""
        ...


class InputRegistry:
    """Parsers by file suffix (lower case, with its dot: ``".txt"``), in registration order.

    A name is matched case-insensitively against the longest registered suffix it ends with, so a
    later ``".whisper.json"`` can sit beside ``".json"``.
    """

    def __init__(self) -> None:
        self._parsers: dict[str, InputParser] = {}

    def register(self, suffix: str, parser: InputParser) -> None:
        """Add a format. ``ValueError`` if ``suffix`` does not start with a dot or is taken."""
        suffix = suffix.lower()
        if not suffix.startswith(".") or len(suffix) < 2:
            raise ValueError(f"an input suffix starts with a dot: {suffix!r}")
        if suffix in self._parsers:
            raise ValueError(f"input suffix {suffix!r} is already registered")
        self._parsers[suffix] = parser

    def unregister(self, suffix: str) -> None:
        """Remove a format (``KeyError`` if it is not registered)."""
        del self._parsers[suffix.lower()]

    @contextmanager
    def registered(self, suffix: str, parser: InputParser) -> Iterator[None]:
        """``register`` for the duration of a ``with`` block (tests, plug-in trials)."""
        self.register(suffix, parser)
        try:
            yield
        finally:
            self.unregister(suffix)

    def suffixes(self) -> list[str]:
        """The registered suffixes, in registration order."""
        return list(self._parsers)

    def describe(self, conjunction: str = "and", quote: str = "") -> str:
        """The suffixes as words for messages and docs: ``.txt and .json``; with ``quote="`"``:
        ``\\`.txt\\` or \\`.json\\``` (``conjunction="or"``)."""
        names = [f"{quote}{s}{quote}" for s in self._parsers]
        if len(names) <= 1:
            return "".join(names)
        return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"

    def parser_for(self, name: str) -> InputParser | None:
        """The parser for a file name (the longest matching suffix), or None if no format claims it."""
        lower = name.lower()
        best = max((s for s in self._parsers if lower.endswith(s)), key=len, default=None)
        return self._parsers[best] if best is not None else None

    def is_supported(self, name: str) -> bool:
        """True if a registered format takes a file of this name."""
        return self.parser_for(name) is not None

    def parse(self, raw: bytes, name: str, limits: ParseLimits | None = None) -> Document:
        """Bytes of a dropped file (its original ``name``) → a validated ``Document``.

        Raises ``InputError``: ``bad_name`` (not UTF-8, too long), ``unsupported_type`` (no format
        claims the suffix), or the parser's own refusals.
        """
        check_name(name)
        parser = self.parser_for(name)
        if parser is None:
            raise InputError(Reason.UNSUPPORTED_TYPE, f"only {self.describe()} inputs are accepted")
        return parser(raw, name, limits or ParseLimits())
