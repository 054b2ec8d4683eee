"""The option reference of docs/configuration.md, rendered from the section models.

``python -m appliance.docsync`` writes it between the GENERATED markers; a test checks the committed
copy, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from ..settings import PipelineSettings
from .loading import ENV_PREFIX
from .sections import SECTIONS


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a!r}`".replace("'", '"') for a in args)
    if origin in (list,):
        return f"list of {_type_name(args[0])}"
    if origin in (dict,):
        return f"table of {_type_name(args[1])}"
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return " or ".join(_type_name(a) for a in rest) + " (optional)"
    if args:  # other unions
        return " or ".join(_type_name(a) for a in args)
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default_repr(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f'`"{value}"`'
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, dict):
        inner = ", ".join(f'{k} = "{v}"' for k, v in value.items())
        return f"`{{ {inner} }}`"
    if isinstance(value, list):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def _constraints(field: Any) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            v = getattr(meta, attr, None)
            if v is not None:
                parts.append(f"{sym} {v}")
    return f" ({', '.join(parts)})" if parts else ""


def render_reference() -> str:
    """Markdown reference of every option, generated from the models (docs/configuration.md)."""
    out = []
    for section, model in SECTIONS.items():
        out.append(f"### `[{section}]`\n")
        doc = (model.__doc__ or "").strip()
        if doc and model is not PipelineSettings and not doc.startswith("!"):
            out.append(doc.splitlines()[0].replace("``", "`") + "\n")
        if section == "pipeline":
            out.append(
                "The extraction settings (`PipelineSettings`), shared with `appliance extract` and "
                "`appliance evaluate`. `max_document_tokens` and `threads` are set in `[limits]` and "
                "`[service]` instead.\n"
            )
        out.append("| key | type | default | description |")
        out.append("|---|---|---|---|")
        for name, field in model.model_fields.items():
            if section == "pipeline" and name in ("max_document_tokens", "threads"):
                continue
            desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
            env = f"`{ENV_PREFIX}{section.upper()}__{name.upper()}`"
            out.append(
                f"| `{name}` | {_type_name(field.annotation)}{_constraints(field)} | "
                f"{_default_repr(field)} | {desc} Env: {env}. |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


GENERATED_BEGIN = "<!-- BEGIN GENERATED: python -m appliance.docsync -->"
GENERATED_END = "<!-- END GENERATED -->"
