"""What every translator is (:class:`Translator`), what it returns, and when it is asked at all.

Translation is a per-language choice, measured rather than assumed: it helped the Persian study and
hurt a Dutch one. So the policy is configured per input language (``pipeline.translate`` in the
config, :data:`appliance.settings.TranslatePolicy`), and the translation is kept in the result for audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..settings import TranslatePolicy

# The extraction language: results are extracted from English text, so English is never translated.
TARGET_LANGUAGE = "en"


def policy_for(language: str | None, policies: dict[str, TranslatePolicy]) -> TranslatePolicy:
    """The policy for an input language: its own entry, else the ``'*'`` entry, else ``'never'``.

    ``language`` is matched exactly as given (the detector's ISO 639-1 code or the input's own tag);
    None (language unknown) is always ``'never'``.
    """
    if language is None:
        return "never"
    return policies.get(language) or policies.get("*") or "never"


def should_translate(language: str | None, policies: dict[str, TranslatePolicy], supported: list[str]) -> bool:
    """Whether to translate a document in ``language`` before extraction.

    ``'always'`` translates any non-English input; ``'auto'`` only a language in ``supported`` (the
    translator's ``languages``; an empty list means it did not say, so anything); ``'never'`` nothing.
    English (:data:`TARGET_LANGUAGE`) and an unknown language (None) are never translated.
    """
    if language is None or language == TARGET_LANGUAGE:
        return False
    policy = policy_for(language, policies)
    if policy == "always":
        return True
    if policy == "auto":
        return not supported or language in supported
    return False


@dataclass
class TranslationOutput:
    """A translated document: ``text`` (line structure kept) and ``chunks``, the number of model calls
    it took (pieces of source translated separately, recorded in the result's ``translation``)."""

    text: str
    chunks: int


class Translator(Protocol):
    """A loaded translator bundle.

    ``name``: the bundle's manifest name; ``bundle_hash``: its content hash (64 hex characters,
    :attr:`appliance.bundle.BundleManifest.content_hash`), recorded with every translation;
    ``languages``: the ISO 639-1 codes it translates (from the manifest; empty = not stated).
    """

    name: str
    bundle_hash: str
    languages: list[str]

    def translate(self, text: str, source_language: str, target_language: str = TARGET_LANGUAGE) -> TranslationOutput:
        """Translate ``text`` from ``source_language`` to ``target_language`` (language codes).

        Raises :class:`appliance.errors.BundleError` for a language pair the bundle does not translate.
        """
        ...
