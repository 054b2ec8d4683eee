"""The file-drop input contract: which names are taken, and how bytes become a ``Document``.

Every refusal is an ``InputError`` with a stable ``reason`` code (listed in ``REASONS`` and in
docs/integration.md). Messages name positions and sizes, never content: they end up in logs and in
``.error.json`` sidecars.
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import re
import stat
import unicodedata
from pathlib import Path
from typing import Any

from .document import Document
from .errors import InputError

SUPPORTED_SUFFIXES = (".txt", ".json")
TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".swp", ".filepart", "~")
JSON_FIELDS = {"id", "language", "text", "metadata"}
MAX_ID_LENGTH = 200
MAX_NAME_BYTES = 200  # longer file names are refused (bad_name): claim and quarantine names must fit NAME_MAX
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_ALLOWED_CONTROLS = {"\t", "\n", "\r", "\f", "\v"}

REASONS: dict[str, str] = {
    "empty": "the file has no bytes",
    "whitespace_only": "the text is empty or only whitespace",
    "too_large": "the file is larger than limits.max_file_bytes",
    "utf16": "the file is UTF-16 or UTF-32 (a byte-order mark or NUL-interleaved text); save it as UTF-8",
    "binary": "the file contains NUL bytes or many control characters: not a text file",
    "invalid_utf8": "the bytes are not valid UTF-8",
    "invalid_json": "a .json input is not valid JSON",
    "json_not_object": "a .json input is not a JSON object",
    "json_field": "a .json field is missing or has the wrong type",
    "json_unknown_field": "a .json input has a field other than id, language, text, metadata",
    "json_duplicate_key": "a .json object repeats a key",
    "json_too_deep": "a .json input nests deeper than limits.max_json_depth",
    "metadata_too_large": "metadata is larger than limits.max_metadata_bytes",
    "bad_id": "the id is empty, too long, or contains control characters",
    "bad_language": "language is not a language code such as 'en', 'fa' or 'pt-BR'",
    "unsupported_type": "the file name does not end in .txt or .json",
    "unreadable": "the file cannot be read (permissions)",
    "not_regular_file": "a symbolic link, folder, named pipe or device: never followed or read",
    "bad_name": "the file name is not valid UTF-8, or longer than 200 bytes",
}


def is_ignored(name: str) -> bool:
    """Hidden and temporary names are never touched: writers use them while a file is incomplete."""
    lower = name.lower()
    return name.startswith(".") or lower.endswith(TEMP_SUFFIXES)


def is_supported(name: str) -> bool:
    return name.lower().endswith(SUPPORTED_SUFFIXES)


def display_name(name: str) -> str:
    """A file name as text for logs and JSON: bytes that are not UTF-8 are shown as ``\\xNN``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def check_name(name: str) -> None:
    """Refuse file names that cannot be carried as UTF-8 text (ids, logs, results) or are too long."""
    raw = os.fsencode(name)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(
            "bad_name", f"the file name is not valid UTF-8 (first bad byte at offset {e.start}); rename it"
        ) from None
    if len(raw) > MAX_NAME_BYTES:
        raise InputError("bad_name", f"the file name is {len(raw)} bytes long; the limit is {MAX_NAME_BYTES}")


def _kind(mode: int) -> str:
    for test, what in (
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISFIFO, "named pipe"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return what
    return "special file"


def _not_regular(mode: int) -> InputError:
    return InputError("not_regular_file", f"input is a {_kind(mode)}, not a regular file: it is not read")


_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # opening a named pipe must not wait for a writer
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def read_bytes(path: Path, max_bytes: int, *, follow_symlinks: bool = True) -> bytes:
    """Read a whole regular file, refusing (without reading) one over the size limit.

    Folders, named pipes and devices are refused (``not_regular_file``) without being opened for
    reading. ``follow_symlinks=False`` (the daemon) refuses a symbolic link too, wherever it points:
    an input must be a plain file in the inbox, not a pointer to one elsewhere. (``appliance extract``
    reads the files its user names, links included.)
    """
    flags = _OPEN_FLAGS | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    try:
        st = os.stat(path) if follow_symlinks else os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(st.st_mode)
        fd = os.open(path, flags)
    except PermissionError:
        raise InputError("unreadable", "input cannot be read: permission denied") from None
    except OSError as e:
        if e.errno == errno.ELOOP and not follow_symlinks:  # replaced by a link after the lstat
            raise _not_regular(stat.S_IFLNK) from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(st.st_mode)
        if st.st_size > max_bytes:
            raise InputError("too_large", f"input is {st.st_size} bytes; the limit is {max_bytes}")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError("too_large", f"input is over {max_bytes} bytes")
    return data


def decode_text(raw: bytes) -> str:
    """Strict UTF-8 (a leading BOM is dropped). Refuses UTF-16/32, binary and invalid UTF-8."""
    if not raw:
        raise InputError("empty", "input has no bytes")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        raise InputError("utf16", "input starts with a UTF-16/UTF-32 byte-order mark; save it as UTF-8")
    nul = raw.count(0)
    if nul:
        if _looks_utf16(raw[:4096]):
            raise InputError(
                "utf16", "input looks like UTF-16 (NUL bytes between characters); save it as UTF-8"
            )
        raise InputError("binary", f"input contains {nul} NUL byte(s): not a text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(
            "invalid_utf8", f"input is not valid UTF-8 (first bad byte at offset {e.start})"
        ) from None
    _check_controls(text)
    return text


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 without a BOM: ASCII-range text puts a NUL in every other byte, and the bytes decode to
    printable text. (Binary files have NUL runs too, but they do not decode to text.)"""
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


def _check_controls(text: str, what: str = "input") -> None:
    bad = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS)
    if "\x00" in text:
        raise InputError("binary", f"{what} contains NUL characters")
    if bad and bad > max(8, len(text) // 100):
        raise InputError("binary", f"{what} contains {bad} control characters: not a text file")


def parse_input(
    raw: bytes, name: str, *, max_json_depth: int = 16, max_metadata_bytes: int = 65536
) -> Document:
    """Bytes of a dropped file (its original ``name``) → a validated ``Document``."""
    check_name(name)
    lower = name.lower()
    if lower.endswith(".txt"):
        return _parse_txt(raw, name)
    if lower.endswith(".json"):
        return _parse_json(raw, name, max_json_depth, max_metadata_bytes)
    raise InputError("unsupported_type", "only .txt and .json inputs are accepted")


def _check_id(value: str) -> str:
    if not value.strip() or len(value) > MAX_ID_LENGTH:
        raise InputError("bad_id", f"id must be 1 to {MAX_ID_LENGTH} characters, not only whitespace")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise InputError("bad_id", "id contains control or format characters")
    return value


def _parse_txt(raw: bytes, name: str) -> Document:
    text = decode_text(raw)
    if not text.strip():
        raise InputError("whitespace_only", "input text is empty or only whitespace")
    doc_id = _check_id(Path(name).stem)
    return Document(id=doc_id, text=text, source_name=name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise InputError("json_duplicate_key", "a JSON object repeats a key")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise InputError("invalid_json", f"JSON contains {name}, which is not valid JSON")


def _depth(value: Any, limit: int, level: int = 1) -> None:
    if level > limit:
        raise InputError("json_too_deep", f"JSON nests deeper than {limit} levels")
    if isinstance(value, dict):
        for v in value.values():
            _depth(v, limit, level + 1)
    elif isinstance(value, list):
        for v in value:
            _depth(v, limit, level + 1)


def _parse_json(raw: bytes, name: str, max_depth: int, max_metadata_bytes: int) -> Document:
    text = decode_text(raw)
    if not text.strip():
        raise InputError("whitespace_only", "input is empty or only whitespace")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InputError(
            "invalid_json", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    except RecursionError:
        raise InputError("json_too_deep", f"JSON nests deeper than {max_depth} levels") from None
    _depth(data, max_depth)
    if not isinstance(data, dict):
        raise InputError("json_not_object", f"top level is a JSON {type(data).__name__}, not an object")
    unknown = sorted(set(data) - JSON_FIELDS)
    if unknown:
        # Field *names* are document content too (a misplaced name or value): they are not echoed.
        # Only the allowed name a misspelling resembles is shown.
        hints = sorted(
            {m for k in unknown for m in difflib.get_close_matches(k.lower(), JSON_FIELDS, n=1, cutoff=0.7)}
        )
        hint = f" (did you mean {', '.join(repr(h) for h in hints)}?)" if hints else ""
        raise InputError(
            "json_unknown_field",
            f"{len(unknown)} unknown field(s){hint}; allowed: id, language, text, metadata "
            "(unknown names are not shown: they may be document content)",
        )
    for key in ("id", "text"):
        if key not in data:
            raise InputError("json_field", f"field '{key}' is missing")
        if not isinstance(data[key], str):
            raise InputError("json_field", f"field '{key}' must be a string, not {_json_type(data[key])}")
    doc_id = _check_id(data["id"])
    body = data["text"]
    if not body.strip():
        raise InputError("whitespace_only", "field 'text' is empty or only whitespace")
    _check_controls(body, "field 'text'")
    language = data.get("language")
    if language is not None:
        if not isinstance(language, str):
            raise InputError(
                "json_field", f"field 'language' must be a string or null, not {_json_type(language)}"
            )
        if not _LANG.match(language):
            raise InputError(
                "bad_language", "field 'language' is not a language code such as 'en', 'fa', 'pt-BR'"
            )
        language = language.lower()
    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise InputError("json_field", f"field 'metadata' must be an object, not {_json_type(metadata)}")
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    if size > max_metadata_bytes:
        raise InputError("metadata_too_large", f"metadata is {size} bytes; the limit is {max_metadata_bytes}")
    return Document(id=doc_id, text=body, language=language, metadata=metadata, source_name=name)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)
