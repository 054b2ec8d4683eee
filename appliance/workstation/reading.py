"""Reading decrypted results of any output format, recognised by content, each validated.

* native: the result document (``Result``, docs/result-schema.md);
* fhir: a FHIR Bundle, validated by ``fhir.resources`` and read back by :mod:`appliance.fhir.read`.

And finding the result files among paths given on the command line: files as given, folders by the
registered output suffixes, one file per result (the native one where a result has both).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..crypto import decrypt
from ..errors import ApplianceError
from ..outputs import REGISTRY
from ..result import Result
from ..resultvalues import ResultValues

AGE = ".age"


@dataclass(frozen=True)
class ReadResult:
    """One decrypted, validated result: its format's name, its values, and the native document (when
    the format is ``native``)."""

    format: str
    values: ResultValues
    document: Result | None


def recognise(data: bytes) -> ReadResult:
    """Validate decrypted plaintext as a native result or a FHIR Bundle, whichever it is.

    Raises ApplianceError ("decrypted, but not a valid ..."), with a count of schema errors, never
    their content (it may quote patient text).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApplianceError("decrypted, but not a valid result document (not UTF-8)") from None
    from .. import fhir

    if fhir.is_bundle(text):
        try:
            return ReadResult("fhir", fhir.values_from_bundle(fhir.parse_bundle(text)), None)
        except ApplianceError as e:
            raise ApplianceError(f"decrypted, but not a valid result Bundle: {e}") from None
    try:
        result = Result.model_validate_json(text)
    except ValidationError as e:
        raise ApplianceError(f"decrypted, but not a valid result document ({len(e.errors())} schema error(s))") from None
    return ReadResult("native", ResultValues.from_result(result), result)


def read_file(path: Path, identities: Sequence[Any]) -> ReadResult:
    """Decrypt ``path`` with ``identities`` and :func:`recognise` it. Raises ApplianceError."""
    return recognise(decrypt(path.read_bytes(), identities))


def split_name(name: str) -> tuple[str, int] | None:
    """``(key, format rank)`` of a result file name ``<key><suffix>.age`` (the longest registered
    suffix; rank = its format's place in the registry, native first), or None for another name."""
    if not name.endswith(AGE) or name.startswith("."):
        return None
    stem = name[: -len(AGE)]
    best: tuple[str, int] | None = None
    for rank, r in enumerate(REGISTRY.renderers()):
        if stem.endswith(r.suffix) and len(stem) > len(r.suffix):
            if best is None or len(r.suffix) > len(stem) - len(best[0]):
                best = (stem[: -len(r.suffix)], rank)
    return best


def result_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """The files to read among ``paths``, and those skipped as a second format of a result already taken.

    A folder contributes its own (not its subfolders') files named ``<key><suffix>.age`` for a
    registered output suffix, in name order; a file is taken as given, and a file given twice (as
    itself and in its folder) is read once. Where files in one folder share a key (a result written
    in more than one format, side by side as the daemon writes them), the one of the earliest
    registered format is read (native before fhir). Files with one key in two folders are two results
    (one transcript processed by two appliances, with another task or model): both are read. Raises
    ApplianceError for a path that does not exist.
    """
    chosen: dict[tuple[Path, str], tuple[int, Path]] = {}
    order: list[tuple[Path, str]] = []
    skipped: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            candidates = sorted(
                (Path(e.path) for e in os.scandir(path) if e.is_file() and split_name(e.name) is not None),
                key=lambda p: p.name,
            )
        elif path.is_file():
            candidates = [path]
        else:
            raise ApplianceError(f"{path}: no such file or folder")
        for p in candidates:
            real = p.resolve()
            if real in seen:
                continue
            seen.add(real)
            name, rank = split_name(p.name) or (str(p), -1)
            key = (real.parent, name)
            if key not in chosen:
                chosen[key] = (rank, p)
                order.append(key)
            elif rank < chosen[key][0]:
                skipped.append(chosen[key][1])
                chosen[key] = (rank, p)
            else:
                skipped.append(p)
    return [chosen[k][1] for k in order], skipped
