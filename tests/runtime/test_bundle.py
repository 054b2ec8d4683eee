"""Bundle verification on a real exported bundle: any difference is refused, naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from appliance.bundle import (
    DEFAULT_BUNDLE,
    MANIFEST_NAME,
    read_manifest,
    resolve_bundle,
    scan_files,
    verify_bundle,
)
from appliance.errors import BundleError
from tests.support.paths import REPO


@pytest.fixture
def bundle(tiny_bundle, tmp_path) -> Path:
    """A private copy of the session's tiny bundle, free to damage."""
    dst = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, dst)
    return dst


def test_fresh_bundle_verifies(bundle):
    m = verify_bundle(bundle)
    assert [f.path for f in m.files] == [f.path for f in scan_files(bundle)]
    assert m.content_hash == read_manifest(bundle).content_hash
    # The manifest is complete: every field the runtime relies on is filled in.
    assert m.manifest_version == 1 and m.kind == "decoder" and m.role == "extractor"
    assert m.architecture == "qwen2" and m.precision == "int4" and m.execution_provider == "cpu"
    assert m.chat_template and m.context_length > 0 and m.fidelity is not None
    assert m.builder.onnxruntime and m.builder.onnxruntime_genai and m.builder.transformers


@pytest.mark.parametrize("name", ["model.onnx.data", "model.onnx", "tokenizer.json", "genai_config.json"])
def test_one_flipped_byte_is_refused_naming_the_file(bundle, name):
    path = bundle / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError) as e:
        verify_bundle(bundle)
    assert f"'{name}'" in str(e.value) and "sha256" in str(e.value)
    # A size-only check cannot see a flipped byte; the full check is the default for that reason.
    verify_bundle(bundle, full=False)


def test_truncated_file_is_refused_even_by_the_quick_check(bundle):
    path = bundle / "model.onnx.data"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(BundleError, match="'model.onnx.data' has size"):
        verify_bundle(bundle, full=False)


def test_missing_file_is_refused(bundle):
    (bundle / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match="'tokenizer.json' listed in the manifest is missing"):
        verify_bundle(bundle)


@pytest.mark.parametrize("extra", ["extra.onnx", "sub/other.onnx", "model2.onnx.data", "genai_config.override.json"])
def test_unlisted_model_file_is_refused(bundle, extra):
    p = bundle / extra
    p.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(bundle / "model.onnx", p)
    with pytest.raises(BundleError) as e:
        verify_bundle(bundle)
    assert "is not listed in the manifest" in str(e.value)
    assert Path(extra).name in str(e.value)


def test_unlisted_harmless_file_is_tolerated(bundle):
    (bundle / "README.txt").write_text("copied by hand\n")
    verify_bundle(bundle)


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_unsupported_manifest_version_is_refused(bundle, version):
    path = bundle / MANIFEST_NAME
    raw = json.loads(path.read_text())
    if version is None:
        del raw["manifest_version"]
    else:
        raw["manifest_version"] = version
    path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="manifest_version .* is not supported"):
        verify_bundle(bundle)


def test_manifest_that_is_not_json_is_refused(bundle):
    (bundle / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(BundleError, match="is not valid JSON"):
        verify_bundle(bundle)


def test_manifest_with_unknown_field_is_refused(bundle):
    path = bundle / MANIFEST_NAME
    raw = json.loads(path.read_text())
    raw["surprise"] = 1
    path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="invalid manifest at 'surprise'"):
        verify_bundle(bundle)


def test_manifest_hash_edit_is_refused(bundle):
    """Editing a hash in the manifest (instead of the file) is a mismatch too."""
    path = bundle / MANIFEST_NAME
    raw = json.loads(path.read_text())
    entry = next(f for f in raw["files"] if f["path"] == "model.onnx")
    entry["sha256"] = "0" * 64
    path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="'model.onnx' does not match"):
        verify_bundle(bundle)


def test_missing_manifest_says_what_to_do(bundle):
    (bundle / MANIFEST_NAME).unlink()
    with pytest.raises(BundleError, match="not an exported bundle"):
        verify_bundle(bundle)


def test_resolve_bundle_by_name_and_hint(bundle, tmp_path):
    assert resolve_bundle("bundle", models_dir=tmp_path) == tmp_path / "bundle"
    assert resolve_bundle(bundle) == bundle
    with pytest.raises(BundleError, match="appliance-export default"):
        resolve_bundle(DEFAULT_BUNDLE, models_dir=tmp_path / "none")


def test_content_hash_changes_with_any_file(bundle, tiny_bundle):
    a = read_manifest(tiny_bundle).content_hash
    m = read_manifest(bundle)
    assert m.content_hash == a
    changed = m.model_copy(update={"files": [*m.files[:-1], m.files[-1].model_copy(update={"sha256": "f" * 64})]})
    assert changed.content_hash != a


# --- catalogue and `appliance models` -------------------------------------------------------------



def test_catalogue_package_copy_matches_repository():
    from appliance.catalogue import packaged_catalogue_path

    assert packaged_catalogue_path().read_bytes() == (REPO / "models" / "catalogue.toml").read_bytes(), (
        "appliance/catalogue.toml differs from models/catalogue.toml: copy models/catalogue.toml over it"
    )


def test_catalogue_loads_with_the_study_models():
    from appliance.catalogue import load_catalogue

    cat = load_catalogue()
    ids = {m.id for m in cat.models}
    assert {"qwen2.5-7b-instruct", "qwen2.5-1.5b-instruct", "llama-3.1-8b-instruct", "llama-3.2-3b-instruct",
            "gemma-3-1b-it", "aya-expanse-8b", "smollm2-135m-instruct"} <= ids
    assert cat.default.id == DEFAULT_BUNDLE and cat.default.precision == "int8"
    assert any(m.kind == "seq2seq" and m.role == "translator" for m in cat.models)
    assert cat.get("aya-expanse-8b").role == "translator"
    assert cat.get("qwen2.5-7b-instruct").study["macro_f1"] == 0.899


def test_catalogue_errors_name_the_field(tmp_path):
    from appliance.catalogue import load_catalogue
    from appliance.errors import ConfigError

    bad = tmp_path / "c.toml"
    bad.write_text('schema_version = 1\n[[model]]\nid = "x"\n')
    with pytest.raises(ConfigError, match="invalid catalogue at 'model.0"):
        load_catalogue(bad)


def test_models_list_and_verify_cli(bundle, tmp_path):
    from click.testing import CliRunner

    from appliance.cli import main

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    shutil.copytree(bundle, models_dir / "tiny")
    runner = CliRunner()
    r = runner.invoke(main, ["models", "list", "--models-dir", str(models_dir)])
    assert r.exit_code == 0, r.output
    assert "qwen2.5-7b-instruct" in r.output and "appliance-export default" in r.output
    assert "tiny" in r.output and "not in catalogue; installed int4/cpu" in r.output

    r = runner.invoke(main, ["models", "verify", "tiny", "--models-dir", str(models_dir)])
    assert r.exit_code == 0 and "OK" in r.output, r.output

    data = models_dir / "tiny" / "model.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0xFF
    data.write_bytes(bytes(raw))
    r = runner.invoke(main, ["models", "verify", "tiny", "--models-dir", str(models_dir)])
    assert r.exit_code == 1
    assert "Error:" in r.output and "'model.onnx.data'" in r.output and "Traceback" not in r.output

    r = runner.invoke(main, ["models", "verify", "--models-dir", str(models_dir)])
    assert r.exit_code == 1 and "appliance-export default" in r.output
