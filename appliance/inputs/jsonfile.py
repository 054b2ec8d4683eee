"""``.json``: one UTF-8 JSON object, in one of the accepted shapes, told apart by its fields.

``SHAPES`` lists them in the order they are tried: a Whisper-family transcript (``segments``;
``appliance.inputs.whisper_json``), then the appliance's own (``id``, ``text``, ``language``,
``metadata``; ``appliance.inputs.native_json``). A new JSON shape is one module with ``matches``,
``from_data`` and ``NEEDS``, and one line in ``SHAPES``. An object of neither shape is refused
(``json_shape``) with what each shape needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..document import Document
from ..errors import InputError
from ..reasons import Reason
from . import native_json, whisper_json
from .jsonload import load_object
from .registry import ParseLimits


class JsonShape(NamedTuple):
    """One accepted JSON shape: ``matches(obj)`` says whether an object is meant as it, ``from_data(obj,
    name, limits)`` validates it into a ``Document`` (or raises ``InputError``), ``needs`` says in
    words what it needs."""

    matches: Callable[[dict[str, Any]], bool]
    from_data: Callable[[dict[str, Any], str, ParseLimits], Document]
    needs: str


SHAPES: tuple[JsonShape, ...] = (
    JsonShape(whisper_json.matches, whisper_json.from_data, whisper_json.NEEDS),
    JsonShape(native_json.matches, native_json.from_data, native_json.NEEDS),
)


def parse(raw: bytes, name: str, limits: ParseLimits) -> Document:
    """Bytes of ``name`` → ``Document``; ``limits`` bounds nesting and the serialised metadata size.

    Raises ``InputError``: the codes of ``jsonload.load_object`` (``invalid_json``, ``json_duplicate_key``,
    ``json_too_deep``, ``json_not_object``, …), ``json_shape`` (an object of no accepted shape), and
    those of the shape's ``from_data``.
    """
    data = load_object(raw, limits.max_json_depth)
    for shape in SHAPES:
        if shape.matches(data):
            return shape.from_data(data, name, limits)
    raise InputError(
        Reason.JSON_SHAPE,
        "the JSON object has no field of an accepted shape: " + "; ".join(s.needs for s in SHAPES)
        + " (its field names are not shown: they may be document content)",
    )
