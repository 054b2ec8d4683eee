"""Labelled sets: JSONL, one document per line (``id``, ``text``, ``language``, ``labels``).

Extra fields (``label_status``, ``reference_note``, ...) are tolerated and ignored: they are for auditing,
never model input. Problems are reported by file and line, never by quoting the text.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..document import Document, text_hash
from ..errors import InputError
from .split import Split, SplitChoice, in_split, split_of


class LabelledDocument(BaseModel):
    """One labelled document. ``labels`` maps feature key → True/False (None: not labelled)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=200)
    text: str
    language: str | None = None
    labels: dict[str, bool | None]
    input_format: str | None = Field(
        default=None,
        pattern=r"^\.[A-Za-z0-9][A-Za-z0-9.]*$",
        description="File suffix ('.vtt', '.srt', '.json', '.txt') when ``text`` is the content of a file "
        "in that format (e.g. a speech-recognition rewrite): the document is then read by the same input "
        "parser the daemon uses for such a file. None: ``text`` is the transcript itself.",
    )

    @property
    def split(self) -> Split:
        """'dev' or 'test', from the id (see :mod:`appliance.evaluate.split`)."""
        return split_of(self.id)

    @property
    def text_sha256(self) -> str:
        """SHA-256 hex digest of the UTF-8 text (the cache key of its prediction, with the id)."""
        return text_hash(self.text)

    def document(self) -> Document:
        """The pipeline input: the same ``Document`` the daemon builds from a dropped file.

        With ``input_format`` the text is parsed by the input format registered for that suffix
        (``appliance.inputs``), exactly as a dropped ``<id><input_format>`` file would be; the id stays
        this document's id and a given ``language`` wins over one the file names. Raises
        ``InputError`` with the parser's reason when the text is not a valid file of that format.
        """
        if self.input_format is None:
            return Document(id=self.id, text=self.text, language=self.language)
        from ..inputs import parse_input

        parsed = parse_input(self.text.encode("utf-8"), f"document{self.input_format}")
        return parsed.model_copy(update={"id": self.id, "language": self.language or parsed.language,
                                         "source_name": None})


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes, read in 1 MiB blocks; OSError when it cannot be read."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_labelled(path: str | Path) -> list[LabelledDocument]:
    """The documents of a labelled JSONL file, in file order; blank lines skipped.

    Raises InputError (``file:line: field``, never the text) with reason ``not_found``, ``bad_json``,
    ``bad_record`` (fails validation), ``duplicate_id`` or ``empty``; UnicodeDecodeError when not UTF-8.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("not_found", f"{path}: no such labelled file")
    docs: list[LabelledDocument] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError("bad_json", f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            try:
                doc = LabelledDocument.model_validate(raw)
            except ValidationError as e:
                err = e.errors()[0]
                field = ".".join(str(p) for p in err["loc"]) or "(line)"
                raise InputError("bad_record", f"{path}:{lineno}: {field}: {err['msg']}") from None
            if doc.id in seen:
                raise InputError("duplicate_id", f"{path}:{lineno}: id '{doc.id}' already on line {seen[doc.id]}")
            seen[doc.id] = lineno
            docs.append(doc)
    if not docs:
        raise InputError("empty", f"{path}: no documents")
    return docs


def select(docs: list[LabelledDocument], split: SplitChoice = "all", limit: int | None = None) -> list[LabelledDocument]:
    """The documents of ``split`` in file order, the first ``limit`` of them if given.

    Raises ValueError for a negative ``limit`` or an unknown split.
    """
    chosen = [d for d in docs if in_split(d.id, split)]
    if limit is not None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        chosen = chosen[:limit]
    return chosen
