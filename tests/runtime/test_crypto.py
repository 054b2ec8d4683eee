"""age encryption: pyrage round trips, interoperability with the standard `age` CLI, keygen, decrypt."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess

import pytest
from click.testing import CliRunner

from appliance import crypto
from appliance.cli import main
from appliance.errors import ConfigError
from tests.support.paths import REPO

AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")
needs_age = pytest.mark.skipif(
    AGE is None, reason="the `age` binary is not installed (apt-get install -y age)"
)


def test_roundtrip_many_recipients():
    (s1, p1), (s2, p2) = crypto.generate_identity(), crypto.generate_identity()
    recipients = crypto.load_recipients([p1, p2, p1], [])
    assert len(recipients) == 2
    blob = crypto.encrypt(b"payload", recipients)
    assert blob.startswith(crypto.AGE_MAGIC) and b"payload" not in blob
    from pyrage import x25519

    for s in (s1, s2):
        assert crypto.decrypt(blob, [x25519.Identity.from_str(s)]) == b"payload"
    s3, _ = crypto.generate_identity()
    with pytest.raises(crypto.CryptoError, match="no matching identity"):
        crypto.decrypt(blob, [x25519.Identity.from_str(s3)])


def test_refuses_no_recipients_and_secret_keys(tmp_path):
    with pytest.raises(ConfigError, match="no recipients configured"):
        crypto.load_recipients([], [])
    secret, public = crypto.generate_identity()
    f = tmp_path / "recipients.txt"
    f.write_text(f"# ops team\n{public}\n\n{secret}\n")
    with pytest.raises(ConfigError) as e:
        crypto.load_recipients([], [f])
    assert f"{f}:4" in str(e.value) and "identity (secret key)" in str(e.value) and secret not in str(e.value)
    with pytest.raises(ConfigError, match="recipients file not found"):
        crypto.load_recipients([], [tmp_path / "nope"])


def test_recipients_file_with_comments(tmp_path):
    _, p1 = crypto.generate_identity()
    _, p2 = crypto.generate_identity()
    f = tmp_path / "r.txt"
    f.write_text(f"# a comment\n  {p1}  \n{p2}\n")
    assert len(crypto.load_recipients([], [f])) == 2


def test_keygen_cli_writes_0600_and_refuses_overwrite(tmp_path):
    out = tmp_path / "id.txt"
    r = CliRunner().invoke(main, ["keygen", "--out", str(out)])
    assert r.exit_code == 0, r.output
    public = r.stdout.strip().splitlines()[-1]
    assert public.startswith("age1")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    assert f"# public key: {public}" in text and "AGE-SECRET-KEY-1" in text
    assert crypto.public_of(crypto.load_identities(out)[0]) == public
    r = CliRunner().invoke(main, ["keygen", "--out", str(out)])
    assert r.exit_code != 0 and "refusing to overwrite" in r.output
    assert out.read_text() == text


def test_keygen_to_stdout():
    r = CliRunner().invoke(main, ["keygen"])
    assert r.exit_code == 0 and "AGE-SECRET-KEY-1" in r.stdout


@needs_age
def test_age_cli_decrypts_what_we_write(tmp_path):
    secret, public = crypto.generate_identity()
    key = tmp_path / "key.txt"
    crypto.write_identity_file(key, crypto.identity_file_text(secret, public))
    blob = tmp_path / "r.json.age"
    blob.write_bytes(crypto.encrypt(b'{"ok": true}', crypto.load_recipients([public], [])))
    out = subprocess.run([AGE, "-d", "-i", str(key), str(blob)], capture_output=True, check=True)
    assert out.stdout == b'{"ok": true}'


@pytest.mark.skipif(AGE is None or AGE_KEYGEN is None, reason="age / age-keygen not installed")
def test_we_decrypt_what_age_writes(tmp_path):
    key = tmp_path / "key.txt"
    subprocess.run([AGE_KEYGEN, "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(
        [AGE_KEYGEN, "-y", str(key)], check=True, capture_output=True, text=True
    ).stdout.strip()
    blob = subprocess.run([AGE, "-r", public], input=b"hello", capture_output=True, check=True).stdout
    assert crypto.decrypt(blob, crypto.load_identities(key)) == b"hello"


def _result_json() -> bytes:
    from appliance.document import Document
    from tests.support.fakepipe import FakePipeline

    return FakePipeline().process(Document(id="d1", text="pain")).model_dump_json().encode()


def test_decrypt_cli_validates(tmp_path):
    secret, public = crypto.generate_identity()
    key = tmp_path / "key.txt"
    crypto.write_identity_file(key, crypto.identity_file_text(secret, public))
    rec = crypto.load_recipients([public], [])
    good = tmp_path / "good.json.age"
    good.write_bytes(crypto.encrypt(_result_json(), rec))
    bad = tmp_path / "bad.json.age"
    bad.write_bytes(crypto.encrypt(b'{"not": "a result"}', rec))
    plain = tmp_path / "plain.json.age"
    plain.write_bytes(b"{}")

    r = CliRunner().invoke(main, ["decrypt", str(good), "-i", str(key)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["input_id"] == "d1"

    r = CliRunner().invoke(main, ["decrypt", str(good), str(bad), str(plain), "-i", str(key)])
    assert r.exit_code == 1
    assert "not a valid result document" in r.stderr and "not an age-encrypted file" in r.stderr
    assert json.loads(r.stdout.strip().splitlines()[0])["input_id"] == "d1"  # the good one still printed

    r = CliRunner().invoke(main, ["decrypt", str(good), "-i", str(key), "--check"])
    assert r.exit_code == 0 and r.stdout.startswith("ok ")

    outdir = tmp_path / "out"
    r = CliRunner().invoke(main, ["decrypt", str(good), "-i", str(key), "--out-dir", str(outdir)])
    assert r.exit_code == 0
    written = outdir / "good.json"
    assert (
        stat.S_IMODE(written.stat().st_mode) == 0o600 and json.loads(written.read_bytes())["input_id"] == "d1"
    )

    r = CliRunner().invoke(main, ["decrypt", str(bad), "-i", str(key), "--raw"])
    assert r.exit_code == 0 and r.stdout_bytes == b'{"not": "a result"}'

    r = CliRunner().invoke(main, ["decrypt", str(good), "-i", str(key), "--summary"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "--- good.json.age" and lines[1].startswith("d1  language=")
    assert len(lines) == 2 + len(json.loads(_result_json())["features"])


def test_schema_cli_matches_committed_copies():

    from appliance.docsync import stale

    r = CliRunner().invoke(main, ["schema"])
    assert r.exit_code == 0
    schema = json.loads(r.stdout)
    assert schema["title"] == "Result" and schema["additionalProperties"] is False
    committed = REPO / "appliance" / "schemas" / "result.schema.json"
    assert json.loads(committed.read_text()) == schema
    assert not stale(), "generated files out of date: run python -m appliance.docsync"
    r = CliRunner().invoke(main, ["schema", "--kind", "error"])
    assert json.loads(r.stdout)["title"] == "FailureRecord"


def test_result_validates_against_schema():
    import jsonschema

    from appliance.docsync import result_schema

    jsonschema.validate(json.loads(_result_json()), result_schema())


def test_key_files_with_a_byte_order_mark(tmp_path):
    """Notepad saves "UTF-8" with a BOM: the key is still read. UTF-16 is refused, saying so."""
    secret, public = crypto.generate_identity()
    f = tmp_path / "recipients.txt"
    f.write_bytes(b"\xef\xbb\xbf" + public.encode() + b"\r\n")
    assert [k for k, _ in crypto.read_recipients_file(f)] == [public]
    assert len(crypto.load_recipients([], [f])) == 1
    ident = tmp_path / "identity.txt"
    ident.write_bytes(b"\xef\xbb\xbf# created: now\n" + secret.encode() + b"\n")
    assert crypto.public_of(crypto.load_identities(ident)[0]) == public
    f.write_bytes(("\ufeff" + public + "\n").encode("utf-16-le"))
    with pytest.raises(ConfigError, match="UTF-16 or UTF-32: save it as UTF-8") as e:
        crypto.read_recipients_file(f)
    assert "age1" not in str(e.value)
    f.write_bytes(b"\xe9" + public.encode())
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        crypto.read_recipients_file(f)
