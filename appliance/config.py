"""The daemon's one configuration file: TOML, validated, with environment overrides.

Every option lives in a pydantic model below with ``extra="forbid"``: an unknown key or a bad value
fails at start-up with the key, the file and (where it can be found) the line. The reference in
``docs/configuration.md`` is generated from these models (``render_reference``) and a test checks
the committed copy, so the documentation cannot drift from the code.

Environment overrides: ``APPLIANCE_<SECTION>__<KEY>=value`` (double underscore between levels, any
case), e.g. ``APPLIANCE_PATHS__INBOX=/srv/inbox`` or ``APPLIANCE_RECIPIENTS__KEYS='["age1..."]'``.
A value that starts with ``[`` or ``{`` is read as a TOML array or inline table; anything else is a
string that pydantic converts to the field's type (``"5"`` → 5, ``"true"`` → True).
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .settings import PipelineSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CONFIG_PATH = Path("/etc/appliance/config.toml")
CONFIG_ENV = "APPLIANCE_CONFIG"
ENV_PREFIX = "APPLIANCE_"
_AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PathsConfig(_Section):
    """Folders. All but ``outbox`` and ``state`` must be on one file system (claims are renames)."""

    root: Path = Field(
        default=Path("/var/lib/appliance"),
        description="Base folder; each folder below defaults to a sub-folder of it with the folder's name.",
    )
    inbox: Path | None = Field(
        default=None, description="Where integrators drop transcripts. Default: `<root>/inbox`."
    )
    work: Path | None = Field(
        default=None,
        description="Claimed files being processed (crash recovery reads it). Default: `<root>/work`.",
    )
    outbox: Path | None = Field(
        default=None, description="Encrypted results (`<id>.<hash>.json.age`). Default: `<root>/outbox`."
    )
    failed: Path | None = Field(
        default=None,
        description="Inputs that could not be processed, each with an `.error.json`. "
        "Default: `<root>/failed`.",
    )
    archive: Path | None = Field(
        default=None,
        description="Encrypted copies of processed inputs (retention `archive`). Default: `<root>/archive`.",
    )
    state: Path | None = Field(
        default=None,
        description="Status file, idempotency ledger, attempt counters. Default: `<root>/state`.",
    )

    @model_validator(mode="after")
    def _defaults(self) -> PathsConfig:
        for name in FOLDERS:
            if getattr(self, name) is None:
                setattr(self, name, self.root / name)
        folders = {name: Path(os.path.abspath(getattr(self, name))) for name in FOLDERS}
        seen: dict[Path, str] = {}
        for name, p in folders.items():
            if p in seen:
                raise ValueError(f"'{name}' and '{seen[p]}' are the same folder ({p}); each needs its own")
            seen[p] = name
        inbox = folders["inbox"]
        for name, p in folders.items():
            if name != "inbox" and p.is_relative_to(inbox):
                raise ValueError(f"'{name}' ({p}) must not be inside the inbox ({inbox})")
        return self

    def folder(self, name: str) -> Path:
        value = getattr(self, name)
        assert value is not None
        return value


FOLDERS = ("inbox", "work", "outbox", "failed", "archive", "state")


class RecipientsConfig(_Section):
    """Who can read results: age X25519 public keys. The matching identities live off the box."""

    keys: list[str] = Field(default_factory=list, description="Public keys inline (`age1...`).")
    files: list[Path] = Field(
        default_factory=list,
        description="Files of public keys, one per line, `#` comments (the format of `age -R`).",
    )

    @field_validator("keys")
    @classmethod
    def _shape(cls, v: list[str]) -> list[str]:
        out = []
        for i, key in enumerate(v):
            key = key.strip()
            if key.startswith("AGE-SECRET-KEY-"):
                raise ValueError(
                    f"entry {i} is an age identity (secret key), not a public key: it must not be on this "
                    "box; give its public key (`age1...`) instead"
                )
            if not _AGE_RECIPIENT.match(key):
                raise ValueError(
                    f"entry {i} is not an age X25519 public key (expected 'age1' + 58 characters)"
                )
            out.append(key)
        return out


class RetentionConfig(_Section):
    on_success: Literal["delete", "archive"] = Field(
        default="delete",
        description="What happens to an input once its result is durably written: `delete` it, or "
        "`archive` it encrypted to the recipients in the archive folder (`<id>.<hash>.<ext>.age`).",
    )


class LimitsConfig(_Section):
    max_file_bytes: int = Field(
        default=1_048_576,
        gt=0,
        le=1 << 30,
        description="Larger inputs fail with reason `too_large` (not read).",
    )
    max_document_tokens: int = Field(
        default=16384,
        gt=0,
        description="Longer documents fail with reason `too_long` (passed to the pipeline).",
    )
    max_json_depth: int = Field(
        default=16, ge=2, le=256, description="Deepest nesting accepted in a `.json` input."
    )
    max_metadata_bytes: int = Field(
        default=65536, ge=0, description="Largest `metadata` object of a `.json` input (serialised, bytes)."
    )


class WatchConfig(_Section):
    settle_seconds: float = Field(
        default=10.0,
        ge=0,
        description="Fallback for writers that neither close nor rename: a file is taken once its size and "
        "mtime have not changed for this long. Files closed after writing or renamed into the inbox are "
        "taken at once.",
    )
    write_settle_seconds: float = Field(
        default=300.0,
        ge=0,
        description="A file that inotify saw being written is taken when the writer closes it; only if no "
        "close comes is it taken after this long without change (a slow writer that pauses is not taken "
        "half-written).",
    )
    rescan_seconds: float = Field(
        default=60.0, gt=0, description="Full inbox scan interval (catches events missed by inotify)."
    )
    tick_seconds: float = Field(default=0.5, gt=0, le=60, description="Main loop granularity.")
    use_inotify: bool = Field(
        default=True,
        description="Watch with inotify. Set `false` for network file systems (NFS, CIFS), where remote "
        "writes raise no events, and lower `rescan_seconds`.",
    )


class RetriesConfig(_Section):
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Attempts per input before it goes to `failed/`. Also bounds crash loops: a file whose "
        "processing was interrupted this many times is failed with reason `interrupted`.",
    )
    backoff_seconds: float = Field(default=30.0, ge=0, description="Wait before the first retry.")
    backoff_factor: float = Field(
        default=2.0, ge=1, description="Each further retry waits this many times longer."
    )
    backoff_max_seconds: float = Field(default=900.0, ge=0, description="Upper bound of the wait.")

    def delay(self, attempts: int) -> float:
        """Wait after ``attempts`` failed attempts (1 → ``backoff_seconds``)."""
        return min(
            self.backoff_max_seconds, self.backoff_seconds * self.backoff_factor ** max(0, attempts - 1)
        )


class ServiceConfig(_Section):
    threads: int = Field(default=0, ge=0, le=256, description="Inference threads; 0 = every CPU the process may use.")
    log_format: Literal["json", "text"] = Field(
        default="json", description="`json`: one JSON object per line; `text`: `key=value` pairs."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    status_interval_seconds: float = Field(
        default=5.0, gt=0, description="Heartbeat interval of the status file (`appliance status`)."
    )
    max_file_seconds: float = Field(
        default=900.0,
        gt=0,
        description="Liveness bound: while one input takes longer than this, the daemon stops sending "
        "systemd watchdog keep-alives, so a hung model is killed and restarted (`WatchdogSec=` in the "
        "unit). The input stays in `work/` and counts an attempt.",
    )
    result_mode: int = Field(
        default=0o640,
        ge=0,
        le=0o777,
        description="Permission bits of result files (they are encrypted; group read lets the integrator's "
        "account collect them). TOML: `0o640`.",
    )


class ApplianceConfig(_Section):
    paths: PathsConfig = Field(default_factory=PathsConfig)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    recipients: RecipientsConfig = Field(default_factory=RecipientsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    watch: WatchConfig = Field(default_factory=WatchConfig)
    retries: RetriesConfig = Field(default_factory=RetriesConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)

    @model_validator(mode="after")
    def _one_place_per_setting(self) -> ApplianceConfig:
        moved = {"max_document_tokens": "limits.max_document_tokens", "threads": "service.threads"}
        for key, where in moved.items():
            if key in self.pipeline.model_fields_set:
                raise ValueError(f"pipeline.{key}: set {where} instead (one place per setting)")
        return self

    def pipeline_settings(self) -> PipelineSettings:
        """The pipeline's settings with the daemon-level limits applied."""
        return self.pipeline.model_copy(
            update={"max_document_tokens": self.limits.max_document_tokens, "threads": self.service.threads}
        )


SECTIONS: dict[str, type[BaseModel]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in ApplianceConfig.model_fields.items()
}


# --------------------------------------------------------------------------------------------- loading


def config_path(explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return DEFAULT_CONFIG_PATH


def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> ApplianceConfig:
    """Read, override from the environment, resolve relative paths, validate. Raises ``ConfigError``."""
    env = os.environ if env is None else env
    p = config_path(path, env)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file not found: {p} (pass --config FILE or set {CONFIG_ENV}; see docs/configuration.md)"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {p} cannot be read: {e.__class__.__name__}: {e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {p}: not valid TOML: {e}") from None
    origins: dict[tuple[str, ...], str] = {}
    _apply_env(data, env, origins)
    _resolve_relative(data, p.parent.resolve())
    try:
        cfg = ApplianceConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(e, p, text, origins)) from None
    return cfg


def parse_env_value(value: str) -> Any:
    v = value.strip()
    if v[:1] in ("[", "{"):
        try:
            return tomllib.loads(f"v = {v}")["v"]
        except tomllib.TOMLDecodeError:
            return value
    return value


def _apply_env(data: dict[str, Any], env: Mapping[str, str], origins: dict[tuple[str, ...], str]) -> None:
    for name in sorted(env):
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [x.lower() for x in name[len(ENV_PREFIX) :].split("__")]
        if any(not x for x in parts):
            raise ConfigError(f"environment variable {name}: empty key part (use APPLIANCE_<SECTION>__<KEY>)")
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name}: '{part}' is not a section")
            node = child
        node[parts[-1]] = parse_env_value(env[name])
        origins[tuple(parts)] = f"environment variable {name}"


_PATH_KEYS = {("paths", k) for k in ("root",) + FOLDERS} | {("pipeline", "models_dir")}


def _resolve_relative(data: dict[str, Any], base: Path) -> None:
    """Relative paths in the file are relative to the file's folder, not to the daemon's cwd."""
    for section, key in _PATH_KEYS:
        sec = data.get(section)
        if isinstance(sec, dict) and isinstance(sec.get(key), str) and sec[key]:
            q = Path(sec[key]).expanduser()
            sec[key] = str(q if q.is_absolute() else base / q)
    rec = data.get("recipients")
    if isinstance(rec, dict) and isinstance(rec.get("files"), list):
        rec["files"] = [
            str(Path(f).expanduser() if Path(f).expanduser().is_absolute() else base / f)
            if isinstance(f, str)
            else f
            for f in rec["files"]
        ]


def _format_errors(e: ValidationError, path: Path, text: str, origins: dict[tuple[str, ...], str]) -> str:
    lines = []
    for err in e.errors():
        loc = tuple(str(x) for x in err["loc"])
        dotted = ".".join(loc) if loc else "(top level)"
        origin = _origin(loc, origins, text)
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
            known = _known_keys(loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1) if known else []
            if close:
                msg += f" (did you mean '{close[0]}'?)"
            elif known:
                msg += f" (known: {', '.join(sorted(known))})"
        else:
            msg = err["msg"]
            msg = msg.removeprefix("Value error, ")
            if (
                "input" in err
                and err["type"] not in ("missing",)
                and not isinstance(err["input"], (dict, list))
            ):
                msg += f" (got {err['input']!r})"
        lines.append(f"  - {dotted}{origin}: {msg}")
    head = f"config file {path}: {len(lines)} error{'s' if len(lines) != 1 else ''}"
    return head + "\n" + "\n".join(lines)


def _origin(loc: tuple[str, ...], origins: dict[tuple[str, ...], str], text: str) -> str:
    for n in range(len(loc), 0, -1):
        if loc[:n] in origins:
            return f" ({origins[loc[:n]]})"
    line = locate_key(text, loc)
    return f" (line {line})" if line else ""


def _known_keys(loc: tuple[str, ...]) -> list[str]:
    model: Any = ApplianceConfig
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    fields = getattr(model, "model_fields", None)
    return list(fields) if fields else []


_HEADER = re.compile(r"^\s*\[\s*([^\]\[]+?)\s*\]\s*(#.*)?$")
_KEYLINE = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]+\")\s*=")


def locate_key(text: str, loc: tuple[str, ...]) -> int | None:
    """Best-effort line number of ``loc`` (section, key, ...) in TOML text; None if not found."""
    if not loc:
        return None
    section: tuple[str, ...] = ()
    best: tuple[int, int] | None = None  # (matched parts, line)
    for no, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            section = tuple(x.strip().strip('"') for x in m.group(1).split("."))
            if section == loc[: len(section)] and (best is None or len(section) > best[0]):
                best = (len(section), no)
            continue
        m = _KEYLINE.match(line)
        if m:
            key = section + (m.group(1).strip('"'),)
            n = len(key)
            if key == loc[:n] and (best is None or n > best[0]):
                best = (n, no)
    return best[1] if best else None


# --------------------------------------------------------------------------------------------- docs


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
        return "`[]`" if not value else f"`{value}`"
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
