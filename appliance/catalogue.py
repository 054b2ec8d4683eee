"""The model catalogue: which models the appliance supports, with recipes and resource needs.

The source of truth is ``models/catalogue.toml`` in the repository; an identical copy ships as package
data (``appliance/catalogue.toml``) so an installed appliance can read it without the repository (a
test keeps the two equal). Runtime side: no torch, no transformers.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .bundle import BundleKind, Precision, Provider, Role
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CATALOGUE_FILE = "catalogue.toml"


class CatalogueEntry(BaseModel):
    """One supported model (a ``[[model]]`` table of the catalogue): what it is, what it needs, how to make it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Bundle name: the folder name in the models directory.")
    source: str = Field(description="Hugging Face model id of the weights.")
    role: Role
    architecture: str
    kind: BundleKind = "decoder"
    precision: Precision
    provider: Provider = "cpu"
    ram_gb: float = Field(gt=0, description="Memory the box needs to run it.")
    export_ram_gb: float | None = Field(default=None, gt=0, description="Memory the export workstation needs.")
    bundle_mb: int | None = Field(default=None, gt=0)
    license: str
    embedded: bool = Field(default=False, description="Prepared by 'appliance-export default'.")
    languages: list[str] = Field(default_factory=list)
    study: dict[str, float | str] | None = None
    fidelity: dict[str, float] | None = None
    export: str = Field(description="The command that makes the bundle.")
    notes: str = ""


class Catalogue(BaseModel):
    """The whole catalogue: ``schema_version`` 1 and its ``[[model]]`` entries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    models: list[CatalogueEntry] = Field(alias="model")

    def get(self, model_id: str) -> CatalogueEntry | None:
        """The entry whose ``id`` (bundle name) is ``model_id``, or None."""
        return next((m for m in self.models if m.id == model_id), None)

    @property
    def default(self) -> CatalogueEntry:
        """The entry marked ``embedded`` (exactly one: :func:`load_catalogue` checks it)."""
        return next(m for m in self.models if m.embedded)


def packaged_catalogue_path() -> Path:
    """Path of the catalogue shipped inside the installed ``appliance`` package."""
    return Path(str(resources.files("appliance").joinpath(CATALOGUE_FILE)))


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and validate the catalogue (the packaged copy unless ``path`` is given).

    Raises :class:`ConfigError` for a missing file, invalid TOML, the first invalid field, duplicate
    model ids, or not exactly one ``embedded = true`` entry.
    """
    path = Path(path) if path is not None else packaged_catalogue_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"model catalogue not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    try:
        cat = Catalogue.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{path}: invalid catalogue at '{loc}': {first['msg']}") from None
    ids = [m.id for m in cat.models]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"{path}: duplicate model ids {', '.join(dup)}")
    if sum(m.embedded for m in cat.models) != 1:
        raise ConfigError(f"{path}: exactly one model must be marked embedded = true")
    return cat
