"""The translation stage through the daemon's own Pipeline, on real exported bundles.

A tiny random qwen2 exported with ``role="translator"`` is a real LLM translator bundle: what it
writes is noise, but every step (policy, detection, chunking by turns, generation in
onnxruntime-genai, the audit record in the result, evidence marked as coming from the translation)
runs for real. Translation quality itself is measured with ``appliance evaluate --translate``.
"""

from __future__ import annotations

import pytest

from appliance.document import Document
from appliance.errors import ConfigError
from appliance.translate import LlmTranslator, policy_for, should_translate

PERSIAN = ("پرستار: سلام، حال مادرتان امروز چطور است؟\n"
           "پسر: از دیشب تب دارد و خیلی ضعیف شده است.\n"
           "پرستار: درد دارد؟\n"
           "پسر: بله، کمرش خیلی درد می‌کند.")
ENGLISH = "Nurse: How is your mother today?\nSon: She has a fever and her back hurts a lot."


def test_policy_per_language_with_wildcard():
    policies = {"fa": "always", "nl": "never", "*": "auto"}
    assert policy_for("fa", policies) == "always"
    assert policy_for("nl", policies) == "never"
    assert policy_for("de", policies) == "auto"
    assert policy_for(None, policies) == "never"
    assert should_translate("fa", policies, supported=[])
    assert not should_translate("nl", policies, supported=["nl"])
    # 'auto' translates only what the translator says it supports (an empty list = anything).
    assert should_translate("de", policies, supported=["de", "fa"])
    assert not should_translate("tr", policies, supported=["de", "fa"])
    assert should_translate("tr", policies, supported=[])
    # English is the extraction language: never translated, whatever the policy says.
    assert not should_translate("en", {"*": "always"}, supported=[])


@pytest.fixture(scope="module")
def tiny_translator(tiny_checkpoints, tmp_path_factory):
    from export.build import export_bundle

    out = tmp_path_factory.mktemp("bundles") / "tiny-translator"
    manifest = export_bundle(tiny_checkpoints["qwen2"], out, name="tiny-translator", role="translator",
                             precision="int4", min_top1=0.0, show_progress=False)
    assert manifest.role == "translator"
    return out


def _pipeline(extractor, translator, policy):
    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings

    return Pipeline.load(PipelineSettings(task="palliative13", strategy="hybrid", extractor=str(extractor),
                                          translator=str(translator) if translator else None,
                                          translate=policy, languages=["en", "fa"]))


def test_translated_input_is_kept_for_audit(tiny_bundle, tiny_translator):
    pipe = _pipeline(tiny_bundle, tiny_translator, {"fa": "always"})
    try:
        res = pipe.process(Document(id="fa-1", text=PERSIAN))
        assert res.language == "fa" and res.language_detected
        tr = res.translation
        assert tr is not None
        assert (tr.source_language, tr.target_language) == ("fa", "en")
        assert tr.bundle == "tiny-translator" and len(tr.bundle_hash) == 64
        assert tr.chunks >= 1
        # The hybrid strategy records the rule pre-pass next to the two models.
        assert {m.role for m in res.provenance.models} == {"extractor", "translator", "rules"}
        assert len(res.features) == 13
        for fr in res.features.values():
            assert fr.status in ("extracted", "missing")
            assert all(ev.source == "translation" for ev in fr.evidence)
        # English input is never sent to the translator.
        en = pipe.process(Document(id="en-1", text=ENGLISH, language="en"))
        assert en.translation is None
    finally:
        pipe.close()


def test_policy_never_keeps_the_original(tiny_bundle, tiny_translator):
    pipe = _pipeline(tiny_bundle, tiny_translator, {"fa": "never"})
    try:
        res = pipe.process(Document(id="fa-2", text=PERSIAN))
        assert res.language == "fa" and res.translation is None
    finally:
        pipe.close()


def test_always_without_a_translator_is_a_config_error(tiny_bundle):
    with pytest.raises(ConfigError, match="no translator"):
        _pipeline(tiny_bundle, None, {"fa": "always"})


def test_llm_translator_chunks_at_turns_and_keeps_them(tiny_translator, monkeypatch):
    """A long call is cut into chunks that fit the context, only at line (speaker-turn) ends."""
    from appliance.inference.engine import LoadedModel

    tr = LlmTranslator(LoadedModel(tiny_translator), max_context=256)
    turns = [f"Patient {i}: my back hurts and I cannot sleep at night." for i in range(60)]
    text = "\n".join(turns)
    seen: list[str] = []

    def identity(chunk, src, tgt, budget):
        seen.append(chunk)
        assert tr.model.count_tokens(chunk) <= budget
        return chunk

    monkeypatch.setattr(tr, "_translate_chunk", identity)
    out = tr.translate(text, "fa", "en")
    assert out.chunks == len(seen) > 1
    for chunk in seen:
        assert set(chunk.split("\n")) <= set(turns)  # no turn cut in half
    assert out.text.split("\n") == turns  # order and every turn preserved


def test_llm_translator_generates_within_its_budget(tiny_translator):
    from appliance.inference.engine import LoadedModel

    tr = LlmTranslator(LoadedModel(tiny_translator), max_context=4096)
    out = tr.translate(PERSIAN, "fa", "en")
    assert isinstance(out.text, str) and out.chunks == 1
    # Output is bounded by twice the source budget per chunk, so a noisy model cannot run away.
    assert tr.model.count_tokens(out.text) <= 2 * tr.max_length


# --------------------------------------------------------------------------------------------------
# The translator registry: a bundle's manifest kind picks the module that loads it.


def _translator_bundle(folder, *, kind: str = "seq2seq", role: str = "translator"):
    """A folder with only a manifest (no model files): enough for the registry's dispatch."""
    from appliance.bundle import BuilderInfo, BundleManifest, SourceInfo, TokenFacts, write_manifest

    folder.mkdir()
    manifest = BundleManifest(
        name="fake", role=role, kind="seq2seq", architecture="MarianMTModel",
        source=SourceInfo(id="fake/fake", format="hf", sha256="0" * 64), precision="int4",
        execution_provider="cpu", builder=BuilderInfo(), context_length=16, tokens=TokenFacts(add_bos=False),
        files=[],
    )
    write_manifest(folder, manifest)
    if kind != "seq2seq":
        import json

        path = folder / "manifest.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | {"kind": kind}))
    return folder


def test_translator_kinds_are_manifest_kinds():
    from typing import get_args

    from appliance.bundle import BundleKind
    from appliance.translate import TRANSLATOR_KINDS

    assert set(TRANSLATOR_KINDS) <= set(get_args(BundleKind))
    assert set(TRANSLATOR_KINDS) == {"decoder", "seq2seq"}


def test_unknown_translator_kind_is_a_clear_bundle_error(tmp_path, monkeypatch):
    from appliance.errors import BundleError
    from appliance.translate import TRANSLATOR_KINDS, load_translator

    # A kind the manifest model does not know: refused while reading the manifest, naming the field.
    with pytest.raises(BundleError, match="kind"):
        load_translator(_translator_bundle(tmp_path / "foo", kind="foo"))
    # A manifest kind with no registered loader: refused by the registry, naming the kind and the known ones.
    monkeypatch.delitem(TRANSLATOR_KINDS, "seq2seq")
    with pytest.raises(BundleError, match=r"kind 'seq2seq'.*known kinds: decoder"):
        load_translator(_translator_bundle(tmp_path / "s2s"))


def test_registered_kind_is_dispatched(tmp_path, monkeypatch):
    from appliance.errors import BundleError
    from appliance.translate import TRANSLATOR_KINDS, load_translator

    calls = []

    def fake_loader(bundle_dir, *, verify=True, threads=0, max_context=4096):
        calls.append((bundle_dir, verify, threads, max_context))
        return "loaded"

    monkeypatch.setitem(TRANSLATOR_KINDS, "seq2seq", fake_loader)
    folder = _translator_bundle(tmp_path / "s2s")
    assert load_translator(folder, verify=False, threads=3, max_context=512) == "loaded"
    assert calls == [(folder, False, 3, 512)]
    with pytest.raises(BundleError, match="not 'translator'"):
        load_translator(_translator_bundle(tmp_path / "ext", role="extractor"))


def test_translator_modules_do_not_import_each_other():
    """interface <- llm, seq2seq <- registry <- package: no cycle (the old translate.py <-> translate_mt.py)."""
    import ast
    from pathlib import Path

    import appliance.translate as pkg

    folder = Path(pkg.__file__).parent
    for name in ("interface", "llm", "seq2seq"):
        tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
        imported = {(n.level, n.module) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        siblings = {m for level, m in imported if level == 1}
        assert siblings <= {"interface"}, (name, siblings)
        assert (1, None) not in imported, name  # not the package itself
