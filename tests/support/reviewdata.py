"""What a box leaves for the review station, made with the real code: an age identity (``appliance.crypto``),
results of the real ``rules`` strategy through ``appliance.pipeline.Pipeline``, encrypted with the real
crypto as ``outbox/<key>.json.age``, and the inputs archived as ``archive/<key><suffix>.age`` (the names
``appliance.store`` gives them).

The calls are the package samples (English and Persian) plus short calls written for these tests.
``offsets=True`` adds ``start``/``end`` to original-text evidence that lacks them, as newer boxes write
them (the quote's only occurrence in the text), for chosen inputs only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

from pyrage import x25519

from appliance import crypto
from appliance.inputs import parse_input
from appliance.store import result_key

EXTRA_CALLS = {
    "call-en-101.txt": "Nurse: How is he today?\nWife: He is in a lot of pain in his legs and he vomited twice.\n"
                       "Nurse: Any fever?\nWife: No fever.\n",
    "call-en-102.txt": "Nurse: Hello, how are you feeling?\n"
                       "Patient: I'm fine, just calling to confirm the appointment.\n",
    "call-en-103.txt": "Daughter: She had a seizure this morning and now she is very drowsy.\n"
                       "Nurse: Is she breathing normally?\n"
                       "Daughter: Her breathing is fast and she is short of breath.\n",
    "call-en-104.txt": "Patient: I can't sleep and I feel very low, I cry every day.\nNurse: Any pain?\n"
                       "Patient: A little pain in my back.\n",
    "call-en-105.txt": "Son: He has had no appetite for a week and he is too weak to stand.\n"
                       "Son: Could the doctor visit him at home?\n",
    "call-en-106.txt": "Nurse: Any problems passing urine?\nPatient: Yes, it burns when I pass urine.\n"
                       "Patient: And the bills from the hospital, the insurance won't pay.\n",
    "call-fa-103.txt": "پرستار: حالش چطور است؟\nپسر: تب دارد و سرفه می‌کند.\nپرستار: درد دارد؟\nپسر: نه، درد ندارد.\n",
}


@dataclass
class BoxOutput:
    """Folders and keys of one fixture: ``identity`` (file), ``results`` (outbox), ``archive``,
    ``keys`` (input name → result key), ``texts`` (key → text as read), ``results_json`` (key → the
    plaintext result dict, as encrypted)."""

    identity: Path
    public: str
    results: Path
    archive: Path
    keys: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    results_json: dict[str, dict] = field(default_factory=dict)


def sample_inputs(extra: bool = True, copies: int = 1) -> dict[str, bytes]:
    """Input file name → bytes: the package samples, plus :data:`EXTRA_CALLS` with ``extra``; with
    ``copies`` > 1 each .txt call also comes as ``NAME-vK.txt`` with a closing line of its own (another id,
    another text: a bigger set for the split and the bootstrap)."""
    root = resources.files("appliance").joinpath("samples")
    out = {p.name: p.read_bytes() for p in sorted(root.iterdir(), key=lambda p: p.name) if p.is_file()}
    if extra:
        out.update({name: text.encode("utf-8") for name, text in EXTRA_CALLS.items()})
    for k in range(2, copies + 1):
        for name, raw in list(out.items()):
            if name.endswith(".txt") and "-v" not in name:
                out[f"{name[:-4]}-v{k}.txt"] = raw.rstrip(b"\n") + f"\nNurse: Call {k} ends here.\n".encode()
    return out


def _add_offsets(result: dict, text: str) -> None:
    for fr in result["features"].values():
        for ev in fr.get("evidence") or []:
            if ev.get("source", "original") != "original" or ev.get("start") is not None:
                continue
            i = text.find(ev["quote"])
            if i >= 0 and text.find(ev["quote"], i + 1) < 0:
                ev["start"], ev["end"] = i, i + len(ev["quote"])


def build_box_output(root: Path, *, inputs: dict[str, bytes] | None = None, offsets_for: tuple[str, ...] = (),
                     archive: bool = True, task: str = "palliative13", days_apart: int = 9) -> BoxOutput:
    """Run the rules pipeline on ``inputs`` (default :func:`sample_inputs`), encrypt and lay out results
    (and, with ``archive``, inputs) under ``root``. Result creation times are spread ``days_apart`` days
    apart, oldest first, so the report has several months."""
    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings

    secret, public = crypto.generate_identity()
    root.mkdir(parents=True, exist_ok=True)
    ident = root / "identity.txt"
    crypto.write_identity_file(ident, crypto.identity_file_text(secret, public))
    recipients = [x25519.Recipient.from_str(public)]
    out = BoxOutput(identity=ident, public=public, results=root / "outbox", archive=root / "archive")
    out.results.mkdir(parents=True)
    out.archive.mkdir(parents=True)
    pipeline = Pipeline.load(PipelineSettings(task=task, strategy="rules"))
    start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    try:
        for i, (name, raw) in enumerate((inputs or sample_inputs()).items()):
            doc = parse_input(raw, name)
            result = json.loads(pipeline.process(doc).model_dump_json())
            result["created"] = (start + timedelta(days=i * days_apart)).isoformat()
            if name in offsets_for:
                _add_offsets(result, doc.text)
            key = result_key(doc.id, hashlib.sha256(raw).hexdigest())
            data = json.dumps(result, ensure_ascii=False).encode("utf-8")
            (out.results / f"{key}.json.age").write_bytes(crypto.encrypt(data, recipients))
            if archive:
                suffix = Path(name).suffix.lower()
                (out.archive / f"{key}{suffix}.age").write_bytes(crypto.encrypt(raw, recipients))
            out.keys[name] = key
            out.texts[key] = doc.text
            out.results_json[key] = result
    finally:
        pipeline.close()
    return out
