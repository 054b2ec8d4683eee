"""The output-format registry: format name → renderer. The config's ``[output] formats`` names entries here.

A renderer turns one ``Result`` (with a ``RenderContext``: the task it was made with) into the bytes
of one file and names that file's suffix and media type. The daemon encrypts the bytes and writes
``<key><suffix>.age`` to the outbox, one file per configured format.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ..result import Result
from ..tasks import Task


@dataclass(frozen=True)
class RenderContext:
    """What a renderer may need besides the result: the task the pipeline ran (None when unknown).

    A format that needs the task (``fhir``: the Questionnaire's items and codes) raises
    ``ApplianceError`` when it is None.
    """

    task: Task | None = None


class Renderer(Protocol):
    """One output format."""

    name: str  # the name in `[output] formats`
    suffix: str  # file suffix with its dot, before `.age`: ".json"
    media_type: str  # of the plaintext: "application/json"

    def render(self, result: Result, context: RenderContext) -> bytes:
        """The whole file's plaintext bytes for one result."""
        ...


class OutputRegistry:
    """Renderers by name, in registration order. Names and suffixes are unique (two formats never
    write the same file)."""

    def __init__(self) -> None:
        self._renderers: dict[str, Renderer] = {}

    def register(self, renderer: Renderer) -> None:
        """Add a format. ``ValueError`` if its name or its suffix is taken, or the suffix lacks a dot."""
        if renderer.name in self._renderers:
            raise ValueError(f"output format {renderer.name!r} is already registered")
        if not renderer.suffix.startswith("."):
            raise ValueError(f"output suffix of {renderer.name!r} must start with a dot: {renderer.suffix!r}")
        taken = {r.suffix.lower(): r.name for r in self._renderers.values()}
        if renderer.suffix.lower() in taken:
            raise ValueError(
                f"output format {renderer.name!r}: suffix {renderer.suffix!r} is already used by "
                f"{taken[renderer.suffix.lower()]!r}"
            )
        self._renderers[renderer.name] = renderer

    def unregister(self, name: str) -> None:
        """Remove a format (``KeyError`` if it is not registered)."""
        del self._renderers[name]

    def names(self) -> list[str]:
        """Registered format names, in registration order."""
        return list(self._renderers)

    def renderers(self) -> list[Renderer]:
        """Registered renderers, in registration order."""
        return list(self._renderers.values())

    def check(self, names: Iterable[str]) -> list[str]:
        """Validate a configured list: known names, none twice, at least one. ``ValueError`` names the
        known formats."""
        names = list(names)
        if not names:
            raise ValueError(f"at least one output format is needed (known: {', '.join(self.names())})")
        for name in names:
            if name not in self._renderers:
                raise ValueError(f"unknown output format {name!r} (known: {', '.join(self.names())})")
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"output format {name!r} is listed twice")
            seen.add(name)
        return names

    def select(self, names: Iterable[str]) -> list[Renderer]:
        """The renderers of a configured list, in its order (validated as ``check``)."""
        return [self._renderers[n] for n in self.check(names)]
