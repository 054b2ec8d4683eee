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

    return Pipeline.load(PipelineSettings(task="palliative13", extractor=str(extractor),
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
        # The default strategy (hybrid) records the rule pre-pass next to the two models.
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
