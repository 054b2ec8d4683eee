"""Translator kinds: a bundle's manifest ``kind`` -> the module that loads it.

A new kind of translator is one new module in this package with a ``load`` function (the signature of
:class:`TranslatorLoader`) plus one line in :data:`TRANSLATOR_KINDS` (and the kind in
:data:`appliance.bundle.BundleKind`, which the manifest is validated against).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..bundle import read_manifest
from ..errors import BundleError
from . import llm, seq2seq
from .interface import Translator


class TranslatorLoader(Protocol):
    """Loads one kind of translator bundle; raises :class:`BundleError` for a bundle it cannot run."""

    def __call__(self, bundle_dir: Path, *, verify: bool = True, threads: int = 0,
                 max_context: int = 4096) -> Translator:
        """Load the bundle at ``bundle_dir`` (hashes checked when ``verify``); raises ``BundleError``."""
        ...


TRANSLATOR_KINDS: dict[str, TranslatorLoader] = {
    "decoder": llm.load,
    "seq2seq": seq2seq.load,
}


def load_translator(bundle_dir: Path, *, verify: bool = True, threads: int = 0, max_context: int = 4096) -> Translator:
    """Load the translator bundle in ``bundle_dir``, dispatching on its manifest's ``kind``.

    ``verify``: check every file's sha256 before loading; ``threads``: inference threads (0 = every CPU
    this process may use); ``max_context``: token cap per call for LLM translators. Raises
    :class:`BundleError` when the folder is not a bundle, its role is not ``translator``, its kind has no
    registered loader, or the loader refuses it.
    """
    manifest = read_manifest(Path(bundle_dir))
    if manifest.role != "translator":
        raise BundleError(f"bundle {bundle_dir} has role '{manifest.role}', not 'translator'")
    loader = TRANSLATOR_KINDS.get(manifest.kind)
    if loader is None:
        raise BundleError(
            f"bundle {bundle_dir} is a translator of kind '{manifest.kind}', which this runtime cannot load "
            f"(known kinds: {', '.join(sorted(TRANSLATOR_KINDS))})"
        )
    return loader(Path(bundle_dir), verify=verify, threads=threads, max_context=max_context)
