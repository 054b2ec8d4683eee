"""The prepared text: one document's text, read once, in every form the extraction needs.

``prepare_text`` does what the pipeline does to a document before anything reads it: detect the language
when none is given (``appliance.language``), then normalise (``appliance.normalize``) keeping the map back
to the user's text. Built once per document; the pipeline, the rules, the strategies and fine-tuning
(``export/finetune.py``) all take a ``PreparedText`` instead of re-deriving it.

Two more kinds are built by wrapping a string that is already normalised, with identity offsets
(``wrap_normalized``): a translation (``source='translation'``) and one window of a long document
(``PreparedText.window``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from .language import DEFAULT_CANDIDATES, detect_language
from .normalize import normalize_with_offsets

Source = Literal["original", "translation"]


@dataclass(frozen=True, eq=False)
class PreparedText:
    """One text, prepared once.

    ``original``: the decoded text exactly as the user dropped it (or, for ``source='translation'``, the
    translation; for a window, the window). ``normalized``: ``appliance.normalize`` output, what models and
    rules read. ``offsets``: ``len(normalized) + 1`` entries, ``offsets[i]`` = index in ``original`` of the
    character that produced ``normalized[i]`` (the last entry is ``len(original)``), as
    ``normalize_with_offsets`` gives them. ``language``: given or detected ISO 639-1-ish code, None when
    detection found no signal. ``language_detected``: True when it was detected. ``source``: what
    ``original`` is, for evidence (``Evidence.source``).

    Compared by identity. Patient data: never log any of the strings.
    """

    original: str
    normalized: str
    offsets: Sequence[int] = field(repr=False)
    language: str | None
    language_detected: bool = False
    source: Source = "original"

    def __post_init__(self) -> None:
        if len(self.offsets) != len(self.normalized) + 1:
            raise ValueError("offsets must have len(normalized) + 1 entries")

    # -- named hashes -----------------------------------------------------------------------------
    @cached_property
    def text_sha256(self) -> str:
        """sha256 (hex) of ``original`` as UTF-8: ``Result.input_sha256`` (the decoded text as read,
        before normalising). Raises ``UnicodeEncodeError`` for a lone surrogate, as ``text_hash`` does."""
        return hashlib.sha256(self.original.encode("utf-8")).hexdigest()

    @cached_property
    def normalized_sha256(self) -> str:
        """sha256 (hex) of ``normalized`` as UTF-8: the key for anything computed from the normalised text
        (cached analyses)."""
        return hashlib.sha256(self.normalized.encode("utf-8", "surrogatepass")).hexdigest()

    # -- reading ------------------------------------------------------------------------------------
    @property
    def extract_language(self) -> str:
        """The language extraction reads the text in: ``language``, or ``'en'`` when none was found
        (what the pipeline has always passed on)."""
        return self.language or "en"

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The span of ``original`` that normalised span ``[start, end)`` came from (end exclusive).
        Raises ``IndexError`` outside ``0 <= start <= end <= len(normalized)``."""
        if not 0 <= start <= end <= len(self.normalized):
            raise IndexError("span outside the normalised text")
        return self.offsets[start], self.offsets[end]

    def original_quote(self, start: int, end: int) -> str:
        """The verbatim text of ``original`` behind normalised span ``[start, end)``."""
        a, b = self.to_original(start, end)
        return self.original[a:b]

    def window(self, text: str) -> PreparedText:
        """A window of this text (a string of already-normalised text), wrapped with identity offsets:
        offsets then index the window, not ``original``. Same language and source."""
        return wrap_normalized(text, self.language, source=self.source)


def prepare_text(text: str, language: str | None = None,
                 candidates: tuple[str, ...] = DEFAULT_CANDIDATES) -> PreparedText:
    """Prepare a decoded document text: ``language`` if given (non-empty), else detected among
    ``candidates`` (``detect_language``: None when the text has no letters), then normalised for that
    language with offsets back to ``text``. Exactly what ``Pipeline.process`` does to ``Document.text``."""
    detected = False
    if not language:
        language, detected = detect_language(text, candidates), True
    norm, offsets = normalize_with_offsets(text, language)
    return PreparedText(original=text, normalized=norm, offsets=offsets, language=language,
                        language_detected=detected)


def wrap_normalized(text: str, language: str | None, *, source: Source = "original") -> PreparedText:
    """Wrap a string that is already normalised (a translation, a window): ``original`` and ``normalized``
    are both ``text``, offsets are the identity, the language is taken as given (not detected)."""
    return PreparedText(original=text, normalized=text, offsets=range(len(text) + 1), language=language,
                        language_detected=False, source=source)
