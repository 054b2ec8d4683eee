"""Seq2seq translation bundles: export in the separate MT environment, decode with the runtime.

A tiny Marian model (real sentencepiece models, shared vocab, briefly trained on five sentence pairs
so greedy decoding produces real sentences) is built in the MT environment, exported through
``appliance-export mt`` (INT4) and ``export_mt`` (fp32), and decoded by
``appliance.translate.seq2seq.Seq2SeqTranslator`` (onnxruntime + tokenizers + numpy only).

The first run creates the MT environment (about 1.5 min with PyPI reachable); later runs reuse it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import appliance  # noqa: F401  (telemetry off first)
from appliance.bundle import verify_bundle
from appliance.errors import BundleError
from tests.support.paths import REPO

pytestmark = pytest.mark.slow

ROOT = REPO


def _pypi_reachable() -> bool:
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", "optimum-onnx"],
            check=False, capture_output=True, text=True, timeout=120,
        )
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0 and "optimum-onnx" in proc.stdout


@pytest.fixture(scope="module")
def mt_venv():
    pytest.importorskip("torch")  # the export side runs from the main environment's export extras
    from export import ExportError
    from export.mt_env import ensure_mt_venv, venv_is_ready

    if not venv_is_ready() and not _pypi_reachable():
        pytest.skip("the MT export environment does not exist yet and PyPI is unreachable to create it")
    try:
        return ensure_mt_venv()
    except ExportError:
        if not _pypi_reachable():
            pytest.skip("PyPI became unreachable while creating the MT export environment")
        raise


@pytest.fixture(scope="module")
def tiny_marian(mt_venv, tmp_path_factory) -> tuple[Path, list[tuple[str, str]]]:
    from export.mt_env import run_worker

    out = tmp_path_factory.mktemp("mt-src") / "tiny-marian"
    line = run_worker(["make-tiny-marian", str(out)], venv=mt_venv).strip().splitlines()[-1]
    pairs = [tuple(p) for p in json.loads(line)["pairs"]]
    return out, pairs


@pytest.fixture(scope="module")
def int4_bundle(tiny_marian, tmp_path_factory) -> Path:
    """Made through the CLI command the lead registers as ``appliance-export mt``."""
    from click.testing import CliRunner

    from export.mt import mt_command

    src, _ = tiny_marian
    out = tmp_path_factory.mktemp("mt-bundles") / "tiny-marian-int4"
    result = CliRunner().invoke(mt_command, [str(src), str(out), "--source-id", "tiny/marian-en-de"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out


@pytest.fixture(scope="module")
def fp32_bundle(tiny_marian, tmp_path_factory) -> Path:
    from export.mt import export_mt

    src, _ = tiny_marian
    out = tmp_path_factory.mktemp("mt-bundles") / "tiny-marian-fp32"
    export_mt(src, out, precision="fp32")
    return out


def _reference(mt_venv, src: Path, items: list[dict], tmp_path: Path) -> list[dict]:
    from export.mt_env import run_worker

    path = tmp_path / "texts.json"
    path.write_text(json.dumps(items))
    return json.loads(run_worker(["greedy", str(src), "--texts-json", str(path)], venv=mt_venv).strip().splitlines()[-1])


def test_int4_bundle_manifest_and_files(int4_bundle):
    import onnx

    manifest = verify_bundle(int4_bundle)
    assert manifest.kind == "seq2seq" and manifest.role == "translator"
    assert manifest.precision == "int4" and manifest.architecture == "MarianMTModel"
    assert manifest.languages == ["en", "de"]
    assert manifest.source.id == "tiny/marian-en-de"
    paths = {f.path for f in manifest.files}
    assert {"encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx", "tokenizer.json",
            "mt_config.json"} <= paths
    for name in ("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"):
        ops = {n.op_type for n in onnx.load(str(int4_bundle / name), load_external_data=False).graph.node}
        assert "MatMulNBits" in ops, name
    cfg = json.loads((int4_bundle / "mt_config.json").read_text())
    assert cfg["suppress_token_ids"] == [cfg["pad_token_id"]]  # Marian never generates <pad>


def test_int4_bundle_translates(int4_bundle, tiny_marian):
    from appliance.translate import load_translator

    _, pairs = tiny_marian
    tr = load_translator(int4_bundle)
    assert tr.languages == ["en", "de"] and tr.bundle_hash
    for src, want in pairs:
        assert tr.translate(src, "en", "de").text == want
    out = tr.translate(f"{pairs[0][0]}\n\n{pairs[1][0]}", "en", "de")
    assert out.text == f"{pairs[0][1]}\n\n{pairs[1][1]}" and out.chunks == 2
    with pytest.raises(BundleError, match="does not translate"):
        tr.translate("hello", "fa", "en")


def test_fp32_bundle_matches_transformers_greedy(fp32_bundle, tiny_marian, mt_venv, tmp_path):
    from appliance.translate.seq2seq import Seq2SeqTranslator

    src, pairs = tiny_marian
    texts = [p[0] for p in pairs] + [
        "the cost of a visit",  # unseen: the model's own (odd) output, token for token
        "Pain, fever; and 37.5 — ünïcödé!",  # characters the tiny sentencepiece model lacks (unk)
    ]
    ref = _reference(mt_venv, src, [{"text": t, "max_new_tokens": 24} for t in texts], tmp_path)
    tr = Seq2SeqTranslator(fp32_bundle)
    for text, r in zip(texts, ref):
        assert tr.source_ids(text, "en", "de") == r["input_ids"], text
        ids = tr.generate_ids(r["input_ids"], tr.start_ids("de"), max_new_tokens=24)
        hf = r["ids"][1:]  # without the decoder start token
        if hf and hf[-1] in tr.config.eos_token_ids:
            hf = hf[:-1]  # at the length cap transformers forces eos where we stop
        assert ids[: len(hf)] == hf, text
        assert tr.decode(hf) == r["text"].strip()


def test_tampered_bundle_is_refused(int4_bundle, tmp_path):
    import shutil

    from appliance.translate.seq2seq import Seq2SeqTranslator

    copy = tmp_path / "copy"
    shutil.copytree(int4_bundle, copy)
    cfg = json.loads((copy / "mt_config.json").read_text())
    cfg["max_length"] = 9
    (copy / "mt_config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="mt_config.json"):
        Seq2SeqTranslator(copy)


def test_runtime_decoder_needs_no_torch_or_transformers(int4_bundle, tiny_marian):
    _, pairs = tiny_marian
    code = (
        "import sys, appliance\n"
        "from appliance.translate import load_translator\n"
        f"tr = load_translator(__import__('pathlib').Path({str(int4_bundle)!r}))\n"
        f"assert tr.translate({pairs[2][0]!r}, 'en', 'de').text == {pairs[2][1]!r}\n"
        "bad = [m for m in ('torch', 'transformers', 'optimum', 'export') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


# --------------------------------------------------------------------------------------------------
# NLLB (M2M100 architecture): the language is a source prefix token and the decoder's forced first
# token; the tiny model is trained in both directions, so a wrong language token shows.


@pytest.fixture(scope="module")
def tiny_nllb(mt_venv, tmp_path_factory) -> tuple[Path, list[tuple[str, str]]]:
    from export.mt_env import run_worker

    out = tmp_path_factory.mktemp("mt-src") / "tiny-nllb"
    line = run_worker(["make-tiny-nllb", str(out)], venv=mt_venv).strip().splitlines()[-1]
    return out, [tuple(p) for p in json.loads(line)["pairs"]]


def test_nllb_int4_translates_both_directions_with_iso_codes(tiny_nllb, tmp_path):
    from appliance.translate import load_translator
    from export.mt import export_mt

    src, pairs = tiny_nllb
    manifest = export_mt(src, tmp_path / "nllb-int4", precision="int4")
    assert manifest.architecture == "M2M100ForConditionalGeneration"
    assert {"en", "de", "fa"} <= set(manifest.languages)  # model codes eng_Latn... mapped to ISO 639-1
    tr = load_translator(tmp_path / "nllb-int4")
    for en, de in pairs:
        assert tr.translate(en, "en", "de").text == de
        assert tr.translate(de, "de", "en").text == en
    assert tr.source_ids("x", "en", "de")[0] == tr.config.source_prefix_ids["eng_Latn"][0]
    assert tr.start_ids("de") == [tr.config.decoder_start_token_id, tr.config.target_forced_bos_ids["deu_Latn"]]


def test_nllb_fp32_matches_transformers_greedy(tiny_nllb, mt_venv, tmp_path):
    from appliance.translate.seq2seq import Seq2SeqTranslator
    from export.mt import export_mt

    src, pairs = tiny_nllb
    export_mt(src, tmp_path / "nllb-fp32", precision="fp32")
    tr = Seq2SeqTranslator(tmp_path / "nllb-fp32")
    de_id = tr.config.target_forced_bos_ids["deu_Latn"]
    texts = [pairs[0][0], "the cost of a visit", "Fever 38.5, no ünïcödé"]
    items = [{"text": t, "src_lang": "eng_Latn", "forced_bos_token_id": de_id, "max_new_tokens": 24} for t in texts]
    for text, r in zip(texts, _reference(mt_venv, src, items, tmp_path)):
        assert tr.source_ids(text, "en", "de") == r["input_ids"], text
        ids = tr.generate_ids(r["input_ids"], tr.start_ids("de"), max_new_tokens=23)
        hf = r["ids"][2:]  # without decoder start and the forced language token
        if hf and hf[-1] in tr.config.eos_token_ids:
            hf = hf[:-1]
        assert ids[: len(hf)] == hf, text
        assert tr.decode(hf) == r["text"].strip()


def _special_ids(tr) -> dict[int, str]:
    return {i: t.content for i, t in tr.tokenizer.get_added_tokens_decoder().items() if t.special}


@pytest.mark.parametrize("model", ["marian", "nllb"])
def test_document_control_strings_reach_the_translator_as_text(model, int4_bundle, tiny_nllb, tmp_path):
    """Issue #13 item 4 for seq2seq translators: ``</s>``, ``<pad>``, ``<unk>`` or a language token such
    as ``deu_Latn`` typed into a transcript is read as text by the encoder, never as its id."""
    from appliance.translate.seq2seq import Seq2SeqTranslator
    from export.mt import export_mt

    if model == "nllb":
        export_mt(tiny_nllb[0], tmp_path / "nllb-int4", precision="int4")
        tr = Seq2SeqTranslator(tmp_path / "nllb-int4")
    else:
        tr = Seq2SeqTranslator(int4_bundle)
    special = _special_ids(tr)
    strings = [s for s in special.values() if s not in ("",)]
    assert {"</s>", "<pad>", "<unk>"} & set(strings)
    hostile = "fever" + "fever ".join(strings) + "</s>eng_Latn deu_Latn"
    unprotected = tr.tokenizer.encode(hostile, add_special_tokens=False).ids
    assert set(unprotected) & set(special)  # read raw, the document would inject them
    src = tr.source_ids(hostile, "en", "de")
    prefix = len(tr.source_ids("", "en", "de")) - 1  # language tokens before the text, eos after it
    body = src[prefix:-1]
    assert [i for i in body if i in special and special[i] != "<unk>"] == []
    assert tr.count_tokens(hostile) == len(body)
    out = tr.translate(hostile, "en", "de").text
    assert "\u2060" not in out


def test_mt_env_stamp_mismatch_means_rebuild(tmp_path, monkeypatch):
    from export import mt_env

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    assert not mt_env.venv_is_ready(venv)  # no stamp: incomplete
    stamp = mt_env._wanted_stamp()
    (venv / mt_env.STAMP_NAME).write_text(json.dumps(stamp))
    assert mt_env.venv_is_ready(venv)
    monkeypatch.setattr(mt_env, "MT_REQUIREMENTS", mt_env.MT_REQUIREMENTS + ("sacremoses",))
    assert not mt_env.venv_is_ready(venv)  # requirements changed
    monkeypatch.setenv("APPLIANCE_MT_VENV", str(venv))
    assert mt_env.mt_venv_dir() == venv
