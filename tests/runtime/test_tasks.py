"""Task files: built-ins load, and malformed files fail naming the field and the line."""

import json

import pytest

from appliance.errors import TaskError
from appliance.tasks import BUILTIN_TASKS, load_task, parse_task, save_task


def test_builtins_load_with_thirteen_features():
    for name in BUILTIN_TASKS:
        t = load_task(name)
        assert len(t.features) == 13
        assert all("en" in f.labels and "fa" in f.labels for f in t.features)
        assert t.examples, "built-in tasks carry few-shot examples"


def test_palliative13_matches_the_study_columns():
    keys = load_task("palliative13").keys
    assert keys == ["request_for_visit", "psychological_complaints", "sleep_disorders", "loss_of_appetite",
                    "seizures", "weakness_fatigue", "decreased_consciousness", "fever", "respiratory_complaints",
                    "insurance_cost_issues", "urinary_issues", "pain", "gastrointestinal_issues"]


def _task_text(**over):
    base = json.loads(json.dumps(load_task("symptoms13").model_dump(mode="json")))
    base.update(over)
    return json.dumps(base, indent=2, ensure_ascii=False)


def test_bad_feature_type_names_field_and_line():
    raw = json.loads(_task_text())
    raw["features"][2]["type"] = "bool"
    text = json.dumps(raw, indent=2, ensure_ascii=False)
    with pytest.raises(TaskError) as e:
        parse_task(text, "my.json")
    msg = str(e.value)
    assert "features.2.type" in msg
    line = int(msg.split(":")[1])
    assert '"type": "bool"' in text.splitlines()[line - 1]


def test_example_with_wrong_value_type_is_refused():
    raw = json.loads(_task_text())
    raw["examples"][0]["output"]["pain"] = "yes"
    with pytest.raises(TaskError, match=r"examples.*pain"):
        parse_task(json.dumps(raw, indent=2), "t.json")


def test_example_missing_a_feature_is_refused():
    raw = json.loads(_task_text())
    del raw["examples"][1]["output"]["cough"]
    with pytest.raises(TaskError, match="missing: cough"):
        parse_task(json.dumps(raw, indent=2), "t.json")


def test_invalid_json_reports_line():
    with pytest.raises(TaskError, match=r"^t.json:3: not valid JSON"):
        parse_task('{\n "name": "x",\n "features": [,]\n}', "t.json")


def test_unknown_key_and_duplicate_feature():
    raw = json.loads(_task_text())
    raw["colour"] = "blue"
    with pytest.raises(TaskError, match="colour"):
        parse_task(json.dumps(raw, indent=2), "t.json")
    raw = json.loads(_task_text())
    raw["features"].append(raw["features"][0])
    with pytest.raises(TaskError, match="duplicate feature keys: pain"):
        parse_task(json.dumps(raw, indent=2), "t.json")


def test_enum_needs_options_and_thresholds_round_trip(tmp_path):
    raw = json.loads(_task_text())
    raw["features"][0]["type"] = "enum"
    with pytest.raises(TaskError, match="options"):
        parse_task(json.dumps(raw, indent=2), "t.json")
    t = load_task("symptoms13").with_thresholds({"pain": 0.3})
    save_task(t, tmp_path / "t.json")
    again = load_task(tmp_path / "t.json")
    assert again.feature("pain").threshold == 0.3
    assert again.feature("cough").threshold == 0.5


def test_missing_task_file_is_clear():
    with pytest.raises(TaskError, match="neither a built-in task"):
        load_task("/nonexistent/task.json")


# ------------------------------------------------------------------------------------------ codings


def _with_coding(coding: dict, index: int = 0) -> str:
    raw = json.loads(_task_text())
    raw["features"][index]["codings"] = [coding]
    return json.dumps(raw, indent=2, ensure_ascii=False)


def test_builtins_carry_verified_snomed_codes_and_say_why_others_have_none():
    want = {
        "symptoms13": {"pain": "22253000", "dyspnea": "267036007", "fatigue": "84229001", "anxiety": "48694002",
                       "depression": "366979004", "insomnia": "193462001", "constipation": "14760008",
                       "appetite_loss": "79890006", "bleeding": "131148009", "fever": "386661006",
                       "cough": "49727002", "diarrhea": "62315008"},
        "palliative13": {"sleep_disorders": "39898005", "loss_of_appetite": "79890006", "seizures": "91175000",
                         "decreased_consciousness": "443371007", "fever": "386661006", "pain": "22253000"},
    }
    for name, codes in want.items():
        t = load_task(name)
        got = {f.key: [c.code for c in f.codings] for f in t.features if f.codings}
        assert got == {k: [v] for k, v in codes.items()}
        assert all(c.system == "http://snomed.info/sct" and c.display for f in t.features for c in f.codings)
        for f in t.features:
            if not f.codings:
                assert f.coding_note and f.coding_note.startswith("No code:"), f.key
    notes = {f.key: f.coding_note for f in load_task("palliative13").features}
    assert "insurance" in notes["insurance_cost_issues"] and "service" in notes["request_for_visit"]


def test_codings_are_additive_to_the_content_hash():
    """A task without codings hashes as before codings existed (values recorded before the change)."""
    before = {"symptoms13": "e20d713a6284d889aa91802473b98bb8053c0b9e4c347b4ab4eb6689f5dd2e6b",
              "palliative13": "1473e9719dd5af17c618c91eabfed1631f1a051d3f5666e16f046a97810b84a7"}
    for name, digest in before.items():
        t = load_task(name)
        raw = t.model_dump()
        for f in raw["features"]:
            f["codings"], f["coding_note"] = [], None
        from appliance.tasks import Task

        assert Task.model_validate(raw).content_hash == digest
        assert t.content_hash != digest  # the codes are content


@pytest.mark.parametrize("coding, message", [
    ({"system": "SNOMED CT", "code": "22253000"}, "http://snomed.info/sct"),
    ({"system": "loinc", "code": "8867-4"}, "http://loinc.org"),
    ({"system": "snomed.info/sct", "code": "22253000"}, "absolute URI"),
    ({"system": "http://snomed.info/sct", "code": "22253001"}, "check digit"),
    ({"system": "http://snomed.info/sct", "code": "22253"}, "concept id"),
    ({"system": "http://snomed.info/sct", "code": "1234567123"}, "partition"),
    ({"system": "http://loinc.org", "code": "8867-5"}, "check digit"),
    ({"system": "http://hl7.org/fhir/sid/icd-10", "code": "fever"}, "A00"),
    ({"system": "http://snomed.info/sct", "code": " 22253000"}, "whitespace"),
    ({"system": "http://snomed.info/sct", "code": "22253000", "display": " "}, "blank"),
    ({"system": "http://snomed.info/sct", "code": "22253000", "colour": "red"}, "colour"),
])
def test_bad_codings_are_refused_with_field_and_line(coding, message):
    text = _with_coding(coding, 2)
    with pytest.raises(TaskError) as e:
        parse_task(text, "t.json")
    msg = str(e.value)
    assert "features.2.codings.0" in msg and message in msg
    line = int(msg.split(":")[1])
    assert text.splitlines()[line - 1].strip().startswith(("{", '"'))


def test_good_codings_load_in_any_known_or_other_system():
    for coding in ({"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"},
                   {"system": "http://hl7.org/fhir/sid/icd-10", "code": "R50.9"},
                   {"system": "urn:oid:1.2.3.4", "code": "local 7"}):
        assert parse_task(_with_coding(coding), "t.json").features[0].codings[0].code == coding["code"]
    raw = json.loads(_with_coding({"system": "http://snomed.info/sct", "code": "22253000"}))
    raw["features"][0]["codings"].append({"system": "http://snomed.info/sct", "code": "22253000"})
    with pytest.raises(TaskError, match="listed twice"):
        parse_task(json.dumps(raw, indent=2), "t.json")


@pytest.mark.parametrize("where, value, message", [
    (("features", 1, "options"), ["routine", " very urgent"], "whitespace"),
    (("features", 1, "options"), ["routine", "very  urgent"], "whitespace"),
    (("features", 1, "options"), ["routine", ""], "whitespace"),
    (("features", 0, "labels"), {"en": ""}, "blank"),
    (("features", 0, "labels"), {"en": "Fever", "fa": " "}, "blank"),
    (("features", 0, "coding_note"), "", "blank"),
    (("version",), "", "at least 1 character"),
])
def test_fields_the_fhir_output_carries_are_refused_empty_or_badly_spaced(where, value, message):
    """An enum option is a FHIR code (the answer's Coding), labels, notes and the version FHIR strings:
    a task the FHIR output could not carry is refused at load, with field and line, not at the first
    result (where the daemon would set every input with that value aside)."""
    from appliance.fhir import render_questionnaire

    raw = {"name": "t", "version": "1", "instruction": "Read.", "features": [
        {"key": "fever", "labels": {"en": "Fever"}, "definition": "Fever now."},
        {"key": "urgency", "labels": {"en": "Urgency"}, "definition": "How urgent.", "type": "enum",
         "options": ["routine", "soon"]}]}
    render_questionnaire(parse_task(json.dumps(raw), "t.json"))
    node = raw
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
    text = json.dumps(raw, indent=2, ensure_ascii=False)
    with pytest.raises(TaskError) as e:
        parse_task(text, "t.json")
    msg = str(e.value)
    assert ".".join(map(str, where)) in msg and message in msg, msg
    line = int(msg.split(":")[1])
    assert json.dumps(where[-1]) in text.splitlines()[line - 1]


def test_a_list_value_cannot_hold_an_empty_string():
    """Guided decoding follows the feature's schema: an empty string in a string_list would be a value
    the FHIR output cannot carry (FHIR strings are never empty), and is not a value anyway."""
    import jsonschema

    from appliance.tasks import Feature

    feature = Feature(key="drugs", labels={"en": "Drugs"}, definition="Drugs named.", type="string_list")
    schema = feature.json_schema()
    jsonschema.validate(["morphine", " "], schema)
    for bad in ([""], ["morphine", ""]):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
