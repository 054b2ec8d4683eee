"""``appliance table``: N encrypted results → N rows (CSV and Parquet), native and FHIR read alike,
missing never false, mixed tasks refused unless asked, nothing left behind on failure."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance import crypto
from appliance.cli import main
from appliance.outputs import REGISTRY, RenderContext
from appliance.result import Result
from appliance.store import result_key
from appliance.workstation import parquet as parquet_module
from appliance.workstation.reading import result_files, split_name
from appliance.workstation.table import BASE_COLUMNS, TableError, feature_columns, write_table
from tests.runtime.test_fhir import make_results, pipelines  # noqa: F401  (pipelines: the module fixture)


@pytest.fixture
def keys(tmp_path):
    secret, public = crypto.generate_identity()
    path = tmp_path / "identity.txt"
    crypto.write_identity_file(path, crypto.identity_file_text(secret, public))
    return path, crypto.load_identities(path), [crypto.parse_recipient(public)]


def write(folder: Path, results: list[Result], task, recipients, formats=("native",)) -> list[Path]:
    """Each result encrypted as the daemon names it, ``<key><suffix>.age``, once per format."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for r in results:
        key = result_key(r.input_id, hashlib.sha256(r.input_sha256.encode()).hexdigest())
        for renderer in REGISTRY.select(formats):
            p = folder / f"{key}{renderer.suffix}.age"
            p.write_bytes(crypto.encrypt(renderer.render(r, RenderContext(task=task)), recipients))
            out.append(p)
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_n_results_give_n_rows_and_missing_is_never_false(pipelines, keys, tmp_path):  # noqa: F811
    _, identities, recipients = keys
    task = pipelines["palliative13"].task
    results = make_results(pipelines)
    write(tmp_path / "outbox", results, task, recipients, formats=("native", "fhir"))
    out = tmp_path / "table.csv"
    report = write_table([tmp_path / "outbox"], identities, out)
    rows = read_csv(out)
    assert report.rows == len(results) == len(rows) and len(report.skipped) == len(results)  # fhir twins
    assert list(rows[0]) == [*BASE_COLUMNS, *feature_columns(task.keys)]
    by_id = {r["input_id"]: r for r in rows}
    for res in results:
        row = by_id[res.input_id]
        assert row["task"] == "palliative13" and row["strategy"] == "rules" and row["language"] == res.language
        assert row["prompt_hash"] == res.provenance.prompt_hash and row["rules_hash"]
        for k, f in res.features.items():
            assert row[f"{k}__status"] == f.status
            if f.status == "missing":
                assert row[f"{k}__value"] == "" and row[f"{k}__reason"] == "document_too_long"
            else:
                assert row[f"{k}__value"] == ("true" if f.value else "false")
                assert float(row[f"{k}__confidence"]) == f.confidence
    assert (out.stat().st_mode & 0o777) == 0o600


def test_fhir_results_give_the_same_rows_as_native(pipelines, keys, tmp_path):  # noqa: F811
    _, identities, recipients = keys
    task = pipelines["symptoms13"].task
    results = make_results(pipelines, "symptoms13")
    write(tmp_path / "native", results, task, recipients, formats=("native",))
    write(tmp_path / "fhir", results, task, recipients, formats=("fhir",))
    write_table([tmp_path / "native"], identities, tmp_path / "n.csv")
    write_table([tmp_path / "fhir"], identities, tmp_path / "f.csv")
    native, fhir = read_csv(tmp_path / "n.csv"), read_csv(tmp_path / "f.csv")
    assert len(native) == len(results)
    for a, b in zip(native, fhir):
        assert a.pop("file").replace(".json.age", "") == b.pop("file").replace(".fhir.json.age", "")
        assert b.pop("task_sha256") == task.content_hash and a.pop("task_sha256") == ""  # FHIR records it
        assert a == b


def test_parquet_is_typed_streamed_in_row_groups_and_keeps_missing_null(pipelines, keys, tmp_path,  # noqa: F811
                                                                       monkeypatch):
    pq = pytest.importorskip("pyarrow.parquet")
    _, identities, recipients = keys
    task = pipelines["palliative13"].task
    results = make_results(pipelines)
    write(tmp_path / "outbox", results, task, recipients, formats=("fhir",))
    monkeypatch.setattr(parquet_module, "ROW_GROUP", 2)
    out = tmp_path / "table.parquet"
    report = write_table([tmp_path / "outbox"], identities, out)
    f = pq.ParquetFile(out)
    assert report.rows == f.metadata.num_rows == len(results)
    assert f.metadata.num_row_groups == 2  # 4 rows in groups of 2: written as they came
    table = f.read()
    assert str(table.schema.field("pain__value").type) == "bool"
    assert str(table.schema.field("pain__confidence").type) == "double"
    rows = {r["input_id"]: r for r in table.to_pylist()}
    missing = rows["palliative13-long"]
    assert all(missing[f"{k}__value"] is None and missing[f"{k}__status"] == "missing" for k in task.keys)
    assert rows["palliative13-0"]["fever__value"] is True
    assert rows["palliative13-1"]["fever__value"] is False


def test_mixed_tasks_are_refused_unless_asked(pipelines, keys, tmp_path):  # noqa: F811
    _, identities, recipients = keys
    write(tmp_path / "a", make_results(pipelines)[:2], pipelines["palliative13"].task, recipients)
    write(tmp_path / "b", make_results(pipelines, "symptoms13")[:1], pipelines["symptoms13"].task, recipients)
    out = tmp_path / "t.csv"
    with pytest.raises(TableError, match="more than one task"):
        write_table([tmp_path / "a", tmp_path / "b"], identities, out)
    assert not out.exists() and not list(tmp_path.glob(".t.csv*"))  # nothing left behind
    report = write_table([tmp_path / "a", tmp_path / "b"], identities, out, allow_mixed_tasks=True)
    rows = read_csv(out)
    assert report.rows == 3 and [r["task"] for r in rows] == ["palliative13", "palliative13", "symptoms13"]
    assert rows[0]["dyspnea__status"] == "" and rows[2]["dyspnea__status"] == "extracted"
    assert rows[2]["request_for_visit__value"] == ""  # not a feature of that task: empty, not false


def test_refusals(pipelines, keys, tmp_path):  # noqa: F811
    _, identities, recipients = keys
    (good,) = write(tmp_path / "in", make_results(pipelines)[:1], pipelines["palliative13"].task, recipients)
    out = tmp_path / "t.csv"
    out.write_text("keep me")
    with pytest.raises(TableError, match="exists"):
        write_table([good], identities, out)
    assert out.read_text() == "keep me"
    assert write_table([good], identities, out, force=True).rows == 1
    with pytest.raises(TableError, match=r"\.csv or \.parquet"):
        write_table([good], identities, tmp_path / "t.xlsx")
    bad = tmp_path / "in" / "x.0123456789abcdef.json.age"
    bad.write_bytes(b"not age")
    with pytest.raises(TableError, match="x.0123456789abcdef"):
        write_table([tmp_path / "in"], identities, tmp_path / "u.csv")
    assert not (tmp_path / "u.csv").exists()


def test_file_names_and_one_file_per_result(tmp_path):
    assert split_name("a.0123456789abcdef.json.age") == ("a.0123456789abcdef", 0)
    assert split_name("a.0123456789abcdef.fhir.json.age") == ("a.0123456789abcdef", 1)
    assert split_name("a.txt.age") is None and split_name(".a.json.age.tmp") is None
    for name in ("k.1.fhir.json.age", "k.1.json.age", "k.2.fhir.json.age", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    files, skipped = result_files([tmp_path])
    assert [p.name for p in files] == ["k.1.json.age", "k.2.fhir.json.age"]
    assert [p.name for p in skipped] == ["k.1.fhir.json.age"]


def test_table_cli(pipelines, keys, tmp_path):  # noqa: F811
    ident_path, _, recipients = keys
    files = write(tmp_path / "in", make_results(pipelines), pipelines["palliative13"].task, recipients)
    out = tmp_path / "t.csv"
    r = CliRunner().invoke(main, ["table", "--identity", str(ident_path), *map(str, files), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert len(read_csv(out)) == len(files) and "4 row(s)" in r.stderr
    r = CliRunner().invoke(main, ["table", "-i", str(ident_path), str(tmp_path / "in"), "-o", str(out)])
    assert r.exit_code != 0 and "exists" in r.output + r.stderr


def test_parquet_of_a_custom_task_needs_its_file_and_types_every_kind(keys, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from appliance.result import FeatureResult
    from tests.runtime.test_fhir import mixed_task, synthetic

    _, identities, recipients = keys
    task = mixed_task()
    results = [synthetic(task, severity=FeatureResult(value="mild", status="extracted"),
                         pain_score=FeatureResult(value=7, status="extracted"),
                         drugs=FeatureResult(value=["a", "b"], status="extracted"),
                         pain=FeatureResult(value=True, status="extracted", confidence=0.8))]
    write(tmp_path / "in", results, task, recipients, formats=("native",))
    out = tmp_path / "t.parquet"
    with pytest.raises(TableError, match="--task FILE"):
        write_table([tmp_path / "in"], identities, out)
    assert not out.exists()
    write_table([tmp_path / "in"], identities, out, tasks=[task])
    assert (out.stat().st_mode & 0o777) == 0o600
    table = pq.read_table(out)
    types = {c: str(table.schema.field(c).type) for c in ("severity__value", "pain_score__value", "drugs__value")}
    assert types["severity__value"] == "string" and types["pain_score__value"] == "double"
    assert types["drugs__value"].startswith("list<") and types["drugs__value"].endswith(": string>")
    (row,) = table.to_pylist()
    assert (row["severity__value"], row["pain_score__value"], row["drugs__value"]) == ("mild", 7.0, ["a", "b"])
    assert row["translator"] == "opus-mt" and row["extractor_hash"] == "ef" * 32


def test_results_of_two_runs_on_one_transcript_are_both_read(pipelines, keys, tmp_path):  # noqa: F811
    """The same transcript processed by two appliances (another task, or another model) gives results
    with the same key in two outboxes: they are two results, not one result in two formats. Only the
    files of one result side by side in one folder are twins."""
    _, identities, recipients = keys
    pal = make_results(pipelines)[:2]
    sym = [r.model_copy(update={"input_id": p.input_id, "input_sha256": p.input_sha256})
           for r, p in zip(make_results(pipelines, "symptoms13"), pal)]
    write(tmp_path / "box-a", pal, pipelines["palliative13"].task, recipients, formats=("native", "fhir"))
    write(tmp_path / "box-b", sym, pipelines["symptoms13"].task, recipients, formats=("native", "fhir"))
    names = [sorted(p.name for p in (tmp_path / box).iterdir()) for box in ("box-a", "box-b")]
    assert names[0] == names[1]  # the same keys
    files, skipped = result_files([tmp_path / "box-a", tmp_path / "box-b"])
    assert [p.parent.name for p in files] == ["box-a", "box-a", "box-b", "box-b"] and len(skipped) == 4
    out = tmp_path / "t.csv"
    with pytest.raises(TableError, match="more than one task"):  # not hidden as a twin of the first
        write_table([tmp_path / "box-a", tmp_path / "box-b"], identities, out)
    report = write_table([tmp_path / "box-a", tmp_path / "box-b"], identities, out, allow_mixed_tasks=True)
    rows = read_csv(out)
    assert report.rows == 4 == len(rows)
    assert [r["task"] for r in rows] == ["palliative13"] * 2 + ["symptoms13"] * 2
    files, skipped = result_files([tmp_path / "box-a", *sorted((tmp_path / "box-a").iterdir())])
    assert len(files) == 2 and len(skipped) == 2  # a file given twice is read once
