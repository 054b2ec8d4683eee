"""Extraction tasks as files: which features to extract, how to ask for them, and worked examples.

A clinic can write its own task file; a malformed one must fail with the field *and line* at fault,
since the person fixing it is editing a text file, not reading a traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import TaskError
from .coding import Coding, is_code
from .jsonpos import locate

FeatureType = Literal["boolean", "enum", "number", "string_list"]
BUILTIN_TASKS = ("palliative13", "symptoms13")
DEFAULT_TASK = "palliative13"
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_LATER_FEATURE_FIELDS = ("codings", "coding_note")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Feature(_Strict):
    """One feature to extract: its key, labels, definition for the prompt, value type and threshold.

    Validation (pydantic ValidationError, reported by :func:`parse_task` as a TaskError with the line):
    ``key`` is lower_snake_case of at most 64 characters, ``labels`` has ``en`` and no blank label, an
    ``enum`` has two or more distinct ``options`` and only an ``enum`` may have them, each a FHIR
    ``code`` (no leading, trailing or doubled whitespace: the FHIR output answers with it as a code);
    ``threshold`` is in [0, 1]; ``codings`` are valid :class:`~appliance.tasks.coding.Coding` entries,
    no (system, code) twice; ``coding_note``, when given, is not blank.
    """

    key: str = Field(description="Identifier used in results, lower_snake_case.")
    labels: dict[str, str] = Field(description="Human label per language code; 'en' is required.")
    definition: str = Field(min_length=1, description="What counts as present, for the prompt and for people.")
    type: FeatureType = "boolean"
    options: list[str] | None = Field(default=None, description="Allowed values, for type 'enum'.")
    minimum: float | None = None
    maximum: float | None = None
    threshold: float = Field(default=0.5, ge=0, le=1, description="Booleans: P(true) at or above this is True.")
    lexicon: dict[str, list[str]] = Field(
        default_factory=dict, description="Terms per language for the rule baseline and evidence pre-pass."
    )
    codings: list[Coding] = Field(
        default_factory=list,
        description="Standard codes for the feature (e.g. SNOMED CT), for the FHIR output; empty when none fits.",
    )
    coding_note: str | None = Field(
        default=None,
        description="Why the feature has no coding, or how its coding relates to the definition.",
    )

    @field_validator("key")
    @classmethod
    def _key_shape(cls, v: str) -> str:
        if not _KEY.match(v):
            raise ValueError("must be lower_snake_case: a letter, then letters, digits or '_' (max 64)")
        return v

    @field_validator("labels")
    @classmethod
    def _english_label(cls, v: dict[str, str]) -> dict[str, str]:
        if "en" not in v:
            raise ValueError("needs an 'en' label")
        blank = [lang for lang, text in v.items() if not text.strip()]
        if blank:
            raise ValueError(f"label '{blank[0]}' must not be blank")
        return v

    @field_validator("options")
    @classmethod
    def _options_are_codes(cls, v: list[str] | None) -> list[str] | None:
        bad = [o for o in v or [] if not is_code(o)]
        if bad:
            raise ValueError(f"option {bad[0]!r} is empty or has leading, trailing or doubled whitespace "
                             "(options are codes in the FHIR output)")
        return v

    @field_validator("coding_note")
    @classmethod
    def _note(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank (leave it out instead)")
        return v

    @model_validator(mode="after")
    def _options_match_type(self) -> "Feature":
        if self.type == "enum":
            if not self.options or len(self.options) < 2 or len(set(self.options)) != len(self.options):
                raise ValueError("type 'enum' needs 'options': at least two distinct values")
        elif self.options is not None:
            raise ValueError(f"'options' is only allowed with type 'enum', not '{self.type}'")
        pairs = [(c.system, c.code) for c in self.codings]
        if len(set(pairs)) != len(pairs):
            raise ValueError("a coding (system, code) is listed twice")
        return self

    def label(self, language: str = "en") -> str:
        """The label in ``language`` (an ISO 639-1 code), else the English one."""
        return self.labels.get(language) or self.labels["en"]

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of this feature's value, as guided generation constrains it.

        boolean; enum: a string among ``options``; number: within ``minimum``/``maximum`` when set;
        string_list: at most 10 strings of 1 to 120 characters each (the appliance's own caps, which
        bound the generated output; an empty string is no value, and no FHIR string can be empty).
        """
        if self.type == "boolean":
            return {"type": "boolean"}
        if self.type == "enum":
            return {"type": "string", "enum": list(self.options or [])}
        if self.type == "number":
            s: dict[str, Any] = {"type": "number"}
            if self.minimum is not None:
                s["minimum"] = self.minimum
            if self.maximum is not None:
                s["maximum"] = self.maximum
            return s
        item = {"type": "string", "minLength": 1, "maxLength": 120}
        return {"type": "array", "items": item, "maxItems": 10}

    def check_value(self, value: Any) -> None:
        """Raise ValueError unless ``value`` is valid for this feature (used for examples and outputs)."""
        ok = {
            "boolean": lambda v: isinstance(v, bool),
            "enum": lambda v: isinstance(v, str) and v in (self.options or []),
            "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "string_list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        }[self.type](value)
        if not ok:
            raise ValueError(f"value {value!r} is not a valid {self.type} for feature '{self.key}'")


class Example(_Strict):
    """A worked example for the prompt: a text, its language code and the expected output.

    ``output`` must have exactly the task's feature keys, each value valid for its feature (checked by
    :class:`Task`).
    """

    text: str = Field(min_length=1)
    language: str = "en"
    output: dict[str, Any]


class Task(_Strict):
    """An extraction task: the instruction (system prompt), the features in order and worked examples.

    Validation (pydantic ValidationError): ``name`` is 1-64 of ``[A-Za-z0-9_.-]``, at least one feature,
    feature keys unique, every example's output has exactly the features' keys with valid values.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    version: str = Field(default="1", min_length=1)
    description: str = ""
    instruction: str = Field(min_length=1, description="System prompt: what the model is asked to do.")
    document_label: str = Field(default="Transcript", description="How the prompt names the input.")
    features: list[Feature] = Field(min_length=1)
    examples: list[Example] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "Task":
        keys = [f.key for f in self.features]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate feature keys: {', '.join(dupes)}")
        by_key = {f.key: f for f in self.features}
        for i, ex in enumerate(self.examples):
            missing = [k for k in keys if k not in ex.output]
            extra = [k for k in ex.output if k not in by_key]
            if missing or extra:
                raise ValueError(
                    f"examples[{i}].output must list exactly the task's features"
                    + (f"; missing: {', '.join(missing)}" if missing else "")
                    + (f"; unknown: {', '.join(extra)}" if extra else "")
                )
            for k, v in ex.output.items():
                try:
                    by_key[k].check_value(v)
                except ValueError as e:
                    raise ValueError(f"examples[{i}].output.{k}: {e}") from None
        return self

    @property
    def keys(self) -> list[str]:
        """The feature keys in task order."""
        return [f.key for f in self.features]

    def feature(self, key: str) -> Feature:
        """The feature with ``key``; raises KeyError when there is none."""
        for f in self.features:
            if f.key == key:
                return f
        raise KeyError(key)

    def output_schema(self) -> dict[str, Any]:
        """JSON Schema of the model's answer: one property per feature, in task order, all required."""
        return {
            "type": "object",
            "properties": {f.key: f.json_schema() for f in self.features},
            "required": self.keys,
            "additionalProperties": False,
        }

    @property
    def content_hash(self) -> str:
        """SHA-256 hex digest of the task's ``model_dump_json()`` (every field, thresholds included).

        The feature fields added later (``codings``, ``coding_note``) count only where set, so a task
        without them hashes as it did before they existed; codes added to a task change its hash.
        """
        later = {
            i: unset
            for i, f in enumerate(self.features)
            if (unset := {k for k in _LATER_FEATURE_FIELDS if not getattr(f, k)})
        }
        return hashlib.sha256(self.model_dump_json(exclude={"features": later}).encode()).hexdigest()

    def with_thresholds(self, thresholds: dict[str, float]) -> "Task":
        """A copy with per-feature thresholds replaced (calibration writes these)."""
        data = self.model_dump()
        for f in data["features"]:
            if f["key"] in thresholds:
                f["threshold"] = float(thresholds[f["key"]])
        return Task.model_validate(data)


def parse_task(text: str, origin: str) -> Task:
    """Validate task JSON text; ``origin`` (a path or ``<builtin NAME>``) prefixes error messages.

    Raises TaskError for invalid JSON (``origin:line: not valid JSON: ...``) or the first validation
    problem as ``origin:line: field.path: message``, with a count of any further problems.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise TaskError(f"{origin}:{e.lineno}: not valid JSON: {e.msg}") from None
    try:
        return Task.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-after"))]
        field = ".".join(str(p) for p in loc) or "(task)"
        line = locate(text, loc)
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {len(e.errors()) - 1} more problem(s))" if len(e.errors()) > 1 else ""
        raise TaskError(f"{origin}:{line}: {field}: {msg}{more}") from None


def load_task(name_or_path: str | Path) -> Task:
    """A built-in task by name (``palliative13``, ``symptoms13``), or a UTF-8 task file by path.

    Raises TaskError when the name is neither a built-in nor a file, the file is not UTF-8, or it does
    not validate (see :func:`parse_task`).
    """
    s = str(name_or_path)
    if s in BUILTIN_TASKS:
        text = resources.files(__package__).joinpath("builtin", f"{s}.json").read_text(encoding="utf-8")
        return parse_task(text, f"<builtin {s}>")
    path = Path(s)
    if not path.is_file():
        raise TaskError(f"task '{s}' is neither a built-in task ({', '.join(BUILTIN_TASKS)}) nor a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TaskError(f"{path}: task files must be UTF-8") from None
    return parse_task(text, str(path))


def save_task(task: Task, path: Path) -> None:
    """Write ``task`` to ``path`` as 2-space indented UTF-8 JSON, defaults included (loadable again)."""
    path.write_text(task.model_dump_json(indent=2, exclude_defaults=False) + "\n", encoding="utf-8")
