"""Reading the configuration: the TOML file, environment overrides, relative paths, and error messages
that name the key, the file and (where it can be found) the line.

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
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from .sections import FOLDERS, ApplianceConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CONFIG_PATH = Path("/etc/appliance/config.toml")
CONFIG_ENV = "APPLIANCE_CONFIG"
ENV_PREFIX = "APPLIANCE_"


def config_path(explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The config file to read: ``explicit`` (``--config``), else ``$APPLIANCE_CONFIG``, else
    ``/etc/appliance/config.toml``."""
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
    """An override's value: a TOML array or inline table if it starts with ``[`` or ``{`` (and parses),
    else the string itself (pydantic converts it to the field's type)."""
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


