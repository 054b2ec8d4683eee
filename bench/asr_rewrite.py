"""Speech-recognition-shaped rewrites of a labelled transcript set (same ids, same labels).

    python bench/asr_rewrite.py --data ../shared/data/acibench_en_dev.jsonl --out runs/asr-rewrites

writes one JSONL per variant into ``--out`` (``<variant>.jsonl``), each line the source document with
``text`` replaced by the rewrite, plus ``variant`` and ``input_format`` (the file suffix the rewrite is
written in: ``.txt``, ``.vtt``, ``.srt`` or ``.json``). Ids are kept, so a document stays in the same
dev/test split (``appliance.evaluate.split``) and in the same ``source_subset``; labels are the
source's, since the words that carry them are kept.

Variants (what speech-recognition engines and their integrations hand over):

``nopunct``
    Speaker lines kept, content lower-cased with all punctuation removed (apostrophes inside words and
    decimal points inside numbers kept), as engines without a punctuation model write.
``flat``
    No speaker labels, no punctuation, no case; the turns run together and are re-broken every 15-40
    words regardless of who speaks; fillers (``um``, ``uh``) after ~5 % of words, ~3 % of words
    repeated, and a non-speech tag (``[inaudible]``, ``(coughs)``, ``[BLANK_AUDIO]``) glued to a word
    every ~150 words. The shape of ``../shared/field-cases/asr-unpunctuated.txt``.
``diarized``
    One line per turn, ``[HH:MM:SS.mmm --> HH:MM:SS.mmm] SPEAKER_NN: text`` (whisperX-style diarization:
    anonymous speaker numbers in order of first appearance; times from 2.5 words per second), with
    non-speech tags as in ``flat``.
``diarized_roles``
    The same with the role after the time (``[00:00:01.200 --> 00:00:03.000] Doctor: ...``), the shape
    of ``../shared/field-cases/whisper-timestamps.txt``.
``vtt``
    WebVTT: each turn in cues of at most 12 words with ``<v Doctor>`` voice tags.
``srt``
    SubRip: the same cues, the speaker as a ``Doctor:`` prefix of each cue's text.
``whisper_json``
    The JSON Whisper-family engines write: ``{"text", "segments": [{"start", "end", "text",
    "speaker"}]}`` with whisperX's anonymous ``SPEAKER_NN`` labels, one segment per cue.

Every random choice is seeded by the document id (``random.Random(sha256(variant + id))``), so the
rewrites are the same on every run and machine. The rewrites are derived data of the source set and
carry its licence (ACI-Bench: CC BY 4.0); keep them out of the repository (``runs/`` is git-ignored).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from pathlib import Path

VARIANTS = ("nopunct", "flat", "diarized", "diarized_roles", "vtt", "srt", "whisper_json")
SUFFIX = {"vtt": ".vtt", "srt": ".srt", "whisper_json": ".json"}
WORDS_PER_SECOND = 2.5
CUE_WORDS = 12
FILLERS = ("um", "uh")
NON_SPEECH = ("[inaudible]", "(coughs)", "[BLANK_AUDIO]")
_TAG = re.compile(r"^\s*\[([^\]]+)\]\s*")
# Punctuation to drop: anything that is not a letter, digit, whitespace, or an apostrophe/decimal point
# between two word characters.
_PUNCT = re.compile(r"(?<![\w])'|'(?![\w])|(?<!\d)\.|\.(?!\d)|[^\w\s'.]")


def turns_of(text: str) -> list[tuple[str, str]]:
    """``[(speaker, text)]`` from ``[speaker] text`` lines (ACI-Bench's layout); an untagged line
    continues the previous turn (or opens one with speaker ``unknown``)."""
    turns: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _TAG.match(line)
        if m and m.group(1).strip().replace("_", "").isalpha():
            turns.append((m.group(1).strip().lower(), line[m.end():].strip()))
        elif turns:
            turns[-1] = (turns[-1][0], f"{turns[-1][1]} {line.strip()}")
        else:
            turns.append(("unknown", line.strip()))
    return turns


def strip_punctuation(text: str) -> str:
    """Lower-cased words without punctuation, single-spaced."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def role_name(speaker: str) -> str:
    """``patient_guest`` -> ``Patient Guest`` (a display role for cue voices and prefixes)."""
    return " ".join(p.capitalize() for p in speaker.split("_"))


def _stamp(seconds: float, sep: str = ".") -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _noisy(words: list[str], rng: random.Random, *, fillers: bool, tags: bool) -> list[str]:
    out: list[str] = []
    for w in words:
        out.append(w)
        if fillers and rng.random() < 0.03:
            out.append(w)
        if fillers and rng.random() < 0.05:
            out.append(rng.choice(FILLERS))
        if tags and rng.random() < 1 / 150:
            out[-1] = out[-1] + rng.choice(NON_SPEECH)  # glued, as engines often write them
    return out


def _cues(turns: list[tuple[str, str]], rng: random.Random, *, tags: bool = False):
    """``[(start_s, end_s, speaker, text)]``: each turn in cues of at most ``CUE_WORDS`` words, timed at
    ``WORDS_PER_SECOND`` with a 0.1-0.6 s pause between turns."""
    t = 0.5
    cues = []
    for speaker, text in turns:
        words = _noisy(text.split(), rng, fillers=False, tags=tags)
        for i in range(0, len(words), CUE_WORDS):
            chunk = words[i:i + CUE_WORDS]
            dur = max(0.4, len(chunk) / WORDS_PER_SECOND)
            cues.append((t, t + dur, speaker, " ".join(chunk)))
            t += dur + 0.05
        t += rng.uniform(0.1, 0.6)
    return cues


def _speaker_ids(turns: list[tuple[str, str]]) -> dict[str, str]:
    ids: dict[str, str] = {}
    for speaker, _ in turns:
        ids.setdefault(speaker, f"SPEAKER_{len(ids):02d}")
    return ids


def rewrite(text: str, variant: str, rng: random.Random) -> str:
    """One document's text as ``variant`` (see the module docstring)."""
    turns = turns_of(text)
    if variant == "nopunct":
        return "\n".join(f"[{s}] {strip_punctuation(t)}" for s, t in turns) + "\n"
    if variant == "flat":
        words = _noisy(strip_punctuation(" ".join(t for _, t in turns)).split(), rng, fillers=True, tags=True)
        lines, i = [], 0
        while i < len(words):
            n = rng.randint(15, 40)
            lines.append(" ".join(words[i:i + n]))
            i += n
        return "\n".join(lines) + "\n"
    if variant in ("diarized", "diarized_roles"):
        ids = _speaker_ids(turns)
        t = 0.5
        lines = []
        for speaker, body in turns:
            words = _noisy(body.split(), rng, fillers=False, tags=True)
            dur = max(0.4, len(words) / WORDS_PER_SECOND)
            who = ids[speaker] if variant == "diarized" else role_name(speaker)
            lines.append(f"[{_stamp(t)} --> {_stamp(t + dur)}] {who}: {' '.join(words)}")
            t += dur + rng.uniform(0.1, 0.6)
        return "\n".join(lines) + "\n"
    cues = _cues(turns, rng)
    if variant == "vtt":
        body = [f"{_stamp(a)} --> {_stamp(b)}\n<v {role_name(s)}>{x}</v>" for a, b, s, x in cues]
        return "WEBVTT\n\n" + "\n\n".join(body) + "\n"
    if variant == "srt":
        body = [f"{i}\n{_stamp(a, ',')} --> {_stamp(b, ',')}\n{role_name(s)}: {x}"
                for i, (a, b, s, x) in enumerate(cues, 1)]
        return "\n\n".join(body) + "\n"
    if variant == "whisper_json":
        ids = _speaker_ids(turns)
        segments = [{"start": round(a, 3), "end": round(b, 3), "text": " " + x, "speaker": ids[s]}
                    for a, b, s, x in cues]
        return json.dumps({"text": "".join(s["text"] for s in segments), "segments": segments,
                           "language": "en"}, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")


def rng_for(variant: str, doc_id: str) -> random.Random:
    """The seeded generator of one (variant, document)."""
    return random.Random(int(hashlib.sha256(f"{variant}\0{doc_id}".encode()).hexdigest(), 16))


def main() -> int:
    """Write every requested variant of ``--data`` into ``--out``; returns the exit status (0)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="Labelled JSONL (id, text, labels, ...).")
    ap.add_argument("--out", required=True, type=Path, help="Folder for <variant>.jsonl.")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.data, encoding="utf-8") if line.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    for variant in args.variants:
        path = args.out / f"{variant}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for r in rows:
                out = dict(r)
                out["text"] = rewrite(r["text"], variant, rng_for(variant, r["id"]))
                out["variant"] = variant
                out["input_format"] = SUFFIX.get(variant, ".txt")
                out.pop("reference_note", None)  # auditing material of the source, not needed here
                f.write(json.dumps(out, ensure_ascii=False) + "\n")
        print(f"{variant}: {len(rows)} documents -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
