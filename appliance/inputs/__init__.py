"""Input formats: one parser module per format, registered by file suffix in ``REGISTRY``.

Adding a format is one new module with a ``parse(raw, name, limits) -> Document`` function and one
``REGISTRY.register`` line below; the daemon, ``appliance extract`` and the docs' list of accepted
suffixes (the ``unsupported_type`` reason) follow the registry.

``parse_input`` and ``is_supported`` are the entry points for callers that do not need the registry
itself.
"""

from __future__ import annotations

from ..document import Document
from ..reasons import INPUT_REASONS
from . import jsonfile, subrip, txt, vtt
from .registry import InputParser, InputRegistry, ParseLimits

REGISTRY = InputRegistry()
REGISTRY.register(".txt", txt.parse)
REGISTRY.register(".json", jsonfile.parse)  # the appliance's shape or a Whisper transcript
REGISTRY.register(".vtt", vtt.parse)
REGISTRY.register(".srt", subrip.parse)

#: Every code the input contract raises (reader and parsers), with its meaning.
REASONS = INPUT_REASONS


def parse_input(
    raw: bytes, name: str, *, max_json_depth: int = 16, max_metadata_bytes: int = 65536
) -> Document:
    """Bytes of a dropped file (its original ``name``) → a validated ``Document``, by the format its
    suffix names; ``InputError`` otherwise (see ``InputRegistry.parse``)."""
    return REGISTRY.parse(raw, name, ParseLimits(max_json_depth, max_metadata_bytes))


def is_supported(name: str) -> bool:
    """True if a registered input format takes a file of this name (by suffix, any case)."""
    return REGISTRY.is_supported(name)


__all__ = [
    "REASONS",
    "REGISTRY",
    "InputParser",
    "InputRegistry",
    "ParseLimits",
    "is_supported",
    "parse_input",
]
