"""FHIR output: every resource validates (R4B models, and R4 4.0.1 via fhirclient), the round trip
result → Bundle → values loses nothing, and a missing feature never turns into false.

Results come from the real rules strategy through ``appliance.pipeline.Pipeline`` (no model needed);
a synthetic result covers the feature types the built-in tasks lack (enum, number, string_list).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from appliance import crypto
from appliance.cli import main
from appliance.errors import ApplianceError
from appliance.fhir import (
    is_bundle,
    parse_bundle,
    questionnaire,
    render_bundle,
    render_questionnaire,
    values_from_bundle,
)
from appliance.fhir.definitions import BASE, EXTENSIONS, FEATURE_REASON, FEATURE_STATUS, extension_table
from appliance.outputs import REGISTRY, RenderContext
from appliance.pipeline import Pipeline
from appliance.result import Evidence, FeatureResult, ModelRef, Provenance, Result, Timings
from appliance.resultvalues import ResultValues
from appliance.settings import PipelineSettings
from appliance.tasks import Task, load_task

SNOMED = "http://snomed.info/sct"

TEXTS = {
    "palliative13": [
        "Nurse: How is he today?\nDaughter: He has a high fever and terrible back pain. He cannot sleep at night. "
        "Can the doctor come and see him?",
        "Nurse: Any breathing problems?\nPatient: No. I feel fine, no pain at all.",
        "Patient: The insurance will not pay for the morphine and I keep vomiting.",
    ],
    "symptoms13": [
        "Doctor: What brings you in?\nPatient: I have a bad cough and I feel short of breath. No fever.",
        "Doctor: Any pain?\nPatient: My knee hurts. I also feel anxious and tired all the time.",
    ],
}


# ------------------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def pipelines() -> dict[str, Pipeline]:
    """The real rules pipeline for each built-in task (evidence on: quotes go into the Bundle)."""
    return {name: Pipeline.load(PipelineSettings(task=name, strategy="rules", evidence=True)) for name in TEXTS}


def word_limited(p: Pipeline, max_words: int) -> Pipeline:
    """The same pipeline counting words as tokens and windowing like the json strategy, so a longer
    document is 'document_too_long' (the limit applies to strategies that window the document)."""
    import copy

    settings = p.settings.model_copy(update={"max_document_tokens": max_words})
    strategy = copy.copy(p.strategy)
    strategy.window_tokens = max_words
    return Pipeline(settings, p.task, strategy, None, p.models, lambda t: len(t.split()), p.prompt_hash)


def make_results(pipelines: dict[str, Pipeline], task: str = "palliative13") -> list[Result]:
    """Real results of one task: the texts above, plus one whose every feature is missing."""
    from appliance.document import Document

    p = pipelines[task]
    out = [p.process(Document(id=f"{task}-{i}", text=t, source_name=f"call-{i}.txt"))
           for i, t in enumerate(TEXTS[task])]
    long_text = " ".join(TEXTS[task])
    out.append(word_limited(p, 5).process(Document(id=f"{task}-long", text=long_text)))
    return out


def mixed_task() -> Task:
    """A task with every feature type, codes in two systems and an enum."""
    return Task.model_validate({
        "name": "mixed4", "version": "2 beta", "instruction": "Read the note.",
        "features": [
            {"key": "pain", "labels": {"en": "Pain", "fa": "درد"}, "definition": "Pain now.",
             "codings": [{"system": SNOMED, "code": "22253000", "display": "Pain"}]},
            {"key": "severity", "labels": {"en": "Severity"}, "definition": "How bad.", "type": "enum",
             "options": ["mild", "moderate", "severe"]},
            {"key": "pain_score", "labels": {"en": "Pain score"}, "definition": "0-10.", "type": "number",
             "minimum": 0, "maximum": 10,
             "codings": [{"system": "http://loinc.org", "code": "72514-3"}]},
            {"key": "drugs", "labels": {"en": "Drugs"}, "definition": "Drugs named.", "type": "string_list"},
        ],
    })


def every_evidence_field(quote: str) -> Evidence:
    """An Evidence with every field set, whatever fields the model has (later ones too: offsets, cue
    times), numbers increasing in declaration order so start < end holds."""
    data: dict = {"quote": quote, "found_in_text": False, "source": "translation"}
    n = 3
    for name, f in Evidence.model_fields.items():
        if name in data:
            continue
        text = repr(f.annotation)
        if "float" in text:
            data[name] = n + 0.25
        elif "int" in text:
            data[name] = n
        elif "bool" in text:
            data[name] = True
        else:
            data[name] = f"{name}-value"
        n += 4
    return Evidence.model_validate(data)


def synthetic(task: Task, **features: FeatureResult) -> Result:
    """A result of ``task`` (every feature missing unless given), with two models in its provenance."""
    fs = {f.key: features.get(f.key, FeatureResult(status="missing", reason="model_error")) for f in task.features}
    return Result(
        input_id="note/7 é", input_sha256="ab" * 32, source_name="note 7.json", language="fa",
        language_detected=True, features=fs, document_tokens=12, windows=1,
        provenance=Provenance(app_version="9.9.9", task=task.name, task_version=task.version, prompt_hash="cd" * 32,
                              strategy="hybrid", models=[
                                  ModelRef(name="smollm2", role="extractor", bundle_hash="ef" * 32,
                                           precision="int4", execution_provider="cpu"),
                                  ModelRef(name="opus-mt", role="translator", bundle_hash="01" * 32)]),
        timings=Timings(), created=datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone.utc),
    )


def r4_check(resource: dict) -> None:
    """Validate a resource against the FHIR R4 (4.0.1) models of SMART's fhirclient, strictly."""
    from fhirclient.models.fhirelementfactory import FHIRElementFactory

    FHIRElementFactory.instantiate(resource["resourceType"], resource)  # strict: raises FHIRValidationError


def check_bundle(data: bytes) -> dict:
    """Validate a rendered Bundle as R4B (the library) and as R4 (fhirclient), every entry; the JSON."""
    parse_bundle(data)
    doc = json.loads(data)
    r4_check(doc)
    for entry in doc["entry"]:
        r4_check(entry["resource"])
    return doc


def items(doc: dict) -> dict[str, dict]:
    (qr,) = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    return {i["linkId"]: i for i in qr["item"]}


def ext_value(item: dict, defn) -> object:
    for e in item.get("extension", []):
        if e["url"] == defn.url:
            return next(v for k, v in e.items() if k.startswith("value"))
    return None


# ------------------------------------------------------------------------------------------ Questionnaire


@pytest.mark.parametrize("name", ["palliative13", "symptoms13"])
def test_builtin_task_as_questionnaire_validates_with_its_codes(name):
    task = load_task(name)
    doc = json.loads(render_questionnaire(task))
    r4_check(doc)
    assert doc["url"] == f"{BASE}/Questionnaire/{name}" and doc["version"] == task.version
    assert [i["linkId"] for i in doc["item"]] == task.keys
    for item, f in zip(doc["item"], task.features):
        assert item["type"] == "boolean" and item["text"] == f.labels["en"] and "required" not in item
        snomed = [c["code"] for c in item["code"] if c["system"] == SNOMED]
        assert snomed == [c.code for c in f.codings]
        assert {"system": f"{BASE}/CodeSystem/{name}", "code": f.key, "display": f.labels["en"]} in item["code"]
        fa = item["_text"]["extension"][0]["extension"]
        assert {"url": "lang", "valueCode": "fa"} in fa and {"url": "content", "valueString": f.labels["fa"]} in fa


def test_questionnaire_types_options_and_repeats():
    doc = questionnaire(mixed_task()).model_dump(mode="json", exclude_none=True)
    r4_check(doc)
    by = {i["linkId"]: i for i in doc["item"]}
    assert [by[k]["type"] for k in ("pain", "severity", "pain_score", "drugs")] == ["boolean", "choice", "decimal",
                                                                                    "string"]
    assert [o["valueCoding"]["code"] for o in by["severity"]["answerOption"]] == ["mild", "moderate", "severe"]
    assert by["drugs"]["repeats"] is True and "repeats" not in by["pain"]
    assert by["pain_score"]["code"][0] == {"system": "http://loinc.org", "code": "72514-3"}


def test_the_response_names_its_questionnaire_exactly():
    """``questionnaire`` is ``url|version`` of the Questionnaire, so a record system resolves it, even for
    a version a canonical URL cannot hold as it is ("2 beta": a space)."""
    task = mixed_task()
    q = json.loads(render_questionnaire(task))
    data = render_bundle(synthetic(task), task)
    doc = check_bundle(data)
    (qr,) = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    assert qr["questionnaire"] == f"{q['url']}|{q['version']}"
    assert doc["entry"][-1]["resource"]["policy"] == [qr["questionnaire"]]
    assert values_from_bundle(parse_bundle(data)).task_version == task.version == "2 beta"


def test_tasks_cli_prints_the_questionnaire(tmp_path):
    r = CliRunner().invoke(main, ["tasks", "fhir-questionnaire", "symptoms13"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["resourceType"] == "Questionnaire" and len(doc["item"]) == 13
    out = tmp_path / "q.json"
    r = CliRunner().invoke(main, ["tasks", "fhir-questionnaire", "palliative13", "-o", str(out)])
    assert r.exit_code == 0 and json.loads(out.read_text())["title"] == "palliative13"
    r = CliRunner().invoke(main, ["tasks", "check", "palliative13"])
    assert r.exit_code == 0 and "22253000" in r.output and "insurance_cost_issues" in r.output


def test_tasks_cli_reports_an_output_it_cannot_write(tmp_path):
    out = tmp_path / "no" / "q.json"
    r = CliRunner().invoke(main, ["tasks", "fhir-questionnaire", "palliative13", "-o", str(out)])
    assert r.exit_code == 1 and "Error:" in r.output and "cannot write" in r.output
    assert not isinstance(r.exception, OSError)  # a message, not a traceback


# ------------------------------------------------------------------------------------------ Bundle


@pytest.mark.parametrize("name", ["palliative13", "symptoms13"])
def test_real_results_validate_and_round_trip(pipelines, name):
    task = pipelines[name].task
    for result in make_results(pipelines, name):
        data = render_bundle(result, task)
        doc = check_bundle(data)
        back = values_from_bundle(parse_bundle(data))
        assert back.comparable() == ResultValues.from_result(result).comparable()
        assert back.task_sha256 == task.content_hash
        assert render_bundle(result, task) == data  # deterministic: same result, same bytes
        kinds = [e["resource"]["resourceType"] for e in doc["entry"]]
        present = [k for k, f in result.features.items() if f.value is True]
        assert kinds == ["QuestionnaireResponse"] + ["Observation"] * len(present) + ["Provenance"]


def test_missing_never_becomes_false_in_fhir(pipelines):
    result = make_results(pipelines)[-1]
    assert all(f.status == "missing" for f in result.features.values())
    doc = check_bundle(render_bundle(result, pipelines["palliative13"].task))
    for item in items(doc).values():
        assert "answer" not in item  # no answer at all: not false
        assert ext_value(item, FEATURE_STATUS) == "missing"
        assert ext_value(item, FEATURE_REASON) == "document_too_long"
    assert not [e for e in doc["entry"] if e["resource"]["resourceType"] == "Observation"]
    back = values_from_bundle(parse_bundle(json.dumps(doc)))
    assert all(f.value is None and f.status == "missing" for f in back.features.values())


def test_observations_are_coded_and_derived_from_the_response(pipelines):
    task = pipelines["palliative13"].task
    result = make_results(pipelines)[0]
    assert result.features["fever"].value is True and result.features["pain"].value is True
    doc = check_bundle(render_bundle(result, task))
    qr_url = doc["entry"][0]["fullUrl"]
    obs = {e["resource"]["code"]["coding"][-1]["code"]: e for e in doc["entry"]
           if e["resource"]["resourceType"] == "Observation"}
    assert set(obs) == {k for k, f in result.features.items() if f.value is True}
    fever = obs["fever"]["resource"]
    assert fever["code"]["coding"][0] == {"system": SNOMED, "code": "386661006", "display": "Fever"}
    assert fever["valueBoolean"] is True and fever["derivedFrom"] == [{"reference": qr_url}]
    assert fever["status"] == "preliminary" and fever["issued"] == doc["timestamp"]
    prov = doc["entry"][-1]["resource"]
    assert [t["reference"] for t in prov["target"]] == [e["fullUrl"] for e in doc["entry"][:-1]]
    assert prov["entity"][0]["what"]["identifier"]["value"] == result.input_sha256
    hashes = {a["who"].get("identifier", {}).get("value") for a in prov["agent"]}
    assert {m.bundle_hash for m in result.provenance.models} <= hashes
    assert {"url": f"{BASE}/StructureDefinition/prompt-sha256", "valueString": result.provenance.prompt_hash} in \
        prov["extension"]


def test_every_feature_type_and_evidence_field_round_trips():
    task = mixed_task()
    ev = [every_evidence_field("it hurts"), Evidence(quote="a second quote", found_in_text=True)]
    cases = [
        {"pain": FeatureResult(value=True, status="extracted", confidence=0.1 + 0.2, score=0.7, threshold=0.35,
                               evidence=ev),
         "severity": FeatureResult(value="moderate", status="extracted", confidence=0.5),
         "pain_score": FeatureResult(value=7, status="extracted"),
         "drugs": FeatureResult(value=["morphine", "paracetamol 500 mg"], status="extracted")},
        {"pain": FeatureResult(value=False, status="extracted", reason="no_evidence"),
         "pain_score": FeatureResult(value=6.5, status="extracted"),
         "drugs": FeatureResult(value=[], status="extracted")},
        {"drugs": FeatureResult(status="missing", reason="invalid_output", evidence=ev[1:])},
    ]
    for features in cases:
        result = synthetic(task, **features)
        data = render_bundle(result, task)
        doc = check_bundle(data)
        if "pain" in features and features["pain"].evidence:  # every field of Evidence is a sub-extension (offsets, and any added later)
            (first, *_) = [e for e in items(doc)["pain"]["extension"] if e["url"].endswith("/evidence")]
            assert [sub["url"] for sub in first["extension"]] == list(Evidence.model_fields)
        back = values_from_bundle(parse_bundle(data))
        assert back.comparable() == ResultValues.from_result(result).comparable()
        assert back.features == result.features  # types too: 7 stays an int, [] stays a list
    assert type(back.features["pain_score"].value) is type(result.features["pain_score"].value)


def test_present_values_of_other_types_become_observations():
    task = mixed_task()
    result = synthetic(task, severity=FeatureResult(value="severe", status="extracted"),
                       pain_score=FeatureResult(value=0, status="extracted"),
                       drugs=FeatureResult(value=["a", "b"], status="extracted"),
                       pain=FeatureResult(value=False, status="extracted"))
    doc = check_bundle(render_bundle(result, task))
    obs = {e["resource"]["code"]["coding"][-1]["code"]: e["resource"] for e in doc["entry"]
           if e["resource"]["resourceType"] == "Observation"}
    assert set(obs) == {"severity", "pain_score", "drugs"}  # pain is false: no Observation
    assert obs["severity"]["valueCodeableConcept"]["coding"][0]["code"] == "severe"
    assert obs["pain_score"]["valueQuantity"] == {"value": 0}
    assert obs["drugs"]["valueString"] == "a; b"


def test_renderer_needs_the_task_and_the_right_one(pipelines):
    result = make_results(pipelines)[0]
    fhir = REGISTRY.select(["fhir"])[0]
    assert fhir.suffix == ".fhir.json" and fhir.media_type == "application/fhir+json"
    with pytest.raises(ApplianceError, match="needs the task"):
        fhir.render(result, RenderContext())
    with pytest.raises(ApplianceError, match="cannot be rendered with task"):
        fhir.render(result, RenderContext(task=load_task("symptoms13")))
    assert is_bundle(fhir.render(result, RenderContext(task=pipelines["palliative13"].task)))
    assert not is_bundle(REGISTRY.select(["native"])[0].render(result, RenderContext()))


def test_a_value_that_does_not_fit_fhir_fails_without_quoting_it():
    # A task cannot have an enum option FHIR's code type refuses (test_tasks.py); a result can still
    # hold a value no FHIR string can be: an empty string in a list.
    task = mixed_task()
    result = synthetic(task, drugs=FeatureResult(value=["SECRET name", ""], status="extracted"))
    with pytest.raises(ApplianceError) as e:
        render_bundle(result, task)
    assert "SECRET" not in str(e.value)


def test_bundle_of_another_kind_is_refused():
    with pytest.raises(ApplianceError, match="not a valid FHIR Bundle"):
        parse_bundle(b'{"resourceType": "Bundle", "type": "no-such-type", "entry": 3}')
    with pytest.raises(ApplianceError, match="QuestionnaireResponse"):
        values_from_bundle(parse_bundle(b'{"resourceType": "Bundle", "type": "collection"}'))


def test_a_bundle_that_lost_a_value_is_refused_not_misread(pipelines):
    task = pipelines["palliative13"].task
    doc = json.loads(render_bundle(make_results(pipelines)[0], task))
    del doc["entry"][0]["resource"]["authored"]  # the result's time
    with pytest.raises(ApplianceError, match="do not form a result"):
        values_from_bundle(parse_bundle(json.dumps(doc)))
    doc = json.loads(render_bundle(make_results(pipelines)[0], task))
    item = doc["entry"][0]["resource"]["item"][0]
    item["extension"] = [e for e in item["extension"] if e["url"] != FEATURE_STATUS.url]
    with pytest.raises(ApplianceError, match="feature-status"):
        values_from_bundle(parse_bundle(json.dumps(doc)))


def test_extensions_are_documented():
    table = extension_table()
    assert all(e.url in table for e in EXTENSIONS)
    assert len({e.url for e in EXTENSIONS}) == len(EXTENSIONS)


# ------------------------------------------------------------------------------------------ decrypt


def test_decrypt_shows_and_validates_either_format(pipelines, tmp_path):
    secret, public = crypto.generate_identity()
    key = tmp_path / "id.txt"
    crypto.write_identity_file(key, crypto.identity_file_text(secret, public))
    recipients = [crypto.parse_recipient(public)]
    result = make_results(pipelines)[0]
    ctx = RenderContext(task=pipelines["palliative13"].task)
    files = []
    for r in REGISTRY.select(["native", "fhir"]):
        f = tmp_path / f"k.0123456789abcdef{r.suffix}.age"
        f.write_bytes(crypto.encrypt(r.render(result, ctx), recipients))
        files.append(f)
    run = CliRunner()
    r = run.invoke(main, ["decrypt", "-i", str(key), str(files[1])])
    assert r.exit_code == 0 and json.loads(r.output)["resourceType"] == "Bundle"
    r = run.invoke(main, ["decrypt", "-i", str(key), "--check", *map(str, files)])
    assert r.exit_code == 0 and r.output.count("ok ") == 2
    r = run.invoke(main, ["decrypt", "-i", str(key), "--summary", str(files[1])])
    assert r.exit_code == 0 and "(fhir)" in r.output and "fever" in r.output
    broken = json.loads(render_bundle(result, ctx.task))
    del broken["entry"][-1]  # no Provenance
    bad = tmp_path / "bad.fhir.json.age"
    bad.write_bytes(crypto.encrypt(json.dumps(broken).encode(), recipients))
    r = run.invoke(main, ["decrypt", "-i", str(key), str(bad)])
    assert r.exit_code == 1 and "not a valid result Bundle" in r.stderr
