"""The architecture registry (export/arch/registry.py): one record per export/arch module, read by all.

What it pins: every record's tiny recipe goes through the real export; the token facts and BOS decision
that build and fine-tuning take from the records (Gemma 3: add_bos); a new record is picked up by the
builder patches, build, fine-tuning and the tiny checkpoints without touching them.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from export.arch import (
    Architecture,
    TinySpec,
    architecture_for,
    needs_bos,
    registry,
    tiny_recipes,
    token_facts_overrides,
)
from export.arch.record import CHATML_BOS_TEMPLATE, CHATML_TEMPLATE
from export.build import add_bos_for

ARCH_DIR = Path(registry.__file__).parent
# Not architectures: the record types, the registry and the builder access.
NOT_RECORDS = {"__init__", "record", "registry", "_builder", "builder"}

# What the exported manifest says about BOS for each tiny recipe (see docs/export.md, token facts).
ADD_BOS = {"qwen2": False, "llama": True, "gemma3": True, "cohere": True, "cohere-noqk": True}


def test_one_record_per_module_all_registered():
    modules = sorted(p.stem for p in ARCH_DIR.glob("*.py") if p.stem not in NOT_RECORDS)
    assert sorted(r.name for r in registry.ARCHITECTURES) == modules
    for name in modules:
        module = __import__(f"export.arch.{name}", fromlist=["ARCHITECTURE"])
        assert module.ARCHITECTURE in registry.ARCHITECTURES and module.ARCHITECTURE.name == name


def test_arch_modules_never_import_tiny():
    """The old cycle export.arch <-> export.tiny: records import only export.arch.record."""
    for path in ARCH_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.level == 2 and node.module in (None, "tiny", "build", "finetune")), path.name
                assert node.module not in ("export.tiny", "export.build", "export.finetune"), path.name


def test_lookup_by_architecture_then_model_type():
    assert architecture_for({"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text"}).name == "gemma3"
    assert architecture_for({"model_type": "gemma3"}).name == "gemma3"
    assert architecture_for({"architectures": ["Gemma2ForCausalLM"]}).name == "gemma"
    assert architecture_for({"architectures": ["CohereForCausalLM"], "model_type": "cohere"}).name == "cohere"
    assert architecture_for({"architectures": ["MistralForCausalLM"], "model_type": "mistral"}) is None
    assert architecture_for({}) is None


def test_token_facts_and_bos_from_the_records():
    gemma3 = {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text"}
    assert token_facts_overrides(gemma3) == {"add_bos": True}
    # The model types export/build.py's ARCH_HOOKS marked needs_bos before the registry.
    for model_type in ("gemma", "gemma2", "gemma3", "gemma3_text"):
        assert needs_bos({"model_type": model_type}), model_type
    for model_type in ("qwen2", "llama", "cohere", "mistral"):
        assert not needs_bos({"model_type": model_type}), model_type
    # add_bos: a BOS the template does not write literally, asked for by the template or the architecture.
    assert add_bos_for("<bos>", CHATML_TEMPLATE, {"model_type": "gemma"})
    assert not add_bos_for("<bos>", CHATML_TEMPLATE, {"model_type": "qwen2"})
    assert add_bos_for("<s>", CHATML_BOS_TEMPLATE, {"model_type": "qwen2"})
    assert not add_bos_for("<|im_start|>", CHATML_TEMPLATE, {"model_type": "llama"})  # SmolLM2: literal BOS
    assert not add_bos_for(None, CHATML_BOS_TEMPLATE, {"model_type": "gemma"})
    assert add_bos_for(None, CHATML_TEMPLATE, gemma3)  # Gemma 3's record forces it


def test_builder_patches_come_from_the_records():
    assert set(registry.class_patches()) == {"Gemma3Model"}
    assert set(registry.builder_classes()) == {"CohereForCausalLM"}


def test_tiny_recipe_names_are_unique(monkeypatch):
    assert set(tiny_recipes()) == set(ADD_BOS)
    twin = Architecture(name="twin", tiny={"qwen2": tiny_recipes()["qwen2"]})
    monkeypatch.setattr(registry, "ARCHITECTURES", registry.ARCHITECTURES + (twin,))
    with pytest.raises(ValueError, match="'qwen2' is defined twice"):
        tiny_recipes()


class _Tok:
    bos_token = "<|endoftext|>"


def test_a_new_record_is_picked_up(tmp_path, monkeypatch):
    """One new record (here injected; in the tree: a module + one line in registry.py) reaches every reader."""
    from export.arch import qwen2
    from export.finetune import runtime_add_bos

    def make_class(b, original):
        return original

    new = Architecture(
        name="newarch",
        hf_architectures=("NewArchForCausalLM",),
        model_types=("newarch",),
        class_patches={"NewArchModel": make_class},
        needs_bos=True,
        token_facts={"pad_token": "<pad>"},
        tiny={"newarch": TinySpec(make_config=qwen2.tiny_config, model_class="Qwen2ForCausalLM")},
    )
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"architectures": ["NewArchForCausalLM"], "model_type": "newarch"}))
    (hf / "chat_template.jinja").write_text(CHATML_TEMPLATE)
    config = json.loads((hf / "config.json").read_text())
    assert not runtime_add_bos(hf, _Tok()) and not add_bos_for(_Tok.bos_token, CHATML_TEMPLATE, config)

    monkeypatch.setattr(registry, "ARCHITECTURES", registry.ARCHITECTURES + (new,))
    assert architecture_for(config) is new
    assert runtime_add_bos(hf, _Tok())  # fine-tuning
    assert add_bos_for(_Tok.bos_token, CHATML_TEMPLATE, config)  # build's token facts
    assert token_facts_overrides(config) == {"pad_token": "<pad>"}
    assert registry.class_patches()["NewArchModel"] is make_class  # the builder
    assert tiny_recipes()["newarch"] is new.tiny["newarch"]  # appliance-export tiny


@pytest.mark.parametrize("recipe", sorted(ADD_BOS))
def test_every_tiny_recipe_exports(recipe, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from appliance.bundle import verify_bundle
    from export.build import export_bundle
    from export.tiny import build_tiny_checkpoint

    src = build_tiny_checkpoint(recipe, tmp_path / "src")
    config = json.loads((src / "config.json").read_text())
    assert architecture_for(config) is not None
    manifest = export_bundle(src, tmp_path / "bundle", name=f"tiny-{recipe}", precision="int4", fidelity=False,
                             show_progress=False)
    assert verify_bundle(tmp_path / "bundle") == manifest
    assert manifest.architecture == config["model_type"]
    assert manifest.tokens.add_bos is ADD_BOS[recipe]
