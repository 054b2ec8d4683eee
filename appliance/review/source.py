"""Finding and decrypting what the box wrote: results (``outbox/<key>.json.age``) and, with retention
``archive``, the inputs (``archive/<key><suffix>.age``, the same ``<key>``, any suffix an input format
of ``appliance.inputs`` takes; ``appliance.store``). Transcripts are parsed by those same formats, so the
text shown is the ``Document.text`` the box's pipeline read.

Everything is decrypted in memory with the reviewer's identity and never written anywhere: results are
kept parsed (the queue needs every score), transcripts in a small in-memory cache. Problems are recorded
per file as a stable code, never with content.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..crypto import CryptoError, decrypt
from ..document import text_hash
from ..errors import InputError
from ..inputs import REGISTRY, parse_input
from .results import ResultFormatError, ResultView, parse_result

RESULT_SUFFIX = ".json.age"
KEY_PATTERN = re.compile(r"^.+\.[0-9a-f]{16}$")  # appliance.store.result_key: <id slug>.<16 hex digits>
TranscriptStatus = Literal["ok", "no_archive", "mismatch", "unreadable"]


@dataclass(frozen=True)
class LoadedResult:
    """One decrypted result: its ``key`` (the file name without ``.json.age``), the file it came from,
    the archived input's file if there is one, and the parsed result."""

    key: str
    path: Path
    input_path: Path | None
    result: ResultView


@dataclass(frozen=True)
class Transcript:
    """The transcript of one result, as the box read it (``Document.text``), or why there is none.

    ``status``: 'ok' (decrypted, and its sha256 equals the result's ``input_sha256``), 'no_archive' (no
    archived input for this key), 'mismatch' (the archived text is not the one the result was made from:
    it is not shown), 'unreadable' (cannot be decrypted or parsed). ``text`` is set only for 'ok'.
    ``language`` is the input's own language field (JSON inputs) or the result's language.
    """

    status: TranscriptStatus
    text: str | None = None
    language: str | None = None


def _key_of_input(name: str) -> str | None:
    if not name.endswith(".age") or name.startswith("."):
        return None
    stem = name[: -len(".age")]
    suffix = Path(stem).suffix  # the daemon archives under the input's last suffix (appliance.daemon)
    if suffix and REGISTRY.is_supported(stem) and KEY_PATTERN.match(stem[: -len(suffix)]):
        return stem[: -len(suffix)]
    return None


def _files(folder: Path | None, suffix: str) -> list[Path]:
    if folder is None:
        return []
    return sorted(p for p in folder.rglob(f"*{suffix}") if p.is_file() and not p.name.startswith("."))


class ReviewSource:
    """Results of ``results_dir`` (searched recursively), their archived inputs in ``inputs_dir``, and
    the age ``identities`` that open them.

    ``refresh()`` picks up new files; ``results`` maps key → :class:`LoadedResult`; ``problems`` maps a
    file name to 'cannot_decrypt' or 'not_a_result'. Thread-safe (the web server calls it from several
    threads). Raises nothing at construction; FileNotFoundError from ``refresh`` when ``results_dir`` is
    missing.
    """

    def __init__(self, results_dir: Path, inputs_dir: Path | None, identities: Sequence, *,
                 cached_texts: int = 32) -> None:
        self.results_dir = Path(results_dir)
        self.inputs_dir = Path(inputs_dir) if inputs_dir is not None else None
        self._identities = list(identities)
        self.results: dict[str, LoadedResult] = {}
        self.problems: dict[str, str] = {}
        self._seen: set[Path] = set()
        self._texts: OrderedDict[str, Transcript] = OrderedDict()
        self._cached = cached_texts
        self._lock = threading.RLock()

    def refresh(self) -> int:
        """Scan both folders again; decrypt results not seen before. Returns how many were added."""
        if not self.results_dir.is_dir():
            raise FileNotFoundError(f"results folder not found: {self.results_dir}")
        with self._lock:
            inputs: dict[str, Path] = {}
            for p in _files(self.inputs_dir, ".age"):
                key = _key_of_input(p.name)
                if key is not None:
                    inputs.setdefault(key, p)
            added = 0
            for p in _files(self.results_dir, RESULT_SUFFIX):
                key = p.name[: -len(RESULT_SUFFIX)]
                if not KEY_PATTERN.match(key):  # another output format (<key>.<fmt>.json.age), not a result
                    continue
                if key in self.results:
                    if self.results[key].input_path is None and key in inputs:
                        self.results[key] = LoadedResult(key, p, inputs[key], self.results[key].result)
                    continue
                if p in self._seen:
                    continue
                self._seen.add(p)
                try:
                    result = parse_result(decrypt(p.read_bytes(), self._identities))
                except CryptoError:
                    self.problems[p.name] = "cannot_decrypt"
                    continue
                except ResultFormatError:
                    self.problems[p.name] = "not_a_result"
                    continue
                self.results[key] = LoadedResult(key, p, inputs.get(key), result)
                added += 1
            return added

    def snapshot(self) -> dict[str, LoadedResult]:
        """A copy of ``results`` taken under the lock (safe to iterate while another thread refreshes)."""
        with self._lock:
            return dict(self.results)

    def transcript(self, key: str) -> Transcript:
        """The transcript of result ``key`` (decrypted in memory, checked against ``input_sha256``).

        Raises KeyError for an unknown key.
        """
        with self._lock:
            loaded = self.results[key]
            if key in self._texts:
                self._texts.move_to_end(key)
                return self._texts[key]
            t = self._read_transcript(loaded)
            self._texts[key] = t
            while len(self._texts) > self._cached:
                self._texts.popitem(last=False)
            return t

    def _read_transcript(self, loaded: LoadedResult) -> Transcript:
        r = loaded.result
        if loaded.input_path is None:
            return Transcript("no_archive", language=r.language)
        name = loaded.input_path.name[: -len(".age")]
        suffix = Path(name).suffix.lower()
        source_name = r.source_name if r.source_name and r.source_name.lower().endswith(suffix) else name
        try:
            doc = parse_input(decrypt(loaded.input_path.read_bytes(), self._identities), source_name)
        except (CryptoError, InputError, OSError):
            return Transcript("unreadable", language=r.language)
        if text_hash(doc.text) != r.input_sha256:
            return Transcript("mismatch", language=r.language)
        return Transcript("ok", doc.text, doc.language or r.language)
