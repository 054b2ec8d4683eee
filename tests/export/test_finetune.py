"""LoRA fine-tuning for the 'evidence' strategy, end to end on a tiny random checkpoint (seconds):
synthetic labelled documents -> examples in the runtime's prompt format -> LoRA steps -> merged
checkpoint -> exported bundle -> loaded and run by the daemon's own Pipeline.

The three documents below are synthetic, written for this test only; they are not evaluation data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.evaluate.split import split_of

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

SYNTHETIC = [
    (("Clinician: Any pain today?\nPatient: Yes, my lower back hurts a lot since Monday.\n"
     "Clinician: Any fever or cough?\nPatient: No fever. No cough either."),
     {"pain": True, "fever": False, "cough": False}),
    (("Clinician: How is your breathing?\nPatient: I get short of breath when I climb the stairs.\n"
     "Patient: And I have been coughing all week.\nClinician: Any pain?\nPatient: No pain at all."),
     {"dyspnea": True, "cough": True, "pain": False}),
    (("Clinician: Any fever?\nPatient: Yes, I had a fever of 38.5 last night.\n"
     "Clinician: Nausea or vomiting?\nPatient: I felt nauseous and vomited twice."),
     {"fever": True, "nausea_vomiting": True, "pain": False}),
]


HOLDOUT = 0.3


def _dev_ids(n: int) -> list[str]:
    """Development-split ids; with ``--holdout 0.3`` the first is held out, the others trained on."""
    from export.finetune import holdout_of

    ids, i = [], 0
    while len(ids) < n:
        cand = f"synthetic-{i}"
        if split_of(cand) == "dev" and holdout_of(cand, HOLDOUT) == (not ids):
            ids.append(cand)
        i += 1
    return ids


def _write_labelled(path: Path) -> list[dict]:
    from appliance.tasks import load_task

    keys = load_task("symptoms13").keys
    rows = []
    ids = _dev_ids(len(SYNTHETIC) + 1)
    for doc_id, (text, labels) in zip(ids, SYNTHETIC):
        rows.append({"id": doc_id, "language": "en", "text": text, "source_subset": "calls",
                     "labels": {k: bool(labels.get(k, False)) for k in keys}})
    # A 'dev' document of another part, left out by exclude={"source_subset": ["dictations"]}.
    rows.append({"id": ids[-1], "language": "en", "text": SYNTHETIC[1][0], "source_subset": "dictations",
                 "labels": {k: k in SYNTHETIC[1][1] and SYNTHETIC[1][1][k] for k in keys}})
    # A 'test'-split document that must never be trained on.
    i = 0
    while split_of(f"held-out-{i}") != "test":
        i += 1
    rows.append({"id": f"held-out-{i}", "language": "en", "text": SYNTHETIC[0][0], "source_subset": "calls",
                 "labels": {k: k == "pain" for k in keys}})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return rows



# llama: BOS added by the runtime, not the template text; all layers adapted, full forward passes.
# qwen2: a held-out document validated each epoch (best epoch kept), LoRA on the top layer only, whose
# inputs are cached (checked against the full model's logits before training).
@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_finetune_tiny_end_to_end(arch, tiny_checkpoints, tmp_path, monkeypatch):
    from appliance.document import Document
    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings
    from appliance.strategies import evidence as evidence_strategy
    from export.finetune import finetune

    data = tmp_path / "labelled.jsonl"
    rows = _write_labelled(data)
    out = tmp_path / "models" / "tiny-ft"
    extra = {"holdout": HOLDOUT, "lora_layers": 1} if arch == "qwen2" else {}
    logs: list[str] = []
    result = finetune(data, "symptoms13", tiny_checkpoints[arch], out, epochs=2, lora_r=4, batch_size=4,
                      precision="int4", min_top1=0.0, seed=1, show_progress=False, log=logs.append,
                      exclude={"source_subset": ["dictations"]}, **extra)

    rep = result.report
    # The test-split row is never used, the held-out one is not trained on, the excluded part is left out.
    trained = 2 if extra else 3
    assert rep["data"]["split"] == "dev" and rep["data"]["documents"] == trained
    if extra:
        train = rep["training"]
        assert rep["data"]["held_out_documents"] == 1 and rep["data"]["held_out_examples"] > 0
        assert [v["epoch"] for v in train["validation"]] == [0, 1, 2] and train["best_epoch"] in (0, 1, 2)
        assert train["top_layers_cached"], logs  # the cached top-layer path reproduced the full model
        assert all("_state" not in v for v in train["validation"])
        json.dumps(rep)  # the report stays plain JSON
    assert rep["data"]["examples"] > 0 and rep["training"]["steps"] >= 2
    assert rep["prompt"]["runtime_prompts_checked"] > 0  # runtime re-rendered the prompts: same token ids
    assert json.loads(result.report_path.read_text())["content_hash"] == result.manifest.content_hash
    assert result.manifest.name == "tiny-ft" and "LoRA" in (result.manifest.notes or "")
    assert not (out.parent / ".tiny-ft.finetune-hf").exists()  # merged HF work folder cleaned up

    # The bundle's own manifest says how it was made: base, data (and which split), prompt, settings.
    from appliance.bundle import verify_bundle
    from appliance.evaluate.data import file_sha256

    ft = verify_bundle(out).finetune
    assert ft is not None and ft.method == "lora" and ft.strategy == "evidence"
    assert ft.split == "dev" and ft.documents == trained and ft.data_sha256 == file_sha256(data)
    assert ft.data_file == "labelled.jsonl" and ft.base.startswith("tiny") and len(ft.base_sha256) == 64
    assert ft.hyperparameters["lora_r"] == 4 and ft.hyperparameters["epochs"] == 2
    assert ft.examples == rep["data"]["examples"] and ft.rules_sha256 == rep["rules_hash"]
    assert ft.excluded == rep["data"]["excluded"] == {"source_subset": ["dictations"]}
    assert "Without source_subset dictations." in (result.manifest.notes or "")
    assert result.manifest.fidelity is not None  # exported through the builder with the fidelity gate

    # The daemon's pipeline loads the bundle and asks it one question per feature with an excerpt.
    asked: list[tuple[str, str]] = []
    original = evidence_strategy.EvidenceStrategy._p_yes

    def spy(self, f, excerpt, language):
        asked.append((f.key, excerpt))
        return original(self, f, excerpt, language)

    monkeypatch.setattr(evidence_strategy.EvidenceStrategy, "_p_yes", spy)
    pipe = Pipeline.load(PipelineSettings(task="symptoms13", strategy="evidence", extractor=str(out), threads=1))
    res = pipe.process(Document(id=rows[0]["id"], text=rows[0]["text"], language="en"))
    assert {m.role for m in res.provenance.models} == {"extractor", "rules"}
    assert res.provenance.prompt_hash == ft.prompt_sha256  # the runtime asks exactly what was trained
    assert res.provenance.models[0].bundle_hash == result.manifest.content_hash
    assert all(fr.status == "extracted" for fr in res.features.values())
    excerpts = dict(asked)
    assert "back hurts" in excerpts["pain"]  # the rule-selected excerpt went to the fine-tuned model
    assert "insomnia" not in excerpts  # not mentioned: no model call
    assert all(0.0 <= res.features[k].score <= 1.0 for k in excerpts)
    pipe.close()



def test_examples_follow_the_runtime(tiny_checkpoints):
    """Examples skip features without excerpt, weights balance classes per feature, prompts end at the answer."""
    from transformers import AutoTokenizer

    from appliance.evaluate.data import LabelledDocument
    from appliance.tasks import load_task
    from export.finetune import PromptBuilder, balance_weights, build_examples, runtime_add_bos, subsample

    src = tiny_checkpoints["llama"]  # template starts with {{ bos_token }}: the runtime adds BOS
    tok = AutoTokenizer.from_pretrained(str(src))
    builder = PromptBuilder(tok, add_bos=runtime_add_bos(src, tok))
    assert builder.add_bos and builder.prefix_ids[0] == tok.bos_token_id
    docs = [LabelledDocument(id=f"d{i}", text=t, language="en", labels=lab) for i, (t, lab) in enumerate(SYNTHETIC)]
    data = build_examples(docs, load_task("symptoms13"), builder)
    keys = {(e.doc_id, e.feature) for e in data.examples}
    assert ("d0", "pain") in keys and ("d1", "dyspnea") in keys
    assert ("d0", "insomnia") not in keys  # not mentioned: no excerpt, no model call, no example
    gen = tok.encode("<|im_start|>assistant\n", add_special_tokens=False)
    assert all(e.ids[-len(gen):] == gen for e in data.examples)
    balance_weights(data.examples)
    for key in {e.feature for e in data.examples}:
        pos = sum(e.weight for e in data.examples if e.feature == key and e.label)
        neg = sum(e.weight for e in data.examples if e.feature == key and not e.label)
        if pos and neg:
            assert pos == pytest.approx(neg, rel=1e-6)
    small = subsample(data.examples, 3, seed=0)
    assert len(small) == 3 and len({(e.feature, e.label) for e in small}) == 3


def test_exclude_leaves_out_a_part_and_refuses_unknown_values(tmp_path):
    """``exclude`` (``--exclude FIELD=VALUE``) drops the documents of that part; a value no document has, or
    a field a document lacks, is refused before any model is loaded (a typo would train on everything)."""
    from appliance.evaluate.data import load_labelled
    from export import ExportError
    from export.finetune import exclude_documents, finetune

    data = tmp_path / "labelled.jsonl"
    rows = _write_labelled(data)
    docs = load_labelled(data)
    kept = exclude_documents(docs, data, {"source_subset": ["dictations"]}, log=lambda m: None)
    assert [d.id for d in kept] == [r["id"] for r in rows if r["source_subset"] != "dictations"]
    with pytest.raises(ExportError, match="no document has that value"):
        finetune(data, "symptoms13", tmp_path / "no-model", tmp_path / "out", exclude={"source_subset": ["aci"]})
    with pytest.raises(ExportError, match="no 'speaker_count'"):
        finetune(data, "symptoms13", tmp_path / "no-model", tmp_path / "out", exclude={"speaker_count": ["2"]})
    assert not (tmp_path / "out").exists()


def test_cli_exclude_takes_field_equals_value(tmp_path):
    """``appliance-export finetune --exclude`` wants FIELD=VALUE (a bare value is a usage error, exit 2);
    VALUE may be a comma-separated list."""
    from click.testing import CliRunner

    from export.cli import main

    data = tmp_path / "labelled.jsonl"
    _write_labelled(data)
    r = CliRunner().invoke(main, ["finetune", "--data", str(data), "--task", "symptoms13", "--base", str(tmp_path),
                                  "--out", str(tmp_path / "out"), "--exclude", "aci"])
    assert r.exit_code == 2 and "FIELD=VALUE" in r.output
    # VALUE may list several parts; leaving out every one is refused before any model is loaded.
    r = CliRunner().invoke(main, ["finetune", "--data", str(data), "--task", "symptoms13", "--base", str(tmp_path),
                                  "--out", str(tmp_path / "out"), "--exclude", "source_subset=calls, dictations"])
    assert r.exit_code != 0 and "after --exclude" in r.output, r.output
