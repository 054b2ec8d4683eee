"""Languages: the one table of language codes, and offline language identification.

The table (:data:`LANGUAGES`) holds one record per language the appliance knows by name: its ISO 639-1
code (what the detector reports and what results record), its English name (used in translation
prompts), the other codes that mean the same language (ISO 639-2/T, 639-2/B and ISO 639-3 individual
codes such as Persian ``fas`` / ``per`` / ``pes`` / ``prs``), the codes translation models use for it
(NLLB-200 ``pes_Arab``, ISO 639-3 ``pes``, mBART ``fa_IR``, in order of preference) and its usual script
(ISO 15924). Codes outside the table are canonicalised with ``langcodes`` (IANA language-subtag
registry data: deprecated codes such as ``iw`` -> ``he``, ISO 639-2/3 -> 639-1 where one exists).

Identification uses lingua (statistical models shipped inside the wheel). The detector is restricted
to a configurable set of candidate languages: that is both more accurate for a clinic that knows which
languages it receives and much lighter in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "DEFAULT_CANDIDATES",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "LanguageInfo",
    "base_code",
    "detect_language",
    "is_persian",
    "is_right_to_left",
    "language_name",
    "mt_codes",
]


@dataclass(frozen=True)
class LanguageInfo:
    """One language of the table.

    ``code``: ISO 639-1 (lower case). ``name``: English name. ``aliases``: other lower-case codes that
    mean this language (ISO 639-2/T, 639-2/B, ISO 639-3 individual languages of the macrolanguage).
    ``mt_codes``: codes translation models use for it, most preferred first (NLLB-200 ``xxx_Scrp``,
    ISO 639-3, mBART ``xx_YY``): :func:`appliance.translate.seq2seq.resolve_language` takes the first
    one a model knows. ``script``: the usual ISO 15924 script.
    """

    code: str
    name: str
    aliases: tuple[str, ...]
    mt_codes: tuple[str, ...]
    script: str


# The order is the order in which a translation model's languages are listed in its manifest
# (``iso_languages``); keep new languages at the end. MT codes: NLLB-200's FLORES-200 codes, the ISO
# 639-3 codes multilingual Marian (opus-mt) models use in ">>xxx<<" tokens, mBART-50's codes.
LANGUAGES: tuple[LanguageInfo, ...] = (
    LanguageInfo("en", "English", ("eng",), ("eng_Latn", "eng", "en_XX"), "Latn"),
    LanguageInfo("fa", "Persian", ("fas", "per", "pes", "prs"), ("pes_Arab", "fas", "pes", "prs_Arab", "fa_IR"),
                 "Arab"),
    LanguageInfo("nl", "Dutch", ("nld", "dut"), ("nld_Latn", "nld", "nl_XX"), "Latn"),
    LanguageInfo("it", "Italian", ("ita",), ("ita_Latn", "ita", "it_IT"), "Latn"),
    LanguageInfo("de", "German", ("deu", "ger"), ("deu_Latn", "deu", "de_DE"), "Latn"),
    LanguageInfo("fr", "French", ("fra", "fre"), ("fra_Latn", "fra", "fr_XX"), "Latn"),
    LanguageInfo("es", "Spanish", ("spa",), ("spa_Latn", "spa", "es_XX"), "Latn"),
    LanguageInfo("pt", "Portuguese", ("por",), ("por_Latn", "por", "pt_XX"), "Latn"),
    LanguageInfo("ar", "Arabic", ("ara", "arb"), ("arb_Arab", "ara", "ar_AR"), "Arab"),
    LanguageInfo("tr", "Turkish", ("tur",), ("tur_Latn", "tur", "tr_TR"), "Latn"),
    LanguageInfo("ru", "Russian", ("rus",), ("rus_Cyrl", "rus", "ru_RU"), "Cyrl"),
    LanguageInfo("uk", "Ukrainian", ("ukr",), ("ukr_Cyrl", "ukr", "uk_UA"), "Cyrl"),
    LanguageInfo("pl", "Polish", ("pol",), ("pol_Latn", "pol", "pl_PL"), "Latn"),
    LanguageInfo("ro", "Romanian", ("ron", "rum"), ("ron_Latn", "ron", "ro_RO"), "Latn"),
    LanguageInfo("sv", "Swedish", ("swe",), ("swe_Latn", "swe", "sv_SE"), "Latn"),
    LanguageInfo("da", "Danish", ("dan",), ("dan_Latn", "dan"), "Latn"),
    LanguageInfo("nb", "Norwegian Bokmål", ("nob",), ("nob_Latn", "nob"), "Latn"),
    LanguageInfo("fi", "Finnish", ("fin",), ("fin_Latn", "fin", "fi_FI"), "Latn"),
    LanguageInfo("el", "Greek", ("ell", "gre"), ("ell_Grek", "ell"), "Grek"),
    LanguageInfo("he", "Hebrew", ("heb",), ("heb_Hebr", "heb", "he_IL"), "Hebr"),
    LanguageInfo("hi", "Hindi", ("hin",), ("hin_Deva", "hin", "hi_IN"), "Deva"),
    LanguageInfo("ur", "Urdu", ("urd",), ("urd_Arab", "urd", "ur_PK"), "Arab"),
    LanguageInfo("ps", "Pashto", ("pus", "pbt"), ("pbt_Arab", "pus"), "Arab"),
    LanguageInfo("zh", "Chinese", ("zho", "chi"), ("zho_Hans", "zho", "zh_CN"), "Hans"),
    LanguageInfo("ja", "Japanese", ("jpn",), ("jpn_Jpan", "jpn", "ja_XX"), "Jpan"),
    LanguageInfo("ko", "Korean", ("kor",), ("kor_Hang", "kor", "ko_KR"), "Hang"),
)

_BY_CODE: dict[str, LanguageInfo] = {lang.code: lang for lang in LANGUAGES}
_BY_ANY_CODE: dict[str, LanguageInfo] = {c: lang for lang in LANGUAGES for c in (lang.code, *lang.aliases)}

# ISO 639-1 code -> English name, for every language of the table.
LANGUAGE_NAMES: dict[str, str] = {lang.code: lang.name for lang in LANGUAGES}

# Detection candidates when the configuration names none (``pipeline.languages``): the languages the
# studies behind this appliance received. Every code is in the table (a test keeps it so).
DEFAULT_CANDIDATES = ("en", "fa", "ar", "ur", "tr", "nl", "it", "de", "fr", "es")


def _primary_subtag(tag: str) -> str:
    """The first subtag of a BCP-47-ish tag, lower case ('fa_IR ' -> 'fa'); '' for an empty tag."""
    return tag.strip().lower().replace("_", "-").split("-")[0]


@lru_cache(maxsize=256)
def _registry_base(primary: str) -> str | None:
    """ISO 639-1 code (or the shortest registered code) for a primary subtag outside the table.

    Source: ``langcodes`` (IANA language-subtag registry and ISO 639 tables): deprecated codes are
    replaced (``iw`` -> ``he``), 3-letter codes become 2-letter ones where ISO 639-1 has one, and an
    individual language becomes its macrolanguage (``cmn`` -> ``zh``). None for what it cannot parse.
    """
    import langcodes

    try:
        lang = langcodes.Language.get(primary).prefer_macrolanguage()
    except (langcodes.LanguageTagError, ValueError):
        return None
    return lang.language or None


def base_code(tag: str) -> str:
    """The canonical base language code of a tag: ISO 639-1 where one exists, lower case.

    ``'fa-IR'``, ``'fa_IR'``, ``'FAS'``, ``'per'``, ``'pes'``, ``'prs'`` -> ``'fa'``; ``'en-GB'`` ->
    ``'en'``; ``'iw'`` -> ``'he'``. The table's codes and aliases are looked up first, then ``langcodes``;
    a code neither knows comes back as its lower-case primary subtag (``'xx-YY'`` -> ``'xx'``), and an
    empty tag as ``''``. Never raises.
    """
    primary = _primary_subtag(tag)
    if not primary:
        return ""
    known = _BY_ANY_CODE.get(primary)
    if known is not None:
        return known.code
    return _registry_base(primary) or primary


def is_persian(code: str | None) -> bool:
    """True when a language code or tag means Persian (``fa``, ``fa-IR``, ``fas``, ``per``, ``pes``, ``prs``).

    By code only; ``appliance.normalize.is_persian`` also falls back to the text's script.
    """
    return bool(code) and base_code(code) == "fa"


#: ISO 15924 scripts written right to left (Unicode's bidirectional class R/AL scripts in common use).
RTL_SCRIPTS = frozenset({"Arab", "Hebr", "Syrc", "Thaa", "Nkoo", "Adlm", "Rohg", "Mand", "Samr"})


@lru_cache(maxsize=256)
def _likely_script(code: str) -> str | None:
    """The usual script of a language code: the table's, else ``langcodes``' likely-subtags data
    (CLDR: ``ckb`` -> ``Arab``, ``yi`` -> ``Hebr``); None when unknown."""
    base = base_code(code)
    known = _BY_CODE.get(base)
    if known is not None:
        return known.script
    import langcodes

    try:
        return langcodes.Language.get(base).maximize().script
    except (langcodes.LanguageTagError, ValueError):
        return None


def is_right_to_left(code: str | None) -> bool:
    """True when a language code's usual script is written right to left (Persian, Arabic, Urdu,
    Hebrew, Pashto, Sorani, Yiddish...); an explicit script subtag wins (``'az-Arab'``). False for no code."""
    if not code:
        return False
    parts = code.strip().replace("_", "-").split("-")
    for p in parts[1:]:
        if len(p) == 4 and p.isalpha():
            return p.title() in RTL_SCRIPTS
    return _likely_script(code) in RTL_SCRIPTS


def language_name(code: str) -> str:
    """English name of an ISO 639-1 code (``'fa'`` -> ``'Persian'``); any other string comes back as is.

    Exact lookup: a tag with a region (``'fa-IR'``) is not canonicalised here (use :func:`base_code`).
    """
    return LANGUAGE_NAMES.get(code, code)


def mt_codes(code: str) -> tuple[str, ...]:
    """Codes translation models use for an ISO 639-1 code (any case), most preferred first; () if unknown.

    ``'fa'`` -> ``('pes_Arab', 'fas', 'pes', 'prs_Arab', 'fa_IR')``. Exact lookup of the ISO 639-1 code
    (what the detector reports); a tag with a region is not canonicalised here.
    """
    lang = _BY_CODE.get(code.lower())
    return lang.mt_codes if lang is not None else ()


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
    """ISO 639-1 code of the most likely language among ``candidates``, or None when the text gives no signal.

    Only the first 4,000 characters are classified. One candidate is returned as is without looking at
    the text; None when the text has no letter or fewer than two candidates are lingua languages.
    """
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
