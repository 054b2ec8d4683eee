"""The daemon's one configuration file: TOML, validated, with environment overrides.

Every option lives in a pydantic model with ``extra="forbid"`` (``sections``): an unknown key or a
bad value fails at start-up with the key, the file and (where it can be found) the line
(``loading``). The reference in ``docs/configuration.md`` is generated from these models
(``reference.render_reference``) and a test checks the committed copy, so the documentation cannot
drift from the code.

Environment overrides: ``APPLIANCE_<SECTION>__<KEY>=value`` (see ``loading``).
"""

from __future__ import annotations

from .loading import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    ENV_PREFIX,
    config_path,
    load_config,
    locate_key,
    parse_env_value,
)
from .reference import GENERATED_BEGIN, GENERATED_END, render_reference
from .sections import (
    FOLDERS,
    SECTIONS,
    ApplianceConfig,
    LimitsConfig,
    OutputConfig,
    PathsConfig,
    RecipientsConfig,
    RetentionConfig,
    RetriesConfig,
    ServiceConfig,
    WatchConfig,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "ENV_PREFIX",
    "FOLDERS",
    "GENERATED_BEGIN",
    "GENERATED_END",
    "SECTIONS",
    "ApplianceConfig",
    "LimitsConfig",
    "OutputConfig",
    "PathsConfig",
    "RecipientsConfig",
    "RetentionConfig",
    "RetriesConfig",
    "ServiceConfig",
    "WatchConfig",
    "config_path",
    "load_config",
    "locate_key",
    "parse_env_value",
    "render_reference",
]
