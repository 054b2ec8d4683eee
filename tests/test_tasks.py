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
