"""Importing spaCy and medspaCy without what the runtime must not load.

Two things are kept out, only for the duration of the import:

* **torch / transformers** (and tensorflow, jax, cupy, mxnet). ``thinc`` (spaCy's ML layer) imports
  torch opportunistically whenever it is installed, which on a developer machine with the ``export``
  extra costs ~2 s and hundreds of MB, and breaks the rule that ``appliance/`` never imports torch. A
  temporary import hook makes those imports fail with ``ModuleNotFoundError`` (the case thinc already
  handles: it simply runs without torch support, which blank pipelines never use).
* **quickumls** (and through it nltk and scipy): ``medspacy.util`` imports it at module level only to
  register the optional QuickUMLS component, which this package never uses. A stub module stands in
  while medspaCy is imported (2.5 s -> 0.06 s) and is removed again afterwards, so a real
  ``import quickumls`` elsewhere still works.

Nothing is blocked if the module is already imported by someone else (we never unload anything).

One medspaCy bug is patched after import: ``medspacy.util.tuple_overlaps`` (as used by ConText's
``limit_scope`` / ``modifies``) misses the case where the second span strictly contains the first, so
a sentence-wide TERMINATE ("but") never cut a negation's scope that ended before the sentence did:
"no vomiting but constipation and weight loss" negated constipation. The replacement is the plain
interval test for non-empty spans.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
import types
from typing import Any

_BLOCKED = ("torch", "transformers", "tensorflow", "jax", "cupy", "cupyx", "mxnet")
_lock = threading.Lock()
_loaded: dict[str, Any] = {}


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in _BLOCKED:
            raise ModuleNotFoundError(
                f"No module named '{name}' (kept out of the appliance runtime)", name=name
            )


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """True when the non-empty token spans ``a`` and ``b`` share a token."""
    return a[0] < a[1] and b[0] < b[1] and a[0] < b[1] and b[0] < a[1]


def modules() -> dict[str, Any]:
    """spacy, Language, Doc, TargetMatcher, TargetRule, ConText, ConTextRule (imported once)."""
    if _loaded:
        return _loaded
    with _lock:
        if _loaded:
            return _loaded
        block = _Block()
        stubbed = "quickumls" not in sys.modules
        sys.meta_path.insert(0, block)
        if stubbed:
            stub = types.ModuleType("quickumls")
            stub.spacy_component = types.ModuleType("quickumls.spacy_component")  # type: ignore[attr-defined]
            sys.modules["quickumls"] = stub
        try:
            import spacy
            from medspacy.context import ConText, ConTextRule
            from medspacy.target_matcher import TargetMatcher, TargetRule
            from spacy.language import Language
            from spacy.tokens import Doc
        finally:
            sys.meta_path.remove(block)
            if stubbed and getattr(sys.modules.get("quickumls"), "__file__", None) is None:
                sys.modules.pop("quickumls", None)
        import medspacy.context.context_modifier as _cm

        _cm.tuple_overlaps = _overlaps
        _loaded.update(
            spacy=spacy,
            Language=Language,
            Doc=Doc,
            ConText=ConText,
            ConTextRule=ConTextRule,
            TargetMatcher=TargetMatcher,
            TargetRule=TargetRule,
        )
    return _loaded


def blank(language: str) -> Any:
    """A blank spaCy pipeline for ``language`` ('en', 'fa'); the multi-language one otherwise."""
    spacy = modules()["spacy"]
    try:
        return spacy.blank(language)
    except (ImportError, KeyError, ValueError):  # unknown language code
        return spacy.blank("xx")
