"""The daemon config: validation with clear errors, environment overrides, generated docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance.config import SECTIONS, ApplianceConfig, load_config, locate_key, render_reference
from appliance.crypto import generate_identity
from appliance.errors import ConfigError
from tests.support.paths import REPO

PUB = generate_identity()[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_minimal_config_defaults_and_relative_paths(tmp_path):
    p = write(tmp_path, f'[paths]\nroot = "data"\n[recipients]\nkeys = ["{PUB}"]\n')
    cfg = load_config(p, env={})
    assert cfg.paths.root == tmp_path / "data"
    assert cfg.paths.inbox == tmp_path / "data" / "inbox"
    assert cfg.paths.state == tmp_path / "data" / "state"
    assert cfg.recipients.keys == [PUB]
    assert cfg.retention.on_success == "delete"
    s = cfg.pipeline_settings()
    assert s.max_document_tokens == cfg.limits.max_document_tokens
    assert s.threads == cfg.service.threads


def test_unknown_key_names_key_file_line_and_suggests(tmp_path):
    p = write(tmp_path, '[paths]\nroot = "/x"\n\n[watch]\nsettle_secnds = 3\n')
    with pytest.raises(ConfigError) as e:
        load_config(p, env={})
    msg = str(e.value)
    assert str(p) in msg
    assert "watch.settle_secnds (line 5): unknown key (did you mean 'settle_seconds'?)" in msg


def test_unknown_section(tmp_path):
    p = write(tmp_path, "[pathz]\ninbox = '/x'\n")
    msg = str(pytest.raises(ConfigError, load_config, p, env={}).value)
    assert "pathz (line 1): unknown key (did you mean 'paths'?)" in msg


def test_bad_values_are_all_reported_with_value(tmp_path):
    p = write(
        tmp_path,
        "[limits]\nmax_file_bytes = -1\n[retention]\non_success = 'shred'\n[retries]\nmax_attempts = 'x'\n",
    )
    msg = str(pytest.raises(ConfigError, load_config, p, env={}).value)
    assert "3 errors" in msg
    assert "limits.max_file_bytes (line 2): Input should be greater than 0 (got -1)" in msg
    assert "retention.on_success (line 4)" in msg and "'shred'" in msg
    assert "retries.max_attempts (line 6)" in msg


def test_pipeline_settings_validated_inside(tmp_path):
    p = write(tmp_path, "[pipeline]\nstrategy = 'magic'\ntranslate = { fa = 'sometimes' }\n")
    msg = str(pytest.raises(ConfigError, load_config, p, env={}).value)
    assert "pipeline.strategy (line 2)" in msg
    assert "pipeline.translate.fa (line 3)" in msg


def test_one_place_per_setting(tmp_path):
    p = write(tmp_path, "[pipeline]\nthreads = 2\n")
    msg = str(pytest.raises(ConfigError, load_config, p, env={}).value)
    assert "set service.threads instead" in msg


def test_invalid_toml_has_line(tmp_path):
    p = write(tmp_path, "[paths]\nroot = /no/quotes\n")
    msg = str(pytest.raises(ConfigError, load_config, p, env={}).value)
    assert str(p) in msg and "not valid TOML" in msg and "line 2" in msg


def test_missing_file(tmp_path):
    msg = str(pytest.raises(ConfigError, load_config, tmp_path / "nope.toml", env={}).value)
    assert "config file not found" in msg and "nope.toml" in msg


def test_config_from_env_var_path(tmp_path):
    p = write(tmp_path, "[paths]\nroot = '/srv/a'\n")
    cfg = load_config(None, env={"APPLIANCE_CONFIG": str(p)})
    assert cfg.paths.root == Path("/srv/a")


def test_env_overrides(tmp_path):
    p = write(tmp_path, "[paths]\nroot = '/srv/a'\n[watch]\nsettle_seconds = 9\n")
    env = {
        "APPLIANCE_PATHS__INBOX": "/drop",
        "APPLIANCE_WATCH__SETTLE_SECONDS": "2.5",
        "APPLIANCE_watch__use_inotify": "false",
        "APPLIANCE_RECIPIENTS__KEYS": f'["{PUB}"]',
        "APPLIANCE_PIPELINE__TRANSLATE__FA": "auto",
        "APPLIANCE_DEBUG": "1",  # not an override (no double underscore)
        "APPLIANCE_MODELS_DIR": "/m",
    }
    cfg = load_config(p, env=env)
    assert cfg.paths.inbox == Path("/drop")
    assert cfg.watch.settle_seconds == 2.5
    assert cfg.watch.use_inotify is False
    assert cfg.recipients.keys == [PUB]
    assert cfg.pipeline.translate["fa"] == "auto"


def test_env_errors_name_the_variable(tmp_path):
    p = write(tmp_path, "")
    msg = str(
        pytest.raises(ConfigError, load_config, p, env={"APPLIANCE_LIMITS__MAX_FILE_BYTES": "lots"}).value
    )
    assert "limits.max_file_bytes (environment variable APPLIANCE_LIMITS__MAX_FILE_BYTES)" in msg
    msg = str(pytest.raises(ConfigError, load_config, p, env={"APPLIANCE_PATHS__INBX": "/x"}).value)
    assert (
        "paths.inbx (environment variable APPLIANCE_PATHS__INBX): unknown key (did you mean 'inbox'?)" in msg
    )


def test_recipient_key_shape(tmp_path):
    secret, _ = generate_identity()
    p = write(tmp_path, f'[recipients]\nkeys = ["{secret}"]\n')
    msg = str(pytest.raises(ConfigError, load_config, p, env={}).value)
    assert "secret key" in msg and "AGE-SECRET" not in msg.replace(
        "AGE-SECRET-KEY-", ""
    )  # never echoes the key
    assert secret not in msg
    p = write(tmp_path, '[recipients]\nkeys = ["age1tooshort"]\n')
    assert "not an age X25519 public key" in str(pytest.raises(ConfigError, load_config, p, env={}).value)


def test_folders_must_differ(tmp_path):
    p = write(tmp_path, "[paths]\ninbox = '/a'\noutbox = '/a'\n")
    assert "same folder" in str(pytest.raises(ConfigError, load_config, p, env={}).value)
    p = write(tmp_path, "[paths]\ninbox = '/a'\nwork = '/a/work'\n")
    assert "must not be inside the inbox" in str(pytest.raises(ConfigError, load_config, p, env={}).value)


def test_locate_key():
    text = "[paths]\nroot = 1\n\n[pipeline]\ntranslate = { fa = 'x' }\n[pipeline.extra]\nk = 1\n"
    assert locate_key(text, ("paths", "root")) == 2
    assert locate_key(text, ("pipeline", "translate", "fa")) == 5
    assert locate_key(text, ("pipeline", "extra", "k")) == 7
    assert locate_key(text, ("nothing",)) is None


def test_backoff():
    from appliance.config import RetriesConfig

    r = RetriesConfig(backoff_seconds=10, backoff_factor=3, backoff_max_seconds=60)
    assert [r.delay(n) for n in (1, 2, 3)] == [10, 30, 60]


# ------------------------------------------------------------------------------------------ docs


def test_configuration_doc_is_generated_and_current():
    from appliance.docsync import stale

    doc = REPO / "docs" / "configuration.md"
    assert doc.exists()
    assert not [p for p in stale() if p.name == "configuration.md"], "run: python -m appliance.docsync"


def test_every_option_is_documented():
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for section, model in SECTIONS.items():
        assert f"`[{section}]`" in text
        for name in model.model_fields:
            if section == "pipeline" and name in ("max_document_tokens", "threads"):
                continue
            assert re.search(rf"\| `{name}` \|", text), f"{section}.{name} missing from docs/configuration.md"
    assert render_reference() in text


def test_example_config_is_valid(tmp_path):
    example = REPO / "systemd" / "config.toml"
    cfg = load_config(example, env={"APPLIANCE_RECIPIENTS__KEYS": f'["{PUB}"]'})
    assert isinstance(cfg, ApplianceConfig)
    assert cfg.paths.root == Path("/var/lib/appliance")


# ------------------------------------------------------------------------------------------ output formats


def test_output_formats_default_and_validation(tmp_path):
    assert load_config(write(tmp_path, ""), env={}).output.formats == ["native"]
    p = write(tmp_path, "[paths]\nroot = '/x'\n[output]\nformats = ['native', 'hl7v2']\n")
    msg = str(pytest.raises(ConfigError, load_config, p, env={}).value)
    assert "output.formats (line 4): unknown output format 'hl7v2' (known: native, fhir)" in msg
    p = write(tmp_path, "[output]\nformats = []\n")
    msg = str(pytest.raises(ConfigError, load_config, p, env={}).value)
    assert "at least one output format is needed (known: native, fhir)" in msg
    p = write(tmp_path, "[output]\nformats = ['native', 'native']\n")
    assert "listed twice" in str(pytest.raises(ConfigError, load_config, p, env={}).value)
    env = {"APPLIANCE_OUTPUT__FORMATS": '["csv"]'}
    msg = str(pytest.raises(ConfigError, load_config, write(tmp_path, ""), env=env).value)
    assert "output.formats (environment variable APPLIANCE_OUTPUT__FORMATS): unknown output format 'csv'" in (
        msg
    )


def test_output_registry_refuses_name_or_suffix_collisions():
    from dataclasses import dataclass

    from appliance.outputs import REGISTRY, OutputRegistry
    from appliance.outputs.native import RENDERER

    @dataclass(frozen=True)
    class Other:
        name: str = "other"
        suffix: str = ".JSON"
        media_type: str = "application/json"

        def render(self, result, context) -> bytes:
            return b""

    reg = OutputRegistry()
    reg.register(RENDERER)
    with pytest.raises(ValueError, match="already registered"):
        reg.register(RENDERER)
    with pytest.raises(ValueError, match="already used by 'native'"):
        reg.register(Other())
    with pytest.raises(ValueError, match="must start with a dot"):
        reg.register(Other(suffix="csv"))
    reg.register(Other(suffix=".csv"))
    assert [r.name for r in reg.select(["other", "native"])] == ["other", "native"]
    assert REGISTRY.names() == ["native", "fhir"]
    assert (RENDERER.suffix, RENDERER.media_type) == (".json", "application/json")
