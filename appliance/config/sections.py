"""The daemon configuration's sections: one pydantic model per TOML table, with ``extra="forbid"``.

Every option's type, bounds, default and description live here; ``appliance.config.reference``
renders docs/configuration.md from them and ``appliance.config.loading`` reads the TOML file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..outputs import DEFAULT_FORMATS
from ..outputs import REGISTRY as OUTPUTS
from ..settings import PipelineSettings

_AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")  # bech32 of a 32-byte X25519 key


class _Section(BaseModel):
    """A TOML table: unknown keys are errors."""

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
        default=None, description="Encrypted results (`<key>.json.age`, see docs/integration.md). Default: `<root>/outbox`."
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
        """The folder called ``name`` (one of ``FOLDERS``), with its default applied."""
        value = getattr(self, name)
        assert value is not None
        return value


#: The data folders, each a key of ``[paths]``.
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
    """What becomes of an input once its results are durably written."""

    on_success: Literal["delete", "archive"] = Field(
        default="delete",
        description="What happens to an input once its result is durably written: `delete` it, or "
        "`archive` it encrypted to the recipients in the archive folder (`<key>.<ext>.age`).",
    )


class LimitsConfig(_Section):
    """Bounds on what an input may be; beyond them it is set aside with a reason code."""

    max_file_bytes: int = Field(
        default=1_048_576,
        gt=0,
        le=1 << 30,
        description="Larger inputs fail with reason `too_large` (not read).",
    )
    max_document_tokens: int = Field(
        default=16384,
        gt=0,
        description="Strategy `json` only (the model reads the whole document, in windows): a longer "
        "document gives a result with every feature `missing`, reason `document_too_long`. `evidence`, `hybrid` and "
        "`rules` take documents of any length up to `max_file_bytes`: the model sees only rule-selected "
        "excerpts (docs/extraction.md, Long documents). Passed to the pipeline.",
    )
    max_json_depth: int = Field(
        default=16, ge=2, le=256, description="Deepest nesting accepted in a `.json` input."
    )
    max_metadata_bytes: int = Field(
        default=65536, ge=0, description="Largest `metadata` object of a `.json` input (serialised, bytes)."
    )


class WatchConfig(_Section):
    """How the inbox is watched and when a dropped file counts as complete."""

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
    """Retries of failures that may pass (pipeline, storage, unexpected errors), with exponential backoff."""

    max_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Attempts per input before it goes to `failed/` (pipeline errors, unexpected errors). "
        "Also bounds crash loops: an input that was in flight when the daemon died is extracted alone in "
        "a child process from then on, and one that crashes that child this many times is failed with "
        "reason `interrupted` (a kill of the daemon itself is never counted). Storage errors (a full or "
        "read-only disk) are retried for as long as they last, never counted.",
    )
    backoff_seconds: float = Field(default=30.0, ge=0, description="Wait before the first retry.")
    backoff_factor: float = Field(
        default=2.0, ge=1, description="Each further retry waits this many times longer."
    )
    backoff_max_seconds: float = Field(
        default=900.0, ge=0, description="Upper bound of the wait (also while storage errors last)."
    )

    def delay(self, attempts: int) -> float:
        """Wait after ``attempts`` failed attempts (1 → ``backoff_seconds``)."""
        return min(
            self.backoff_max_seconds, self.backoff_seconds * self.backoff_factor ** max(0, attempts - 1)
        )


class ServiceConfig(_Section):
    """The process: threads, logging, status heartbeat, liveness, result file permissions."""

    threads: int = Field(
        default=0, ge=0, le=256, description="Inference threads; 0 = every CPU the process may use."
    )
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
        "unit); the input stays in `work/` and is then extracted alone in a child process, which is "
        "killed after this long (a crash of the input: see `retries.max_attempts`).",
    )
    model_wait_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description="At start, how long to wait for a configured model bundle that is not there (a USB "
        "stick or network mount not mounted yet), telling systemd so, before exiting with status 75 to "
        "be restarted (the unit's `Restart=always`). A bundle that is there but damaged fails at "
        "once (status 78).",
    )
    result_mode: int = Field(
        default=0o640,
        ge=0,
        le=0o777,
        description="Permission bits of result files (they are encrypted; group read lets the integrator's "
        "account collect them). TOML: `0o640`.",
    )


class OutputConfig(_Section):
    """Result formats: each input gives one encrypted file per format, `<key><suffix>.age`."""

    formats: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FORMATS),
        description="Output formats written for every input, in this order, each as its own encrypted file, "
        "all before the input is released. `native` is the result document of docs/result-schema.md. Known: "
        + ", ".join(f"`{r.name}` (`{r.suffix}`, {r.media_type})" for r in OUTPUTS.renderers())
        + ".",
    )

    @field_validator("formats")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return OUTPUTS.check(v)


class ApplianceConfig(_Section):
    """The whole configuration file: one attribute per TOML table (``SECTIONS``)."""

    paths: PathsConfig = Field(default_factory=PathsConfig)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    recipients: RecipientsConfig = Field(default_factory=RecipientsConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
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


#: Table name → its model, in file order (the reference follows it).
SECTIONS: dict[str, type[BaseModel]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in ApplianceConfig.model_fields.items()
}


