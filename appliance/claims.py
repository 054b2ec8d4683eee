"""Names on disk for claimed and quarantined inputs, and the per-claim attempt record.

* A claimed input lives at ``work/<claim>/<its name in the inbox>``: the claim id is a folder, never
  part of the input's name, so every name Linux allows (NAME_MAX, 255 bytes) can be claimed and the
  name is read back exactly (a ``~`` in a name is just a character). ``<claim>`` is lower-case hex:
  16 digits of the claim time in nanoseconds and 4 random ones (sortable by claim time).
* Versions before issue #12 claimed to ``work/<claim>~<name>``; ``parse_legacy`` reads such entries
  (their claim ids were hex too) so a box upgraded with inputs in ``work/`` recovers them.
* In ``failed/`` an input keeps its name when it is free and short enough for its sidecar
  (``<name>.error.json`` within 255 bytes); otherwise it gets ``<claim>~<name, shortened>``
  (``failed_name``; ``<claim>~<name>.input`` for a name that ends in ``.error.json``, which would read
  as a sidecar) and its sidecar keeps the full name (``input_name``), which is what
  ``appliance requeue`` restores.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import __version__
from .reader import display_name

NAME_MAX = 255  # bytes in one file name (Linux)
ERROR_SUFFIX = ".error.json"
FAILED_TAIL = b".input"  # added in failed/ to an input whose name ends in ERROR_SUFFIX (``failed_name``)
CLAIM_RE = re.compile(r"[0-9a-f]{1,40}")
_LEGACY_RE = re.compile(r"([0-9a-f]{1,40})~(.+)", re.DOTALL)


def new_claim() -> str:
    """A fresh claim id: ``<time_ns as 16 hex digits><4 random hex digits>``."""
    return f"{time.time_ns():016x}{secrets.token_hex(2)}"


@dataclass(frozen=True)
class WorkItem:
    """A claimed input: the only copy of it, at ``work/<claim>/<name>``.

    ``legacy``: claimed by a version before issue #12 (its results may carry the old key).
    """

    path: Path  # in work/<claim>/
    name: str  # the name it had in the inbox
    claim: str  # unique claim id (sortable by claim time)
    legacy: bool = False

    @property
    def label(self) -> str:
        """The name as text for logs, status and sidecars (non-UTF-8 bytes shown as ``\\xNN``)."""
        return display_name(self.name)

    @property
    def folder(self) -> Path:
        """``work/<claim>``."""
        return self.path.parent


def parse_legacy(entry_name: str) -> tuple[str, str] | None:
    """``(claim, name)`` of a ``work/<claim>~<name>`` entry of the pre-#12 layout, else None."""
    m = _LEGACY_RE.fullmatch(entry_name)
    return (m.group(1), m.group(2)) if m else None


def _cut(raw: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of a name, not ending inside a UTF-8 character."""
    cut = raw[:limit]
    if len(cut) < len(raw):
        while cut and (cut[-1] & 0xC0) == 0x80:  # continuation bytes of a character cut in two
            cut = cut[:-1]
        if cut and cut[-1] >= 0xC0:  # its lead byte
            cut = cut[:-1]
    return cut


def failed_name(name: str, claim: str, taken: bool) -> str:
    """The name of a quarantined input in ``failed/``: ``name`` itself if free (``taken`` False) and
    its sidecar's name fits NAME_MAX; else ``<claim>~<name>``, the name shortened (its extension kept,
    up to 16 bytes) so that ``<that>.error.json`` fits. A name ending in ``.error.json`` (a legal
    ``.json`` input) is never kept as it is: it would read as a sidecar, and the sidecar of a later
    input of the shorter name would replace it; it gets ``<claim>~<name>.input``."""
    raw = os.fsencode(name)
    tail = FAILED_TAIL if raw.endswith(ERROR_SUFFIX.encode()) else b""
    budget = NAME_MAX - len(ERROR_SUFFIX)
    if not taken and not tail and len(raw) <= budget:
        return name
    budget -= len(claim) + 1 + len(tail)
    if len(raw) <= budget:
        return f"{claim}~{os.fsdecode(raw + tail)}"
    dot = raw.rfind(b".")
    ext = raw[dot:] if 0 < dot and len(raw) - dot <= 16 else b""
    return f"{claim}~{os.fsdecode(_cut(raw[: len(raw) - len(ext)], budget - len(ext)) + ext + tail)}"


def original_name(name: str, input_name: str | None) -> str:
    """The inbox name to requeue a quarantined input ``name`` under: its sidecar's ``input_name`` when
    that is a usable, exact name (valid UTF-8, no ``/``, at most NAME_MAX bytes), else ``name``."""
    if input_name is None or input_name == display_name(name):
        return name
    if "/" in input_name or "\0" in input_name or input_name in (".", "..") or not input_name:
        return name
    try:
        encoded = input_name.encode("utf-8")
        os.fsencode(name).decode("utf-8")  # a non-UTF-8 name's sidecar shows it escaped: not exact
    except UnicodeError:
        return name
    return input_name if len(encoded) <= NAME_MAX else name


class AttemptRecord(BaseModel):
    """``state/attempts/<claim>.json``: what is known about a claimed input's attempts (the poison-pill
    guard). Names and counts only.

    ``in_flight`` is set (durably) before an attempt parses and extracts and cleared as soon as that
    ends: still set when the input is next taken means the process died meanwhile (an outside kill,
    a power cut, or the input crashed it). Such an input is a ``suspect`` from then on and is only
    extracted alone in a child process (``appliance.daemon.isolation``); ``crashes`` counts child
    processes that died on it, the only deaths held against it.
    """

    model_config = ConfigDict(extra="ignore")

    name: str = ""
    attempts: int = Field(default=0, ge=0, description="Extraction attempts started.")
    in_flight: bool = False
    interrupted: int = Field(default=0, ge=0, description="Times the process died with it in flight.")
    suspect: bool = False
    crashes: int = Field(default=0, ge=0, description="Child processes that died while extracting it.")

    @classmethod
    def parse(cls, data: bytes) -> AttemptRecord:
        """Read a record; one written before issue #12 (``{"attempts": n, "name": ...}``, counted before
        each attempt and kept until the input was done) reads as in flight: its last attempt may have
        died. Unreadable data reads as a fresh record."""
        try:
            rec = cls.model_validate_json(data)
        except (ValidationError, ValueError):
            return cls()
        if b'"in_flight"' not in data and rec.attempts > 0:
            rec.in_flight = True
            rec.attempts -= 1
        return rec


class FailureRecord(BaseModel):
    """The ``.error.json`` sidecar of a quarantined input. Codes, classes, hashes: never content."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    input_name: str
    reason: str = Field(description="Stable reason code (see docs/integration.md).")
    detail: str | None = Field(
        default=None, description="Reader/validator explanation (positions and sizes only)."
    )
    exception: str | None = Field(default=None, description="Exception class, for unexpected failures.")
    attempts: int
    input_sha256: str | None = Field(
        default=None,
        description="sha256 (hex) of the input file's raw bytes as dropped, before any decoding; null when "
        "the file was refused without being read (too large, unreadable, not a regular file) or "
        "the failure came before it was read.",
    )
    input_bytes: int | None = Field(
        default=None, description="Size of the input file in bytes, where known; null for a non-regular file."
    )
    failed_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    app_version: str = __version__
