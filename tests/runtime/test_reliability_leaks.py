"""Document content never leaves the encrypted files: a byte-level search of everything the daemon
touched.

Distinctive strings are planted in good and bad inputs: in the text, in JSON metadata (nested), as the
value of a bad ``language``, as a refused ``id``, and as the *name* of an unknown JSON field. After
the real daemon (`appliance run`, rules pipeline, debug logging, encrypted archive retention) has
processed them all, none may appear — as UTF-8, UTF-16, JSON escapes, hex or base64 — in its
stdout/stderr (what journald stores), in state/ (status, ledger, attempt counters), in error
sidecars, in the names of any file, in the CLI's `status` and `failures` output, or in its HOME or
TMPDIR. The only places they may be: the encrypted results and archive (which must decrypt to them,
proving they were really read), and the bad inputs kept unchanged in failed/ by contract.

File names and ids are identifiers, not content (docs/integration.md): a string planted in a file
name may appear only in the fields that name files (log ``file``/``key``/``moved_to``, status
``current``/``last_error.input``, sidecar ``input_name``, ledger and attempt records, and the names
of results and failed inputs), nowhere else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from appliance import crypto
from tests.support.reliability import Box, find_planted, validate_result, wait_for

TEXT = "ZEBRA-TEXT-4711"
TEXT_FA = "گورخر‌متن‌۴۷۱۱"  # Persian, with zero-width non-joiners
META = "ZEBRA-META-0815"
KEY = "ZEBRA-FIELDNAME-2718"
LANG = "ZEBRALANG"
BAD_ID = "ZEBRA-ID-REFUSED-99"
CONTENT = [TEXT, TEXT_FA, META, KEY, LANG, BAD_ID]
NAME = "ZEBRANAME31"  # in file names and ids: allowed only where files are named
NAME_FIELDS = {"file", "key", "moved_to", "input", "current", "input_name", "name", "id_slug"}


def j(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def inputs() -> tuple[dict[str, bytes], dict[str, bytes]]:
    body = f"The patient has pain and fever. {TEXT} {TEXT_FA}"
    meta = {"note": META, "nested": {"list": [META, {"deeper": META}]}}
    good = {
        f"{NAME}-call.txt": body.encode(),
        "g2.json": j({"id": f"{NAME}-g2", "text": body, "metadata": meta}),
        "g3.json": j({"id": "g3", "language": "en", "text": body, "metadata": {"n": 1}}),
    }
    bad = {
        f"{NAME}-latin1.txt": f"douleur très forte {TEXT}".encode("latin-1"),
        "nul.txt": f"pain {TEXT}\x00".encode(),
        "unknown-field.json": j({"id": "u", "text": body, KEY: META, "metadata": meta}),
        "bad-language.json": j({"id": "l", "text": body, "language": LANG, "metadata": meta}),
        "bad-id.json": j({"id": f"{BAD_ID}\u0007", "text": body, "metadata": meta}),
        "trailing.json": j({"id": "t", "text": body}) + f" {TEXT} {META}".encode(),
        "dup.json": j({"id": "d", "text": body})[:-1] + b", " + j({"text": TEXT, "metadata": meta})[1:],
        "deep.json": j({"id": "p", "text": body, "metadata": _deep(META, 30)}),
        "big-meta.json": j({"id": "b", "text": body, "metadata": {"x": META * 6000}}),
        "wrong-type.json": j({"id": "w", "text": [TEXT], "metadata": meta}),
        "blank-text.json": j({"id": "e", "text": "  ", "metadata": meta}),
        "controls.json": j({"id": "c", "text": "\u0001\u0002\u0003" * 50 + TEXT, "metadata": meta}),
        "too-large.txt": (TEXT + " ") * 80_000,  # 1.2 MB > the 1 MiB limit
        "utf16.txt": body.encode("utf-16"),
        "notes.pdf": body.encode(),
    }
    bad["too-large.txt"] = bad["too-large.txt"].encode()
    return good, bad


def _deep(value, levels: int):
    for _ in range(levels):
        value = {"a": value}
    return value


def strip_name_fields(obj):
    """A JSON value without the fields that are allowed to name files."""
    if isinstance(obj, dict):
        return {k: strip_name_fields(v) for k, v in obj.items() if k not in NAME_FIELDS}
    if isinstance(obj, list):
        return [strip_name_fields(v) for v in obj]
    return obj


def test_planted_strings_appear_nowhere_but_in_the_encrypted_files(tmp_path):
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    box = Box(
        tmp_path,
        retention={"on_success": "archive"},
        service={"status_interval_seconds": 0.2, "log_format": "json", "log_level": "debug"},
        retries={"max_attempts": 2, "backoff_seconds": 0.05, "backoff_max_seconds": 0.1},
    )
    good, bad = inputs()
    user = {"HOME": str(home), "TMPDIR": str(home / "tmp"), "XDG_CACHE_HOME": str(home / ".cache")}
    proc = box.start(**user)
    proc.wait_event("ready", timeout=120)
    for name, data in {**bad, **good}.items():
        box.drop(name, data)
    wait_for(
        lambda: len(box.entries("outbox")) == len(good) and len(box.failures()) == len(bad),
        timeout=90,
        what="every input handled",
    )
    box.drop(f"{NAME}-call.txt", good[f"{NAME}-call.txt"])  # a duplicate: its own log path
    proc.wait_event("duplicate", timeout=30)
    wait_for(lambda: not box.entries("inbox") and not box.entries("work"), what="an empty queue")
    cli_out = ""
    for args in (("status",), ("status", "--json"), ("failures",), ("failures", "--json")):
        r = box.cli(*args, **user)
        cli_out += r.stdout + r.stderr
    assert proc.stop() == 0
    assert {rec["reason"] for rec in box.failures().values()} == {
        "invalid_utf8",
        "binary",
        "json_unknown_field",
        "bad_language",
        "bad_id",
        "invalid_json",
        "json_duplicate_key",
        "json_too_deep",
        "metadata_too_large",
        "json_field",
        "whitespace_only",
        "too_large",
        "utf16",
        "unsupported_type",
    }

    # The planted strings really went in: the encrypted files decrypt to them.
    plain = b""
    for p in list(box.outbox.glob("*.age")) + list(box.archive.glob("*.age")):
        plain += crypto.decrypt(p.read_bytes(), box.identities)
    for r in box.results().values():
        validate_result(r)
    assert TEXT.encode() in plain and TEXT_FA.encode() in plain and META.encode() in plain
    assert len(list(box.archive.glob("*.age"))) == len(good)

    # Everything else, byte for byte.
    failed_inputs = {box.failed / n for n in box.entries("failed") if not n.endswith(".error.json")}
    checked = 0
    problems = []
    for p in sorted(tmp_path.rglob("*")):
        rel = p.relative_to(tmp_path)
        hits = find_planted(os.fsencode(p.name), CONTENT)
        if hits:
            problems.append(f"file name {rel}: {hits}")
        if p.is_dir() or p.is_symlink():
            continue
        if p.suffix == ".age" or p in failed_inputs or p.name == "identity.txt":
            continue  # encrypted; or the bad input itself, kept as dropped; or the test's own key
        data = p.read_bytes()
        checked += 1
        hits = find_planted(data, CONTENT)
        if hits:
            problems.append(f"{rel}: {hits}")
        if NAME.encode() in data:  # allowed only in the fields that name files
            text = data.decode("utf-8", "replace")
            for line in text.splitlines() if p.suffix == ".log" else [text]:
                try:
                    value = json.loads(line)
                except ValueError:
                    if NAME in line:
                        problems.append(f"{rel}: file name outside a naming field: {line[:200]}")
                    continue
                if NAME in json.dumps(strip_name_fields(value), ensure_ascii=False):
                    problems.append(f"{rel}: file name outside a naming field: {line[:200]}")
    for hit in find_planted(cli_out.encode(), CONTENT):
        problems.append(f"CLI output: {hit}")
    assert not problems, "\n".join(problems)
    assert checked >= 10  # logs, status, ledger, sidecars...
    logs = list(tmp_path.glob("daemon-*.log"))
    assert logs and all(p.stat().st_size > 0 for p in logs)
    assert [p for p in home.rglob("*") if not p.is_dir()] == []


def test_failure_details_name_positions_not_content():
    """The unit-level guarantee the search above relies on: every reader refusal's message is free of
    the document's content, including unknown field names and refused values."""
    from appliance.errors import InputError
    from appliance.inputs import parse_input

    _, bad = inputs()
    seen = set()
    for name, raw in bad.items():
        if name in ("too-large.txt", "notes.pdf"):
            continue
        try:
            parse_input(raw, name)
        except InputError as e:
            seen.add(e.reason)
            assert not find_planted(str(e).encode(), CONTENT), (name, str(e))
        else:
            raise AssertionError(f"{name} was accepted")
    assert len(seen) >= 10
    assert Path(__file__).exists()


def test_the_search_finds_every_encoding_it_claims_to():
    """The detector above must be able to fail: each encoding of a planted string, buried at any
    alignment inside other bytes, is found; unrelated bytes are not flagged."""
    import base64

    from tests.support.reliability import encodings

    for secret in (TEXT, TEXT_FA):
        raw = secret.encode()
        for pad in range(3):
            blob = b"x" * pad + raw + b"y"
            buried = b"prefix " + base64.b64encode(b"z" * pad + blob) + b" suffix"
            assert find_planted(buried, [secret]), (secret, pad)
        for form, needle in encodings(secret).items():
            assert find_planted(b"..." + needle + b"...", [secret]), form
        assert find_planted(json.dumps({"t": secret}).encode(), [secret])  # \u escapes
    assert find_planted(b"ZEBRA-TEXT-4712 and other things", [TEXT]) == []
