"""The extraction engine on the tiny fixture model: real builder output, real onnxruntime-genai.

A random model's *answers* are meaningless; what is pinned here is the contract: always schema-valid,
confidences in [0, 1] and consistent with the value, identical results with prefix reuse on and off,
long documents windowed or marked missing (never silently cut), provenance recorded.
"""


import pytest

from appliance.document import Document
from appliance.errors import InputError
from appliance.pipeline import Pipeline
from appliance.settings import PipelineSettings
from appliance.tasks import load_task
from tests.support.paths import DATA

MINI = str(DATA / "mini_task.json")
DOCS = [
    Document(id="a", text="Doctor: any pain?\nPatient: yes, my knee hurts and I have a fever.", language="en"),
    Document(id="b", text="Patient: I feel fine, no cough.\nDoctor: good.", language="en"),
    Document(id="c", text="بیمار: سرفه دارم و تب دارم.", language="fa"),
]


def _pipe(bundle, **kw) -> Pipeline:
    # These tests pin the all-in-one JSON strategy (the default, hybrid, has its own tests).
    s = dict(task=MINI, extractor=str(bundle), strategy="json", max_context_tokens=4096, threads=1)
    s.update(kw)
    return Pipeline.load(PipelineSettings(**s))


def _check_contract(result, task):
    assert set(result.features) == set(task.keys)
    for key, fr in result.features.items():
        assert fr.status == "extracted", (key, fr.reason)
        assert isinstance(fr.value, bool)
        assert 0.0 <= fr.confidence <= 1.0 and 0.0 <= fr.score <= 1.0
        assert fr.value == (fr.score >= fr.threshold)
        assert fr.confidence == pytest.approx(fr.score if fr.value else 1 - fr.score)


def test_results_are_schema_valid_and_confidences_consistent(tiny_bundle):
    pipe = _pipe(tiny_bundle)
    task = load_task(MINI)
    for doc in DOCS:
        r = pipe.process(doc)
        _check_contract(r, task)
        assert r.input_sha256 == doc.content_hash
        assert r.provenance.task == "mini3" and len(r.provenance.prompt_hash) == 64
        assert r.provenance.models[0].bundle_hash and r.provenance.models[0].role == "extractor"
        assert r.windows == 1


def test_prefix_reuse_on_and_off_give_identical_results(tiny_bundle):
    on, off = _pipe(tiny_bundle, prefix_reuse=True), _pipe(tiny_bundle, prefix_reuse=False)
    for doc in DOCS * 2:  # twice: reuse must also hold after many rewinds
        a, b = on.process(doc), off.process(doc)
        for key in a.features:
            assert a.features[key].value == b.features[key].value
            assert a.features[key].score == pytest.approx(b.features[key].score, abs=1e-4)


def test_thresholds_move_decisions(tiny_bundle, tmp_path):
    task = load_task(MINI)
    low = tmp_path / "low.json"
    high = tmp_path / "high.json"
    low.write_text(task.with_thresholds({k: 0.0 for k in task.keys}).model_dump_json())
    high.write_text(task.with_thresholds({k: 1.0 for k in task.keys}).model_dump_json())
    r_low = _pipe(tiny_bundle, task=str(low)).process(DOCS[0])
    r_high = _pipe(tiny_bundle, task=str(high)).process(DOCS[0])
    assert all(f.value for f in r_low.features.values())
    assert not any(f.value for f in r_high.features.values() if f.score < 1.0)


def test_long_document_is_windowed_and_covers_everything(tiny_bundle):
    pipe = _pipe(tiny_bundle, max_context_tokens=1024, window_overlap_tokens=16)
    budget = pipe.strategy.window_tokens
    lines = [f"Patient: line {i} my chest hurts a little and I cough at night." for i in range(200)]
    doc = Document(id="long", text="\n".join(lines), language="en")
    r = pipe.process(doc)
    assert r.document_tokens > budget
    assert r.windows > 1
    _check_contract(r, load_task(MINI))


def test_document_over_the_limit_is_missing_with_reason(tiny_bundle):
    pipe = _pipe(tiny_bundle, max_document_tokens=20)
    r = pipe.process(Document(id="x", text="word " * 200, language="en"))
    assert all(f.status == "missing" and f.reason == "document_too_long" for f in r.features.values())
    assert all(f.value is None for f in r.features.values())


def test_empty_document_is_an_input_error(tiny_bundle):
    pipe = _pipe(tiny_bundle)
    with pytest.raises(InputError) as e:
        pipe.process(Document(id="e", text="  \n ", language="en"))
    assert e.value.reason == "empty"


def test_language_is_detected_when_not_given(tiny_bundle):
    pipe = _pipe(tiny_bundle)
    r = pipe.process(Document(id="fa", text="سلام، پدرم از دیشب تب دارد و خیلی ضعیف شده است."))
    assert r.language == "fa" and r.language_detected


@pytest.mark.parametrize("fast_forward", [True, False])
def test_guided_decoding_for_mixed_types(tiny_bundle, fast_forward):
    pipe = _pipe(tiny_bundle, task=str(DATA / "mixed_task.json"), fast_forward=fast_forward)
    assert not pipe.strategy.extractor.scored
    r = pipe.process(DOCS[0])
    f = r.features
    for fr in f.values():
        assert fr.status in ("extracted", "missing")
        if fr.status == "missing":
            assert fr.reason in ("generation_incomplete", "generation_invalid")
    if f["severity"].status == "extracted":
        assert f["severity"].value in ["none", "mild", "moderate", "severe"]
    if f["temperature"].status == "extracted":
        assert isinstance(f["temperature"].value, (int, float)) and 30 <= f["temperature"].value <= 45
    if f["medications"].status == "extracted":
        assert isinstance(f["medications"].value, list)
    if f["pain"].status == "extracted" and not fast_forward:
        assert f["pain"].score is not None and 0 <= f["pain"].score <= 1


def test_evidence_quotes_are_checked_against_the_text(tiny_bundle):
    pipe = _pipe(tiny_bundle, evidence=True)
    r = pipe.process(DOCS[0])
    for fr in r.features.values():
        for ev in fr.evidence:
            normalized = " ".join(ev.quote.split()).casefold()
            assert ev.found_in_text == (bool(normalized) and normalized in " ".join(DOCS[0].text.split()).casefold())


def test_prompt_hash_tracks_the_prompt(tiny_bundle, tmp_path):
    task = load_task(MINI)
    changed = task.model_copy(update={"instruction": task.instruction + " Be careful."})
    p = tmp_path / "changed.json"
    p.write_text(changed.model_dump_json())
    assert _pipe(tiny_bundle).prompt_hash != _pipe(tiny_bundle, task=str(p)).prompt_hash
