"""Building and reading the appliance's FHIR extensions (definitions in ``definitions``).

The evidence extension is generic over the fields of ``appliance.result.Evidence``: every field that
is set becomes a sub-extension named as the field, typed by its value (:data:`EVIDENCE_VALUE_TYPES`),
so fields added to ``Evidence`` later (character offsets, cue times) are carried without a change
here, and read back by name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fhir.resources.R4B.extension import Extension

from .definitions import EVIDENCE, EVIDENCE_VALUE_TYPES, ExtensionDef

_VALUE_FIELDS = ("valueBoolean", "valueInteger", "valueDecimal", "valueString", "valueCode", "valueMarkdown")


def make(defn: ExtensionDef, value: Any) -> Extension:
    """The extension ``defn`` holding ``value`` in its declared value type (validated by the library)."""
    return Extension(url=defn.url, **{defn.value: value})


def optional(defn: ExtensionDef, value: Any) -> list[Extension]:
    """``[make(defn, value)]``, or ``[]`` when ``value`` is None."""
    return [] if value is None else [make(defn, value)]


def _plain(value: Any) -> Any:
    """A library value as plain Python: Decimal → float (exact: the library keeps the decimal text)."""
    return float(value) if isinstance(value, Decimal) else value


def _value_of(ext: Extension) -> Any:
    for name in _VALUE_FIELDS:
        v = getattr(ext, name, None)
        if v is not None:
            return _plain(v)
    return None


def find(extensions: list[Extension] | None, defn: ExtensionDef) -> Any:
    """The value of the first extension ``defn`` in ``extensions`` (Decimal as float), or None."""
    for ext in extensions or []:
        if ext.url == defn.url:
            return _value_of(ext)
    return None


def _sub_extensions(data: dict[str, Any]) -> list[Extension]:
    subs = []
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict):
            subs.append(Extension(url=name, extension=_sub_extensions(value)))
            continue
        kind = EVIDENCE_VALUE_TYPES.get(type(value))
        if kind is None:
            raise TypeError(f"evidence field {name!r}: no FHIR mapping for a {type(value).__name__} value")
        subs.append(Extension(url=name, **{kind: value}))
    return subs


def evidence(data: dict[str, Any]) -> Extension:
    """One evidence extension from an ``Evidence``'s ``model_dump()``: a sub-extension per field set.

    Nested models (dicts) become nested complex sub-extensions. Raises TypeError for a value with no
    mapping (a list, say), so a new ``Evidence`` field of an unmapped type fails loudly in the tests.
    """
    return Extension(url=EVIDENCE.url, extension=_sub_extensions(data))


def _read_subs(subs: list[Extension] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sub in subs or []:
        out[sub.url] = _read_subs(sub.extension) if sub.extension else _value_of(sub)
    return out


def read_evidence(extensions: list[Extension] | None) -> list[dict[str, Any]]:
    """Every evidence extension in ``extensions``, in order, as the dict ``Evidence`` validates from."""
    return [_read_subs(e.extension) for e in extensions or [] if e.url == EVIDENCE.url]
