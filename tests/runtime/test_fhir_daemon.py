"""The daemon with ``[output] formats = ["native", "fhir"]`` writes both files per input, each
encrypted, and both decrypt to the same values (the real rules pipeline, real age encryption)."""

from __future__ import annotations

from appliance import crypto
from appliance.fhir import parse_bundle, values_from_bundle
from appliance.pipeline import Pipeline
from appliance.result import Result
from appliance.resultvalues import ResultValues
from appliance.settings import PipelineSettings
from appliance.workstation.reading import read_file
from tests.runtime.test_daemon import SECRET, Env, assert_no_secret, daemon, run_until
from tests.runtime.test_fhir import check_bundle


def test_daemon_writes_native_and_fhir_and_both_decrypt(tmp_path):
    env = Env(tmp_path, output={"formats": ["native", "fhir"]})
    pipe = Pipeline.load(PipelineSettings(task="palliative13", strategy="rules", evidence=True))
    d = daemon(env, pipe)
    env.drop("call-1.txt", f"Daughter: {SECRET} has a fever and back pain, and he cannot sleep.")
    env.drop("call-2.txt", "Patient: no complaints today, thank you.")
    run_until(d, lambda: d.status.processed == 2 and env.files("work") == [], timeout=60)
    names = env.files("outbox")
    natives = [n for n in names if n.endswith(".json.age") and not n.endswith(".fhir.json.age")]
    fhirs = [n for n in names if n.endswith(".fhir.json.age")]
    assert len(natives) == 2 and len(fhirs) == 2 and len(names) == 4
    assert sorted(n.replace(".fhir.json.age", ".json.age") for n in fhirs) == sorted(natives)
    for name in natives:
        native = Result.model_validate_json(crypto.decrypt((env.outbox / name).read_bytes(), env.identities))
        fhir_path = env.outbox / name.replace(".json.age", ".fhir.json.age")
        data = crypto.decrypt(fhir_path.read_bytes(), env.identities)
        check_bundle(data)  # R4B and R4 validation of every resource
        back = values_from_bundle(parse_bundle(data))
        assert back.comparable() == ResultValues.from_result(native).comparable()
        assert back.task_sha256 == pipe.task.content_hash
        assert read_file(fhir_path, env.identities).format == "fhir"
        assert read_file(env.outbox / name, env.identities).format == "native"
    assert d.store.counts()["outbox"] == 4
    assert_no_secret(env)
