"""``.txt``: a plain UTF-8 transcript. The id is the file name without ``.txt``; the language is detected."""

from __future__ import annotations

from pathlib import Path

from ..document import Document
from ..errors import InputError
from ..reasons import Reason
from .decoding import check_id, decode_text
from .registry import ParseLimits


def parse(raw: bytes, name: str, limits: ParseLimits) -> Document:
    """Bytes of ``name`` → ``Document`` (``limits`` unused: a text file has no nesting or metadata).

    Raises ``InputError``: the codes of ``decode_text``, ``whitespace_only``, ``bad_id``.
    """
    text = decode_text(raw)
    if not text.strip():
        raise InputError(Reason.WHITESPACE_ONLY, "input text is empty or only whitespace")
    doc_id = check_id(Path(name).stem)
    return Document(id=doc_id, text=text, source_name=name)
