"""The worked examples of docs/result-schema.md: one synthetic result in every output format.

Made by the real renderers from a fixed result (no patient: a sentence written for the docs), so the
examples cannot drift from the code; ``python -m appliance.docsync`` writes them and the docs test
checks them. The task is three features of ``palliative13`` (with their codes), to keep it short.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from .outputs import REGISTRY, RenderContext
from .result import Evidence, FeatureResult, ModelRef, Provenance, Result, Timings
from .resultvalues import ResultValues
from .tasks import Task, load_task

TEXT = "Daughter: He has had a fever since last night and he is very weak."
QUOTE = "He has had a fever since last night"


def example_task() -> Task:
    """``palliative13``'s fever, insurance and pain features, as a task named ``palliative13``."""
    full = load_task("palliative13")
    keep = ("fever", "insurance_cost_issues", "pain")
    return Task.model_validate({**full.model_dump(), "features": [f.model_dump() for f in full.features
                                                                   if f.key in keep], "examples": []})


def _evidence() -> Evidence:
    """The quote, with its character offsets where ``Evidence`` has them (``start``/``end``)."""
    data: dict = {"quote": QUOTE, "found_in_text": True, "source": "original"}
    start = TEXT.index(QUOTE)
    if "start" in Evidence.model_fields and "end" in Evidence.model_fields:
        data.update(start=start, end=start + len(QUOTE))
    return Evidence.model_validate(data)


def example_result() -> Result:
    """The fixed result: fever present (with evidence), insurance absent, pain missing."""
    digest = "9f2c5e0b7a1d4c3e8f6a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
    return Result(
        input_id="call-17", input_sha256=digest, source_name="call-17.txt", language="en", language_detected=True,
        features={
            "fever": FeatureResult(value=True, status="extracted", confidence=0.91, score=0.91, threshold=0.5,
                                   evidence=[_evidence()]),
            "insurance_cost_issues": FeatureResult(value=False, status="extracted", reason="no_evidence",
                                                   confidence=0.97, score=0.03, threshold=0.5),
            "pain": FeatureResult(status="missing", reason="generation_incomplete"),
        },
        document_tokens=21, windows=1,
        provenance=Provenance(
            app_version="0.1.0", task="palliative13", task_version="1", prompt_hash="4e1d" + "0" * 60,
            strategy="hybrid",
            models=[ModelRef(name="smollm2-135m-int4", role="extractor", bundle_hash="a7c3" + "0" * 60,
                             precision="int4", execution_provider="cpu")]),
        timings=Timings(read_s=0.002, extract_s=0.81, total_s=0.812),
        created=datetime(2026, 5, 4, 9, 30, 0, tzinfo=timezone.utc),
    )


def _render(name: str) -> str:
    renderer = REGISTRY.select([name])[0]
    data = renderer.render(example_result(), RenderContext(task=example_task()))
    return json.dumps(json.loads(data), indent=2, ensure_ascii=False)


def native_example() -> str:
    """The native document of the example, indented."""
    return "```json\n" + _render("native") + "\n```"


def fhir_example() -> str:
    """The FHIR Bundle of the example, indented."""
    return "```json\n" + _render("fhir") + "\n```"


def table_example() -> str:
    """The example's row of the research table, as a column | CSV cell table."""
    from .workstation.table import BASE_COLUMNS, csv_cell, feature_columns, row_of

    task = example_task()
    row = row_of(Path("call-17.3f9a0c2b1d4e5f60.json.age"), ResultValues.from_result(example_result()), task.keys)
    lines = ["| column | CSV cell |", "|---|---|"]
    for c in [*BASE_COLUMNS, *feature_columns(task.keys)]:
        cell = csv_cell(row[c])
        lines.append(f"| `{c}` | {f'`{cell}`' if cell else '(empty)'} |")
    return "\n".join(lines)
