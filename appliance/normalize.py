"""Text normalisation before extraction, with an offset map back to the text as read.

One entry point for the pipeline and the rule baseline::

    normalize(text, language)                 -> str
    normalize_with_offsets(text, language)    -> (str, offsets)

``offsets`` has ``len(normalised) + 1`` entries: ``offsets[i]`` is the index in the *original* text of the
character that produced normalised character ``i`` (the last entry is ``len(text)``), so a span
``[s, e)`` found in the normalised text is ``[offsets[s], offsets[e])`` in the original. Evidence offsets
therefore always point into the text the user gave us.

What is done (all idempotent: ``normalize(normalize(t)) == normalize(t)``):

Every language
  * Persian (U+06F0–06F9) and Arabic-Indic (U+0660–0669) digits -> ASCII ``0-9``; Arabic decimal and
    thousands separators (U+066B, U+066C) -> ``.`` and ``,``.
  * No-break and other exotic spaces (U+00A0, U+2000–200A, U+202F, U+205F, U+3000) -> ``' '``.
  * Typographic apostrophes / primes (U+2018, U+2019, U+02BC, U+2032) -> ``'`` (so "don’t" matches "don't").
  * Bidirectional control marks (LRM, RLM, ALM, LRE…PDF, LRI…PDI) and BOM -> removed.
  * CR LF / CR -> LF; a lone surrogate (from undecodable input) -> U+FFFD.

Persian (``language`` is ``fa`` / ``fas`` / ``per``, or ``None`` and the text is mostly Arabic script)
  * Arabic yeh ``ي`` (U+064A) and alef maksura ``ى`` (U+0649) -> Persian yeh ``ی`` (U+06CC);
    Arabic kaf ``ك`` (U+0643) -> Persian kaf ``ک`` (U+06A9); teh marbuta ``ة`` -> ``ه``;
    alef with hamza / wasla ``أ إ ٱ`` -> ``ا``.
  * Arabic presentation forms (U+FB50–FDFF, U+FE70–FEFF, as produced by PDF extraction) -> their
    base letters (NFKC of those characters only).
  * Harakat / tanwin / superscript alef (U+064B–065F, U+0670) and tatweel ``ـ`` (U+0640) -> removed
    (``قبلاً`` -> ``قبلا``).
  * Zero-width characters: ZWNJ (U+200C) is the correct Persian half-space and is kept; zero-width
    space (U+200B) and soft hyphen (U+00AD), often typed in its place, become ZWNJ; ZWJ (U+200D) is
    removed. Runs of ZWNJ collapse to one, and a ZWNJ next to whitespace, punctuation or the start / end
    of the text is removed (it separates nothing there).

Nothing else is changed (no case folding, no re-spacing), so the LLM sees the text as written.
The rule matcher does its own, length-preserving, further folding (see ``appliance.rules``).
"""

from __future__ import annotations

import re
import unicodedata

from .language import base_code
from .language import is_persian as is_persian_code

__all__ = ["ZWNJ", "base_language", "is_persian", "normalize", "normalize_with_offsets"]

ZWNJ = "\u200c"

_DIGITS = {chr(0x06F0 + i): str(i) for i in range(10)} | {chr(0x0660 + i): str(i) for i in range(10)}
_COMMON = {
    **_DIGITS,
    "\u066b": ".",  # Arabic decimal separator
    "\u066c": ",",  # Arabic thousands separator
    "\u00a0": " ",
    "\u202f": " ",
    "\u205f": " ",
    "\u3000": " ",
    **{chr(c): " " for c in range(0x2000, 0x200B)},
    "\u2018": "'",
    "\u2019": "'",
    "\u02bc": "'",
    "\u2032": "'",
    "\ufeff": "",
    "\u200e": "",
    "\u200f": "",
    "\u061c": "",
    **{chr(c): "" for c in range(0x202A, 0x202F)},
    **{chr(c): "" for c in range(0x2066, 0x206A)},
}
_PERSIAN = {
    "\u064a": "\u06cc",  # ي -> ی
    "\u0649": "\u06cc",  # ى -> ی
    "\u0643": "\u06a9",  # ك -> ک
    "\u0629": "\u0647",  # ة -> ه
    "\u0623": "\u0627",  # أ -> ا
    "\u0625": "\u0627",  # إ -> ا
    "\u0671": "\u0627",  # ٱ -> ا
    "\u0640": "",  # tatweel
    "\u0670": "",  # superscript alef
    **{chr(c): "" for c in range(0x064B, 0x0660)},  # harakat, tanwin, shadda, sukun, ...
    "\u200b": ZWNJ,
    "\u00ad": ZWNJ,
    "\u200d": "",
}


_TABLE = _COMMON
_TABLE_FA = {**_COMMON, **_PERSIAN}
_SPECIAL = re.compile("\r\n?|[" + "".join(re.escape(c) for c in _TABLE) + "\ud800-\udfff]")
_SPECIAL_FA = re.compile(
    "\r\n?|[" + "".join(re.escape(c) for c in _TABLE_FA) + "\ufb50-\ufdff\ufe70-\ufefe\ud800-\udfff]"
)


def is_persian(language: str | None, text: str = "") -> bool:
    """True for a Persian language code (``appliance.language.is_persian``: ``fa``, ``fa-IR``, ``fas``,
    ``per``, ``pes``, ``prs``); with no code, when most of the first 2,000 characters' letters are
    Arabic-script."""
    if language:
        return is_persian_code(language)
    letters = [c for c in text[:2000] if c.isalpha()]
    if not letters:
        return False
    arabic = sum(1 for c in letters if "\u0600" <= c <= "\u06ff" or "\ufb50" <= c <= "\ufeff")
    return arabic / len(letters) > 0.5


def base_language(code: str | None) -> str:
    """The canonical base code of a language tag (``appliance.language.base_code``): ``fa-IR`` -> ``fa``,
    ``EN_us`` -> ``en``, ``fas`` / ``per`` / ``prs`` -> ``fa``; ``''`` for no code."""
    return base_code(code) if code else ""


def _boundaryish(ch: str | None) -> bool:
    """Where a ZWNJ separates nothing: text edge, whitespace, punctuation, digits, another ZWNJ."""
    if ch is None or ch == ZWNJ or ch.isspace():
        return True
    cat = unicodedata.category(ch)
    return cat[0] in "PSNZC"


def normalize_with_offsets(text: str, language: str | None = None) -> tuple[str, list[int]]:
    """Normalise ``text``; also return the map from normalised positions to original positions."""
    persian = is_persian(language, text)
    table = _TABLE_FA if persian else _TABLE
    special = _SPECIAL_FA if persian else _SPECIAL
    out: list[str] = []
    offs: list[int] = []
    pos = 0
    for m in special.finditer(text):
        i = m.start()
        if i > pos:  # unchanged run: copy in bulk
            out.append(text[pos:i])
            offs.extend(range(pos, i))
        ch = m.group()
        if ch in ("\r\n", "\r"):
            rep = "\n"
        elif "\ud800" <= ch <= "\udfff":
            rep = "\ufffd"  # a lone surrogate (undecodable input) cannot be encoded downstream
        else:
            rep = table.get(ch)
            if rep is None:  # presentation form
                rep = "".join(table.get(c, c) for c in unicodedata.normalize("NFKC", ch))
        out.append(rep)
        offs.extend([i] * len(rep))
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
        offs.extend(range(pos, len(text)))
    result = "".join(out)
    if persian and ZWNJ in result:
        chars, offs = _tidy_zwnj(list(result), offs)
        result = "".join(chars)
    offs.append(len(text))
    return result, offs


def _tidy_zwnj(chars: list[str], offs: list[int]) -> tuple[list[str], list[int]]:
    keep_c: list[str] = []
    keep_o: list[int] = []
    for k, ch in enumerate(chars):
        if ch == ZWNJ:
            prev = keep_c[-1] if keep_c else None
            nxt = None
            j = k + 1
            while j < len(chars) and chars[j] == ZWNJ:
                j += 1
            if j < len(chars):
                nxt = chars[j]
            if _boundaryish(prev) or _boundaryish(nxt):
                continue
        keep_c.append(ch)
        keep_o.append(offs[k])
    return keep_c, keep_o


def normalize(text: str, language: str | None = None) -> str:
    """Normalised text (see the module docstring for exactly what changes)."""
    return normalize_with_offsets(text, language)[0]
