"""The review station without a browser: quote placement (Persian included), the queue, the label log,
the review folder, the labelled file read by `appliance evaluate`, the agreement report and its warnings.

Fixtures are made with the real code (tests/support/reviewdata.py): identities, the rules pipeline, age files.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.review.highlight import find_quote, place, segment_lines
from appliance.review.labels import LabelError, LabelStore
from appliance.review.queue import decision_uncertainty, in_audit, order, priority
from appliance.review.results import EvidenceView, FeatureView, ResultFormatError, parse_result
from appliance.review.workspace import WarnRule, Workspace, WorkspaceError
from tests.support.paths import REPO
from tests.support.reviewdata import build_box_output

FA = REPO / "appliance" / "samples" / "call-fa-001.txt"


# ------------------------------------------------------------------------------------------- placement

def test_offsets_are_used_when_they_hold_and_never_when_they_do_not():
    text = "Nurse: any pain?\nSon: yes, pain in the back. No pain at night."
    i = text.index("yes, pain in the back.")
    ev = EvidenceView(quote="yes, pain in the back.", start=i, end=i + 22)
    p = place(text, ev)
    assert p.method == "offsets" and p.spans == ((i, i + 22),)
    # Offsets that do not point at the quote (another text, an older box) fall back to the search.
    moved = EvidenceView(quote="yes, pain in the back.", start=0, end=22)
    assert place(text, moved).spans == ((i, i + 22),) and place(text, moved).method == "search"
    # A quote found more than once is not highlighted anywhere: it would be a guess.
    amb = place(text, EvidenceView(quote="pain"))
    assert not amb.placed and amb.occurrences == 3
    # Not found: nothing highlighted; a word inside another word is not a match.
    assert not place(text, EvidenceView(quote="fever")).placed
    assert find_quote("painful night", "pain") == []


def test_search_is_whitespace_and_case_tolerant():
    text = "Son: She  has had a HIGH\nfever since last night."
    (s, e), = find_quote(text, "she has had a high fever")
    assert text[s:e] == "She  has had a HIGH\nfever"


def test_persian_quote_is_placed_on_exactly_its_characters():
    text = FA.read_text(encoding="utf-8")
    quote = "بله، کمرش خیلی درد می\u200cکند و قرص\u200cها اثر ندارند."
    i = text.index(quote)
    assert place(text, EvidenceView(quote=quote), "fa").spans == ((i, i + len(quote)),)
    # A model's quote written with Arabic yeh and kaf is found through the pipeline's normalisation,
    # and the highlight covers the transcript's own characters.
    arabic = quote.replace("ی", "ي").replace("ک", "ك")
    (s, e), = find_quote(text, arabic, "fa")
    assert text[s:e] == quote
    lines = segment_lines(text, [(i, i + len(quote), "pain")])
    marked = [seg for line in lines for seg in line.segments if seg.features]
    assert "".join(seg.text for seg in marked) == quote and marked[0].start == i
    assert "\n".join(line.text for line in lines) == text  # every character, in order, once


def test_segments_split_overlapping_marks():
    lines = segment_lines("abcdef\ngh", [(1, 4, "x"), (3, 8, "y"), (50, 60, "z")])
    segs = [(s.text, s.features) for line in lines for s in line.segments]
    assert segs == [("a", ()), ("bc", ("x",)), ("d", ("x", "y")), ("ef", ("y",)), ("g", ("y",)), ("h", ())]


# ----------------------------------------------------------------------------------------------- queue

def test_uncertainty_and_order():
    assert decision_uncertainty(FeatureView(status="missing")) == 1.0
    assert decision_uncertainty(FeatureView(status="extracted", value=True, score=0.5, threshold=0.5)) == 1.0
    assert decision_uncertainty(FeatureView(status="extracted", value=False, score=0.0, threshold=0.5)) == 0.0
    assert decision_uncertainty(FeatureView(status="extracted", value=True, confidence=0.75)) == 0.5
    salt = "fixed-salt"
    feats = {
        "sure": {"f": FeatureView(status="extracted", value=False, score=0.02, threshold=0.5)},
        "coin": {"f": FeatureView(status="extracted", value=True, score=0.52, threshold=0.5)},
        "missing": {"f": FeatureView(status="missing", reason="x")},
    }
    prios = [priority(k, v, ["f"], salt, 0.0) for k, v in feats.items()]
    assert order(prios, salt) == ["missing", "coin", "sure"]
    # Audit membership is stable and about the rate; audit items alternate with the uncertain ones.
    keys = [f"call-{i}.{i:016x}" for i in range(2000)]
    share = sum(in_audit(k, salt, 0.1) for k in keys) / len(keys)
    assert 0.08 < share < 0.12
    assert [in_audit(k, salt, 0.1) for k in keys] == [in_audit(k, salt, 0.1) for k in keys]
    audit_key = next(k for k in keys if in_audit(k, salt, 0.5))
    prios = [priority(k, feats["coin"] if k != audit_key else feats["sure"], ["f"], salt, 0.5)
             for k in [audit_key, "a-plain-key"] if k == audit_key or not in_audit(k, salt, 0.5)]
    assert order(prios, salt)[0] == audit_key  # a sure audit item still comes first


# ------------------------------------------------------------------------------- label log and folder

def test_label_log_is_append_only_and_survives_a_torn_line(tmp_path):
    path = tmp_path / "labels.log"
    store = LabelStore(path)
    store.record_item("k.0000000000000001", {"features": {"pain": {"value": True, "status": "extracted"}}}, "ann")
    store.set_label("k.0000000000000001", "pain", "absent", "ann")
    store.set_label("k.0000000000000001", "pain", "present", "ann")
    with pytest.raises(LabelError):
        store.set_label("k.0000000000000001", "pain", "maybe", "ann")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    with open(path, "ab") as f:  # a power cut in the middle of a line
        f.write(b'{"event": "label", "key": "k.00000000')
    again = LabelStore(path)
    assert again.skipped_lines == 1 and again.items["k.0000000000000001"].labels == {"pain": "present"}
    again.complete("k.0000000000000001", {"pain": "present"}, "bob", seconds=12.34)
    third = LabelStore(path)
    st = third.items["k.0000000000000001"]
    assert st.done and st.done_by == "bob" and st.seconds == 12.3 and third.skipped_lines == 1
    assert path.read_bytes().startswith(before)  # nothing written before was rewritten
    assert len(third.done_items()) == 1


def test_folder_is_private_locked_and_keeps_its_settings(tmp_path):
    ws = Workspace.open(tmp_path / "rev")
    assert stat.S_IMODE((tmp_path / "rev").stat().st_mode) == 0o700
    ws.update_settings(warn=WarnRule(metric="mcc", below=0.5, min_reviews=5), audit_rate=0.2)
    again = Workspace.open(tmp_path / "rev")
    assert again.settings.salt == ws.settings.salt and again.settings.warn.metric == "mcc"
    assert again.settings.audit_rate == 0.2
    ws.lock()
    # A second review server on the same folder (another process) is refused.
    code = ("import sys; from appliance.review.workspace import Workspace, WorkspaceError\n"
            f"w = Workspace.open({str(tmp_path / 'rev')!r})\n"
            "try:\n    w.lock()\nexcept WorkspaceError:\n    sys.exit(3)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 3, proc.stderr[-500:]
    ws.unlock()
    open_dir = tmp_path / "shared"
    open_dir.mkdir(mode=0o755)
    os.chmod(open_dir, 0o755)
    with pytest.raises(WorkspaceError, match="chmod 700"):
        Workspace.open(open_dir)


def test_result_view_reads_older_and_newer_results_and_refuses_others():
    base = {"schema_version": "1.0", "input_id": "a", "input_sha256": "0" * 64, "language": "en",
            "features": {"pain": {"value": True, "status": "extracted", "evidence": [
                {"quote": "pain", "found_in_text": True, "source": "original", "start": 3, "end": 7,
                 "future_field": 1}]}},
            "provenance": {"task": "palliative13", "strategy": "rules", "models": []},
            "created": "2026-01-01T00:00:00Z", "timings": {}, "windows": 1}
    r = parse_result(json.dumps(base).encode())
    assert r.features["pain"].evidence[0].start == 3
    with pytest.raises(ResultFormatError):
        parse_result(json.dumps({**base, "schema_version": "2.0"}).encode())
    with pytest.raises(ResultFormatError):
        parse_result(b"\xff not json")


# ----------------------------------------------------------------------------- the station, end to end

@pytest.fixture(scope="module")
def box(tmp_path_factory):
    return build_box_output(tmp_path_factory.mktemp("box"), offsets_for=("call-fa-001.txt",))


def _station(box, folder, reviewer="ann", inputs=True):
    from appliance.review.station import ReviewStation

    return ReviewStation.open(box.results, box.archive if inputs else None, box.identity, folder, reviewer)


def test_station_reviews_calls_into_a_file_evaluate_reads(box, tmp_path):
    st = _station(box, tmp_path / "rev")
    assert len(st.source.results) == len(box.keys) and not st.source.problems
    queue = st.queue()
    assert {r.key for r in queue} == set(box.keys.values()) and not any(r.done for r in queue)
    fa = box.keys["call-fa-001.txt"]
    page = st.item(fa)
    assert page.transcript.status == "ok" and page.direction == "rtl"
    assert page.transcript.text == box.texts[fa]
    pain = next(f for f in page.features if f.info.key == "pain")
    assert pain.suggestion == "present" and pain.evidence[0].placement.method == "offsets"
    # Review three calls: take the suggestions, correct one feature on the first.
    done = []
    for key in [r.key for r in queue[:3]]:
        page = st.item(key)
        labels = {f.info.key: f.suggestion or "absent" for f in page.features}
        if not done:
            st.set_label(key, "pain", "not_mentioned")
            labels["pain"] = "not_mentioned"
        st.complete(key, labels, seconds=20)
        done.append(key)
    with pytest.raises(LabelError, match="no choice yet"):
        st.complete(queue[3].key, {"pain": "present"})
    with pytest.raises(LabelError):
        st.set_label(queue[3].key, "not_a_feature", "present")
    assert st.next_key() not in done
    rows = [json.loads(line) for line in st.workspace.dataset_path.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(done)
    first = next(r for r in rows if r["id"] == done[0])
    assert first["labels"]["pain"] is False and first["label_status"]["pain"] == "not_mentioned"
    assert first["text"] == box.texts[done[0]] and first["reviewer"] == "ann"
    assert stat.S_IMODE(st.workspace.dataset_path.stat().st_mode) == 0o600
    # The label log holds no transcript text.
    log = st.workspace.log_path.read_text(encoding="utf-8")
    assert not any(line.strip() and line.strip() in log for k in done for line in box.texts[k].splitlines())

    # `appliance evaluate` reads the file directly (rules strategy: fast).
    res = CliRunner().invoke(main, ["evaluate", "--data", str(st.workspace.dataset_path), "--task", "palliative13",
                                    "--strategy", "rules", "--no-baseline", "--bootstrap", "20", "--no-plot",
                                    "--no-progress", "--out", str(tmp_path / "eval")])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["documents"]["evaluated"] == 3

    # A new station (restart) finds the labels, and rebuilds the file identically from the log.
    before = st.workspace.dataset_path.read_bytes()
    st.workspace.dataset_path.unlink()
    again = _station(box, tmp_path / "rev", reviewer="bob")
    assert again.workspace.dataset_path.read_bytes() == before
    assert all(again.store.items[k].done for k in done)


def test_without_the_archive_the_page_says_so_and_nothing_is_highlighted(box, tmp_path):
    st = _station(box, tmp_path / "rev", inputs=False)
    page = st.item(box.keys["call-en-001.txt"])
    assert page.transcript.status == "no_archive" and page.lines is None
    assert all(not e.placement.placed for f in page.features for e in f.evidence)
    # A result that does not open with this identity is listed as a problem, never shown.
    from pyrage import x25519

    from appliance import crypto

    _, other = crypto.generate_identity()
    stranger = box.results / "stranger.0123456789abcdef.json.age"
    stranger.write_bytes(crypto.encrypt(b"{}", [x25519.Recipient.from_str(other)]))
    try:
        st.refresh()
        assert st.source.problems == {stranger.name: "cannot_decrypt"}
    finally:
        stranger.unlink()


def test_report_warns_below_the_clinic_threshold(box, tmp_path):
    from appliance.review.agreement import agreement_report

    st = _station(box, tmp_path / "rev")
    for row in st.queue():
        page = st.item(row.key)
        labels = {f.info.key: f.suggestion or "absent" for f in page.features}
        labels["pain"] = "absent" if labels["pain"] == "present" else "present"  # the appliance is always wrong
        st.complete(row.key, labels)
    rule = WarnRule(metric="macro_f1", below=0.7, min_reviews=5)
    rep = agreement_report(list(st.store.items.values()), rule, replicates=50)
    assert rep["calls"]["reviewed"] == len(box.keys)
    assert rep["checks"]["pain"]["status"] in ("below", "clearly_below")
    assert rep["checks"]["pain"]["value"] == 0.0
    assert any(w["feature"] == "pain" for w in rep["warnings"])
    assert len(rep["over_time"]) >= 3 and all(row["all"] for row in rep["over_time"])
    json.dumps(rep)  # plain JSON

    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["review", "report", "--folder", str(tmp_path / "rev"), "--out", str(out),
                                    "--bootstrap", "50", "--min-reviews", "5", "--strict"])
    assert res.exit_code == 4, res.output
    assert "WARNING: pain: macro-F1 0.00" in res.output
    assert (out / "report.png").read_bytes().startswith(b"\x89PNG")
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "clearly below" in md or "below threshold" in md
    assert not any(line.strip() and line.strip() in md for t in box.texts.values() for line in t.splitlines())
    res = CliRunner().invoke(main, ["review", "settings", "--folder", str(tmp_path / "rev"),
                                    "--warn-below", "0.5"])
    assert res.exit_code == 0 and "< 0.5" in res.output


def test_the_daemon_path_does_not_load_the_review_station():
    code = ("import sys, appliance.cli, appliance.daemon, appliance.pipeline\n"
            "bad = [m for m in sys.modules\n"
            "       if m.startswith(('flask', 'waitress', 'matplotlib', 'appliance.review'))]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout + proc.stderr[-800:]


def test_docs_name_every_option_of_the_review_commands():
    """docs/review.md cannot silently fall behind the commands' options."""
    import click

    from appliance.cli.review import review

    doc = (REPO / "docs" / "review.md").read_text(encoding="utf-8")
    missing = []
    for name, cmd in [("review", review), *review.commands.items()]:
        for p in cmd.params:
            if isinstance(p, click.Option) and not any(o in doc for o in p.opts if o.startswith("--")):
                missing.append(f"{name} {p.opts[0]}")
    assert not missing, missing


def test_a_failed_start_leaves_no_review_folder(box, tmp_path):
    """The identity is read before the review folder is made: a wrong identity file creates nothing."""
    from appliance.crypto import CryptoError

    bad = tmp_path / "not-an-identity.txt"
    bad.write_text("garbage\n")
    with pytest.raises(CryptoError):
        from appliance.review.station import ReviewStation

        ReviewStation.open(box.results, box.archive, bad, tmp_path / "rev", "ann")
    assert not (tmp_path / "rev").exists()


def test_seconds_on_the_page_are_kept_only_when_finite(tmp_path):
    """A client's `Infinity` or `NaN` never reaches the log, which stays strict JSON (jq, JSON.parse)."""
    store = LabelStore(tmp_path / "labels.log")
    for i, secs in enumerate((float("inf"), float("nan"), -1.0, 7.25)):
        store.complete(f"k.000000000000000{i}", {"pain": "present"}, "ann", seconds=secs)

    def strict(text):
        raise ValueError(f"not strict JSON: {text}")

    lines = [json.loads(x, parse_constant=strict) for x in (tmp_path / "labels.log").read_text().splitlines()]
    assert [x["seconds"] for x in lines] == [None, None, None, 7.2]


def test_results_of_a_task_this_station_does_not_know_are_pointed_out(tmp_path):
    """Without its task file a task's features are guessed from the values: a missing number looks like a
    missing yes/no. The station says which tasks it does not know; with --task it reviews booleans only."""
    from appliance.review.station import ReviewStation

    task = json.loads((REPO / "appliance" / "tasks" / "builtin" /
                       "palliative13.json").read_text(encoding="utf-8"))
    task.update(name="clinic_mixed", features=task["features"][:3] + [
        {"key": "pain_score", "labels": {"en": "Pain score"}, "definition": "0-10.", "type": "number"}])
    task.pop("examples", None)
    task_file = tmp_path / "clinic_mixed.json"
    task_file.write_text(json.dumps(task), encoding="utf-8")
    box = build_box_output(tmp_path / "box", task=str(task_file),
                           inputs={"c.txt": b"Patient: I have pain, 7 out of 10.\n"})
    key = box.keys["c.txt"]
    assert box.results_json[key]["features"]["pain_score"]["status"] == "missing"
    st = ReviewStation.open(box.results, box.archive, box.identity, tmp_path / "rev", "ann")
    assert st.unknown_tasks() == {"clinic_mixed": 1}
    guessed = [f.info.key for f in st.item(key).features]
    assert "pain_score" in guessed  # a guess: it could be a yes/no
    st.complete(key, {k: "absent" for k in guessed})
    # Restarted with the task file: booleans only, in the labelled file and in the report.
    st = ReviewStation.open(box.results, box.archive, box.identity, tmp_path / "rev", "ann",
                            task_files=(task_file,))
    assert st.unknown_tasks() == {}
    booleans = [f["key"] for f in task["features"][:3]]
    assert [f.info.key for f in st.item(key).features] == booleans
    assert list(json.loads(st.workspace.dataset_path.read_text())["labels"]) == sorted(booleans)
    assert st.report(replicates=10)["features"]["keys"] == booleans
