"""``native``: the result document itself, as JSON (``Result.model_dump_json()``, UTF-8).

Its schema is ``appliance/schemas/result.schema.json`` (docs/result-schema.md); ``appliance decrypt``
validates against it. The encrypted file is ``<key>.json.age``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..result import Result
from .registry import RenderContext


@dataclass(frozen=True)
class NativeJson:
    """The native result JSON, compact (no indentation), UTF-8 (non-ASCII characters unescaped)."""

    name: str = "native"
    suffix: str = ".json"
    media_type: str = "application/json"

    def render(self, result: Result, context: RenderContext) -> bytes:
        """``result`` as the bytes of one JSON document (``context`` unused)."""
        return result.model_dump_json().encode("utf-8")


RENDERER = NativeJson()
