"""Checks shared by the text-based input formats: strict UTF-8, UTF-16 detection, control characters, ids.

Every refusal is an ``InputError`` with an ``appliance.reasons.Reason`` code and a message that gives
positions and counts only, never content.
"""

from __future__ import annotations

import unicodedata

from ..errors import InputError
from ..reasons import Reason

#: Longest accepted document id, in characters (``Document.id`` has the same bound): NAME_MAX, so
#: that every ``.txt`` name Linux allows gives a usable id.
MAX_ID_LENGTH = 255
#: Control characters normal in text; any other (Unicode category Cc) counts towards ``binary``.
ALLOWED_CONTROLS = frozenset({"\t", "\n", "\r", "\f", "\v"})


def decode_text(raw: bytes) -> str:
    """Bytes → text as strict UTF-8 (a leading byte-order mark is dropped).

    Raises ``InputError``: ``empty`` (no bytes), ``utf16`` (a UTF-16/32 byte-order mark, or NUL bytes
    between ASCII-range characters), ``binary`` (other NUL bytes, or too many control characters, see
    ``check_controls``), ``invalid_utf8`` (with the offset of the first bad byte).
    """
    if not raw:
        raise InputError(Reason.EMPTY, "input has no bytes")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        raise InputError(Reason.UTF16, "input starts with a UTF-16/UTF-32 byte-order mark; save it as UTF-8")
    nul = raw.count(0)
    if nul:
        if looks_utf16(raw[:4096]):
            raise InputError(
                Reason.UTF16, "input looks like UTF-16 (NUL bytes between characters); save it as UTF-8"
            )
        raise InputError(Reason.BINARY, f"input contains {nul} NUL byte(s): not a text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(
            Reason.INVALID_UTF8, f"input is not valid UTF-8 (first bad byte at offset {e.start})"
        ) from None
    check_controls(text)
    return text


def looks_utf16(head: bytes) -> bool:
    """UTF-16 without a BOM: ASCII-range text puts a NUL in every other byte (more than a quarter of the
    even or odd bytes are NUL), and the bytes decode to at least 95 % printable text. (Binary files have
    NUL runs too, but they do not decode to text.) ``head``: the first bytes of the file (4 KiB)."""
    if len(head) < 4:
        return False
    if head[1::2].count(0) <= len(head) // 4 and head[0::2].count(0) <= len(head) // 4:
        return False
    for enc in ("utf-16-le", "utf-16-be"):
        text = head[: len(head) // 2 * 2].decode(enc, "replace")
        good = sum(ch.isprintable() or ch in "\t\n\r" for ch in text)
        if "\x00" not in text and good >= 0.95 * len(text):
            return True
    return False


def check_controls(text: str, what: str = "input") -> None:
    """Refuse (``binary``) text with a NUL character, or with more control characters (other than
    ``ALLOWED_CONTROLS``) than max(8, 1 % of its length). ``what`` names the checked part in the message."""
    bad = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in ALLOWED_CONTROLS)
    if "\x00" in text:
        raise InputError(Reason.BINARY, f"{what} contains NUL characters")
    if bad and bad > max(8, len(text) // 100):
        raise InputError(Reason.BINARY, f"{what} contains {bad} control characters: not a text file")


def check_id(value: str) -> str:
    """Return ``value`` if it is a usable document id: 1 to ``MAX_ID_LENGTH`` characters, not only
    whitespace, no control, format or line/paragraph-separator characters. Else ``InputError`` ``bad_id``."""
    if not value.strip() or len(value) > MAX_ID_LENGTH:
        raise InputError(Reason.BAD_ID, f"id must be 1 to {MAX_ID_LENGTH} characters, not only whitespace")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise InputError(Reason.BAD_ID, "id contains control or format characters")
    return value
