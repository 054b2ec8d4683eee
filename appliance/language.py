"""Offline language identification (lingua: statistical models shipped inside the wheel).

The detector is restricted to a configurable set of candidate languages: that is both more
accurate for a clinic that knows which languages it receives and much lighter in memory.
"""

from __future__ import annotations

from functools import lru_cache

DEFAULT_CANDIDATES = ("en", "fa", "ar", "ur", "tr", "nl", "it", "de", "fr", "es")

LANGUAGE_NAMES = {
    "en": "English", "fa": "Persian", "ar": "Arabic", "ur": "Urdu", "tr": "Turkish", "nl": "Dutch",
    "it": "Italian", "de": "German", "fr": "French", "es": "Spanish", "ru": "Russian", "zh": "Chinese",
}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


@lru_cache(maxsize=4)
def _detector(candidates: tuple[str, ...]):
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, c.upper()) for c in candidates if hasattr(IsoCode639_1, c.upper())]
    if len(codes) < 2:
        return None
    # Low-accuracy mode keeps only the trigram models: ~25 MB instead of ~300 MB resident for ten
    # languages, and the difference in accuracy only shows on snippets under ~120 characters, far
    # shorter than a call transcript (the 4,000-character sample below is what is classified).
    return (LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_low_accuracy_mode()
            .with_preloaded_language_models().build())


def detect_language(text: str, candidates: tuple[str, ...] = DEFAULT_CANDIDATES) -> str | None:
    """ISO 639-1 code of the most likely language, or None when the text gives no signal."""
    if len(candidates) == 1:
        return candidates[0]
    sample = text[:4000]
    if not any(ch.isalpha() for ch in sample):
        return None
    detector = _detector(tuple(candidates))
    if detector is None:
        return None
    lang = detector.detect_language_of(sample)
    return lang.iso_code_639_1.name.lower() if lang is not None else None
