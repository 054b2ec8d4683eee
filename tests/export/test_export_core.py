"""Export core: tiny checkpoints through the real builder, genai generation, fidelity, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from appliance.bundle import read_manifest, verify_bundle

pytest.importorskip("torch", reason="export extras (torch, transformers) not installed")
pytest.importorskip("transformers", reason="export extras (torch, transformers) not installed")

SCHEMA = {
    "type": "object",
    "properties": {"pain": {"type": "boolean"}, "fever": {"type": "boolean"}},
    "required": ["pain", "fever"],
    "additionalProperties": False,
}


def _guided_json(bundle: Path, prompt_ids: list[int]) -> dict:
    import onnxruntime_genai as og

    model = og.Model(str(bundle))
    tok = og.Tokenizer(model)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(prompt_ids) + 64, do_sample=False)
    params.set_guidance("json_schema", json.dumps({**SCHEMA, "x-guidance": {"whitespace_flexible": False}}), True)
    gen = og.Generator(model, params)
    gen.append_tokens(prompt_ids)
    while not gen.is_done():
        gen.generate_next_token()
    text = tok.decode(gen.get_sequence(0)[len(prompt_ids):])
    return json.loads(text)


def _chat_ids(bundle: Path, user: str) -> list[int]:
    """Render the bundle's own chat template and tokenize with the bundle's tokenizer."""
    import jinja2
    import onnxruntime_genai as og

    manifest = read_manifest(bundle)
    facts = manifest.tokens
    text = jinja2.Template(manifest.chat_template).render(
        messages=[{"role": "user", "content": user}], add_generation_prompt=True, bos_token=facts.bos_token or ""
    )
    model = og.Model(str(bundle))
    ids = list(og.Tokenizer(model).encode(text))
    return ids


@pytest.mark.parametrize("fixture", ["tiny_bundle", "tiny_llama_bundle"])
def test_tiny_int4_export_and_guided_json(fixture, request):
    bundle = request.getfixturevalue(fixture)
    manifest = verify_bundle(bundle)
    assert manifest.precision == "int4"
    assert manifest.execution_provider == "cpu"
    assert manifest.builder.options["prune_lm_head"] == "true"
    assert manifest.builder.options["block_size"] == "32"
    assert manifest.builder.onnxruntime_genai and manifest.builder.transformers
    assert manifest.source.format == "hf" and len(manifest.source.sha256) == 64
    assert manifest.source.id.startswith("tiny-random-")
    assert manifest.chat_template and "<|im_start|>" in manifest.chat_template
    assert manifest.context_length == 4096
    assert "<|im_end|>" in manifest.tokens.eos_tokens
    assert manifest.fidelity is not None and manifest.fidelity.positions > 100
    paths = {f.path for f in manifest.files}
    assert {"model.onnx", "genai_config.json", "tokenizer.json", "chat_template.jinja"} <= paths

    ids = _chat_ids(bundle, "The patient has back pain and no fever.")
    if manifest.tokens.add_bos:
        # genai's tokenizer adds no BOS of its own: the rendered template supplies exactly one.
        import onnxruntime_genai as og

        bos_id = list(og.Tokenizer(og.Model(str(bundle))).encode(manifest.tokens.bos_token))
        assert len(bos_id) == 1 and ids[0] == bos_id[0] and ids[1] != bos_id[0]
    answer = _guided_json(bundle, ids)
    assert set(answer) == {"pain", "fever"}
    assert all(isinstance(v, bool) for v in answer.values())


def test_token_facts_bos(tiny_bundle, tiny_llama_bundle):
    assert read_manifest(tiny_bundle).tokens.add_bos is False
    llama = read_manifest(tiny_llama_bundle).tokens
    assert llama.add_bos is True and llama.bos_token == "<|begin_of_text|>"


def test_fp32_export_matches_transformers(tiny_checkpoints, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from export.build import export_bundle
    from export.fidelity import onnx_logits

    src = tiny_checkpoints["qwen2"]
    out = tmp_path / "fp32"
    manifest = export_bundle(src, out, name="tiny-fp32", precision="fp32", min_top1=0.99, show_progress=False)
    assert manifest.fidelity.passed and manifest.fidelity.top1_agreement >= 0.99
    assert manifest.fidelity.logit_cosine > 0.9999

    ids = [1, 40, 41, 42, 43, 44, 45, 46, 47, 48, 2, 50, 60, 70]
    got = onnx_logits(out, ids, prefill=5)  # positions 4 .. 13: prefill, then token-by-token decode
    model = AutoModelForCausalLM.from_pretrained(str(src), dtype=torch.float32).eval()
    with torch.inference_mode():
        ref = model(torch.tensor([ids])).logits[0, 4:].numpy()
    scale = float(np.abs(ref).max())
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3 * max(scale, 1.0))


def _copy_src(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _no_leftovers(parent: Path, out: Path) -> None:
    assert not out.exists()
    assert not [p for p in parent.iterdir() if ".export-" in p.name and p.is_dir()]


@pytest.mark.parametrize(
    "remove, expected",
    [
        (["config.json"], "config.json"),
        (["tokenizer.json"], "tokenizer"),
        (["model.safetensors"], "weights"),
        (["chat_template.jinja"], "chat template"),
    ],
)
def test_missing_source_files_are_named(tiny_checkpoints, tmp_path, remove, expected):
    from export import ExportError
    from export.build import export_bundle

    src = _copy_src(tiny_checkpoints["qwen2"], tmp_path / "src")
    for name in remove:
        (src / name).unlink()
    out = tmp_path / "out"
    with pytest.raises(ExportError) as e:
        export_bundle(src, out, name="x", show_progress=False)
    assert expected in str(e.value)
    assert str(src) in str(e.value)
    _no_leftovers(tmp_path, out)


def test_chat_template_can_be_supplied(tiny_checkpoints, tmp_path):
    from export.build import export_bundle
    from export.tiny import CHATML_TEMPLATE

    src = _copy_src(tiny_checkpoints["qwen2"], tmp_path / "src")
    (src / "chat_template.jinja").unlink()
    tpl = tmp_path / "t.jinja"
    tpl.write_text(CHATML_TEMPLATE)
    m = export_bundle(src, tmp_path / "out", name="x", chat_template=tpl, fidelity=False, show_progress=False)
    assert m.chat_template == CHATML_TEMPLATE
    assert m.fidelity is None
    verify_bundle(tmp_path / "out")


def test_fidelity_gate_refuses_and_leaves_nothing(tiny_checkpoints, tmp_path):
    from export import FidelityError
    from export.build import export_bundle

    out = tmp_path / "out"
    with pytest.raises(FidelityError) as e:
        # A random model at INT4 agrees with itself on ~65 % of positions: a 99 % gate must refuse it.
        export_bundle(tiny_checkpoints["qwen2"], out, name="x", min_top1=0.99, show_progress=False)
    assert "fidelity gate failed" in str(e.value)
    assert e.value.fidelity is not None and not e.value.fidelity.passed
    _no_leftovers(tmp_path, out)


def test_existing_output_is_refused_without_force(tiny_bundle, tiny_checkpoints):
    from export import ExportError
    from export.build import export_bundle

    before = read_manifest(tiny_bundle).content_hash
    with pytest.raises(ExportError, match="already exists"):
        export_bundle(tiny_checkpoints["qwen2"], tiny_bundle, name="x", show_progress=False)
    assert read_manifest(tiny_bundle).content_hash == before


def test_cli_build(tiny_checkpoints, tmp_path):
    from export.cli import main

    out = tmp_path / "cli-bundle"
    runner = CliRunner()
    r = runner.invoke(main, ["build", str(tiny_checkpoints["llama"]), str(out), "--precision", "int8",
                             "--block-size", "16", "--min-top1", "0", "--source-id", "test/tiny-llama"])
    assert r.exit_code == 0, r.output
    assert "fidelity top-1 agreement" in r.output
    m = verify_bundle(out)
    assert m.name == "cli-bundle" and m.precision == "int8" and m.builder.options["block_size"] == "16"
    assert m.source.id == "test/tiny-llama"
    # A second run without --force is a one-line error, not a traceback.
    r = runner.invoke(main, ["build", str(tiny_checkpoints["llama"]), str(out)])
    assert r.exit_code == 1 and "already exists" in r.output and "Traceback" not in r.output


def test_cli_build_missing_tokenizer_is_one_line(tiny_checkpoints, tmp_path):
    from export.cli import main

    src = _copy_src(tiny_checkpoints["qwen2"], tmp_path / "src")
    (src / "tokenizer.json").unlink()
    r = CliRunner().invoke(main, ["build", str(src), str(tmp_path / "out")])
    assert r.exit_code == 1
    assert "Error:" in r.output and "tokenizer.json" in r.output


@pytest.mark.slow
def test_default_bundle_smollm2(default_bundle):
    m = verify_bundle(default_bundle)
    assert m.name == "smollm2-135m-instruct"
    assert m.source.format == "gguf" and m.source.id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert m.architecture == "llama" and m.tokens.add_bos is False
    assert m.tokens.bos_token == "<|im_start|>" and "<|im_end|>" in m.tokens.eos_tokens
    assert m.fidelity is not None and m.fidelity.passed
    ids = _chat_ids(default_bundle, "My father has severe pain in his back but no fever.")
    answer = _guided_json(default_bundle, ids)
    assert set(answer) == {"pain", "fever"}


@pytest.mark.slow
def test_default_command_is_idempotent(default_bundle):
    from export.cli import main

    r = CliRunner().invoke(main, ["default", "--models-dir", str(default_bundle.parent)])
    assert r.exit_code == 0, r.output
    assert "already installed and verified" in r.output
