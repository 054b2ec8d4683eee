"""The input boundary: what a dropped file becomes once it has been read and checked."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Document(BaseModel):
    """One transcript, already decoded and validated. ``text`` is patient data: never log it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=255)
    text: str
    language: str | None = Field(default=None, description="BCP-47-ish code ('en', 'fa'); None = detect.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_name: str | None = Field(default=None, description="File name it came from, if any.")

    @property
    def content_hash(self) -> str:
        """sha256 (hex) of ``text`` as UTF-8 (``text_hash``): what ``Result.input_sha256`` holds."""
        return text_hash(self.text)


def text_hash(text: str) -> str:
    """sha256 (hex) of the decoded text as UTF-8 (the same as ``PreparedText.text_sha256``); raises
    ``UnicodeEncodeError`` for a lone surrogate."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
