"""Generated reference material, so documentation cannot drift from the code.

* ``appliance/schemas/result.schema.json`` and ``docs/result-schema.md``: the Result JSON Schema, and
  (in named GENERATED blocks) an example of each output format, the FHIR extensions and a table row;
* ``appliance/schemas/error.schema.json``: the ``.error.json`` sidecar schema;
* ``docs/configuration.md``: the option reference (between the GENERATED markers);
* ``docs/integration.md``: the table of reason codes (between the GENERATED markers).

``python -m appliance.docsync`` rewrites them; ``python -m appliance.docsync --check`` (and the tests)
fail when a committed copy differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .config import GENERATED_BEGIN, GENERATED_END, render_reference
from .result import RESULT_SCHEMA_VERSION, Result

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
SCHEMA_DIR = PACKAGE / "schemas"


def result_schema() -> dict[str, Any]:
    """The Result JSON Schema (draft 2020-12, serialization mode), ``$id`` carrying the schema version."""
    schema = Result.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:clinical-appliance:result:{RESULT_SCHEMA_VERSION}",
        **schema,
    }


def error_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the ``.error.json`` sidecar, from ``store.FailureRecord``."""
    from .store import FailureRecord

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:clinical-appliance:error:1",
        **FailureRecord.model_json_schema(mode="serialization"),
    }


def reason_table() -> str:
    """The reason-code table of docs/integration.md (the ``Reason`` enum and the failure policy)."""
    from .daemon.policy import reason_table as table
    from .inputs import REGISTRY

    return table(REGISTRY.describe("or", "`"))


def dumps(schema: dict[str, Any]) -> str:
    """``schema`` as committed: 2-space indented JSON, non-ASCII kept, one trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _replace_generated(text: str, body: str) -> str:
    start = text.index(GENERATED_BEGIN) + len(GENERATED_BEGIN)
    end = text.index(GENERATED_END)
    return text[:start] + "\n\n" + body.rstrip() + "\n\n" + text[end:]


def _replace_named(text: str, name: str, body: str) -> str:
    """Replace the block between ``<!-- BEGIN GENERATED name: ... -->`` and ``<!-- END GENERATED name -->``."""
    begin = f"<!-- BEGIN GENERATED {name}: python -m appliance.docsync -->"
    end_marker = f"<!-- END GENERATED {name} -->"
    start = text.index(begin) + len(begin)
    return text[:start] + "\n\n" + body.rstrip() + "\n\n" + text[text.index(end_marker):]


def result_formats_blocks() -> dict[str, str]:
    """The named generated blocks of docs/result-schema.md: examples of each format, the extensions."""
    from .docexamples import fhir_example, native_example, table_example
    from .fhir.definitions import extension_table

    return {"native-example": native_example(), "fhir-example": fhir_example(),
            "fhir-extensions": extension_table(), "table-example": table_example()}


def expected_files(repo: Path = REPO) -> dict[Path, str]:
    """Every generated file under ``repo`` with the content it must have.

    The two schema files always; a doc under ``repo/docs`` only when it exists (its text outside the
    GENERATED markers kept). Raises ValueError when such a doc lacks a marker.
    """
    out = {
        SCHEMA_DIR / "result.schema.json": dumps(result_schema()),
        SCHEMA_DIR / "error.schema.json": dumps(error_schema()),
    }
    for doc, body in (
        (repo / "docs" / "result-schema.md", "```json\n" + dumps(result_schema()) + "```"),
        (repo / "docs" / "configuration.md", render_reference()),
        (repo / "docs" / "integration.md", reason_table()),
    ):
        if doc.exists():
            out[doc] = _replace_generated(doc.read_text(encoding="utf-8"), body)
    doc = repo / "docs" / "result-schema.md"
    if doc in out:
        for name, body in result_formats_blocks().items():
            out[doc] = _replace_named(out[doc], name, body)
    return out


def stale(repo: Path = REPO) -> list[Path]:
    """The generated files that are missing or differ from :func:`expected_files`; empty when current."""
    return [
        p
        for p, want in expected_files(repo).items()
        if not p.exists() or p.read_text(encoding="utf-8") != want
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m appliance.docsync [--check]``: rewrite the generated files, or with ``--check``
    only list the stale ones on stderr.

    Returns the exit code: 1 when ``--check`` finds a stale file, else 0.
    """
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        bad = stale()
        for p in bad:
            print(f"out of date: {p} (run: python -m appliance.docsync)", file=sys.stderr)
        return 1 if bad else 0
    for p, want in expected_files().items():
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_text(encoding="utf-8") != want:
            p.write_text(want, encoding="utf-8")
            print(f"wrote {p}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
