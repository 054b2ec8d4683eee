"""Judging a configuration across populations: leave one part out, and speech-recognition rewrites.

The labelled set is split into parts by a document field (default ``source_subset``: the recording
styles of the development set). For each part in turn (a *fold*) whatever the configuration fits is fitted
on the other parts only: the 'hybrid' combiner (``combine_fit``, from traced runs: ``traces``), per-feature
thresholds (``--calibrate``, other parts' dev documents), or a fine-tuned bundle given for that fold
(``fold_models``, trained elsewhere without the part). The fitted configuration is then measured on every
document of the held-out part, in clean text and in each rewrite given (``variants``: same ids and
labels, e.g. ``bench/asr_rewrite.py`` output), next to the rule baseline on the same documents: each
figure with its bootstrap interval (``scoring.score_run``) and the paired difference from the rules
(``compare.compare_arrays``). Nothing is re-implemented: predictions come from the daemon's pipeline
(``runner.predict``), figures from ``scoring`` and ``compare``.

The **gate**: on every held-out part and rewrite, the configuration's median macro-F1 and median
sensitivity are at least the rules' (point estimates of the paired difference, missing values scored
False). It is what decides whether a configuration may be the default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..combine.model import Combiner, trace_decision
from ..errors import InputError
from ..tasks import Task, load_task
from .compare import compare_arrays
from .data import LabelledDocument, load_labelled
from .runner import boolean_keys
from .scoring import RunArrays, build_arrays, score_run

CLEAN = "clean"
GATE_FIGURES = ("missing_false.macro_f1", "missing_false.sensitivity")
CONFIDENT = 0.85  # a rule decision with P(true) >= this or <= 1 - this counts as one the rules are sure of


def part_map(path: Path, field: str) -> dict[str, str]:
    """Document id -> value of ``field`` (as a string) for every line of a labelled JSONL file. Raises
    InputError ``no_field`` when a document lacks it."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        if raw.get(field) in (None, ""):
            raise InputError("no_field", f"{path}:{lineno}: no '{field}' (every document needs it to be told apart "
                                         "by it)")
        out[str(raw["id"])] = str(raw[field])
    return out


@dataclass
class Population:
    """The labelled documents (``docs``: variant name -> documents; ``clean`` is the data file itself),
    the part of each id, the task and its boolean keys."""

    docs: dict[str, list[LabelledDocument]]
    parts: dict[str, str]
    task: Task
    keys: list[str]

    def in_part(self, variant: str, part: str) -> list[LabelledDocument]:
        """The documents of ``variant`` in ``part``."""
        return [d for d in self.docs[variant] if self.parts.get(d.id) == part]

    @property
    def part_names(self) -> list[str]:
        """The parts, sorted."""
        return sorted(set(self.parts.values()))


def _records_to_arrays(docs: Sequence[LabelledDocument], records: Mapping[str, dict[str, Any]],
                       keys: list[str]) -> RunArrays:
    return build_arrays([(d.id, d.split, d.labels) for d in docs], dict(records), keys)


def combined_records(combiner: Combiner, records: Mapping[str, dict[str, Any]], task: Task,
                     keys: list[str]) -> dict[str, dict[str, Any]]:
    """Cache-shaped records of what 'hybrid' with ``combiner`` decides, from traced records (the same
    answers; ``combine.model.trace_decision``). A refused document (no trace) keeps its record."""
    out: dict[str, dict[str, Any]] = {}
    for doc_id, rec in records.items():
        trace = rec.get("trace")
        if not trace:
            out[doc_id] = rec
            continue
        feats = dict(rec.get("features") or {})
        for key in keys:
            if key not in trace:
                continue
            thr = task.feature(key).threshold
            value, score = trace_decision(combiner, trace[key], thr)
            feats[key] = {**feats.get(key, {}), "status": "extracted", "value": value, "score": score,
                          "threshold": thr}
        out[doc_id] = {**rec, "features": feats}
    return out


def change_counts(rules: RunArrays, config: RunArrays, traces: Mapping[str, dict[str, Any]] | None = None,
                  rule_scores: Mapping[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """What the configuration changed against the rules on the same documents (labelled pairs only):
    findings ``added`` (True where the rules said False) and how many of them are right, findings
    ``removed`` and how many rightly; with traces, the additions by question bucket; with rule scores,
    the decisions the rules were sure of (P(true) >= ``CONFIDENT`` or <= 1 - ``CONFIDENT``) that were
    overturned, and how many rightly."""
    assert rules.ids == config.ids and rules.keys == config.keys
    lab = rules.labelled
    added = lab & config.value & ~rules.value
    removed = lab & ~config.value & rules.value
    out: dict[str, Any] = {
        "added": int(added.sum()), "added_right": int((added & rules.y).sum()),
        "removed": int(removed.sum()), "removed_right": int((removed & ~rules.y).sum()),
    }
    if traces is not None:
        by: dict[str, list[int]] = {}
        for i, j in zip(*np.nonzero(added)):
            entry = (traces.get(rules.ids[i]) or {}).get(rules.keys[j]) or {}
            b = by.setdefault(str(entry.get("bucket")), [0, 0])
            b[0] += 1
            b[1] += int(rules.y[i, j])
        out["added_by_bucket"] = {k: {"added": v[0], "right": v[1]} for k, v in sorted(by.items())}
    if rule_scores is not None:
        flips = right = sure = 0
        for i, doc_id in enumerate(rules.ids):
            for j, key in enumerate(rules.keys):
                s = (rule_scores.get(doc_id) or {}).get(key)
                if not lab[i, j] or s is None or CONFIDENT > s > 1 - CONFIDENT:
                    continue
                sure += 1
                if config.value[i, j] != rules.value[i, j]:
                    flips += 1
                    right += int(config.value[i, j] == rules.y[i, j])
        out["sure"] = {"decisions": sure, "overturned": flips, "overturned_right": right}
    return out


def _rule_scores(records: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {doc_id: {k: float(v["score"]) for k, v in (rec.get("features") or {}).items()
                     if isinstance(v.get("score"), (int, float))}
            for doc_id, rec in records.items()}


def _gate(cmp: dict[str, Any]) -> dict[str, Any]:
    """``passed``: True/False, or None when the part has no feature with both classes labelled (it
    cannot be judged; the report says so)."""
    med = cmp["summary"]["median"]
    deltas = {m: (med.get(m) or {}).get("delta", {}).get("value") for m in GATE_FIGURES}
    if any(v is None for v in deltas.values()):
        return {"passed": None, "deltas": deltas}
    return {"passed": all(v >= -1e-9 for v in deltas.values()), "deltas": deltas}


def measure(population: Population, variant: str, part: str | None, rules_records: Mapping[str, dict[str, Any]],
            config_records: Mapping[str, dict[str, Any]], *, traces: Mapping[str, dict[str, Any]] | None,
            replicates: int, seed: int, split: str | None = None) -> dict[str, Any] | None:
    """Figures of the configuration and the rules on ``part`` of ``variant`` (every part when None; only
    ``split`` documents when given), their paired comparison, what changed, and the gate; None without
    documents."""
    pool = population.docs[variant] if part is None else population.in_part(variant, part)
    docs = [d for d in pool if split is None or d.split == split]
    if not docs:
        return None
    keys = population.keys
    r = _records_to_arrays(docs, rules_records, keys)
    c = _records_to_arrays(docs, config_records, keys)
    labels = {f.key: f.label("en") for f in population.task.features}
    cmp = compare_arrays(r, c, replicates=replicates, seed=seed)
    return {
        "part": part or "all parts", "variant": variant, "split": split or "all", "documents": len(docs),
        "rules": score_run(r, replicates=replicates, seed=seed, labels=labels)["summary"],
        "config": score_run(c, replicates=replicates, seed=seed, labels=labels)["summary"],
        "paired": {"summary": cmp["summary"], "label_mismatches": cmp["label_mismatches"]},
        "changes": change_counts(r, c, traces, _rule_scores(rules_records)),
        "gate": _gate(cmp),
    }


def load_population(data: Path, variants: Mapping[str, Path], task_name: str, by: str) -> Population:
    """The clean set and its rewrites, their parts by field ``by``. Raises InputError for a rewrite with
    ids the data file lacks, or a task sharing no feature with the labels."""
    docs = {CLEAN: load_labelled(data)}
    ids = {d.id for d in docs[CLEAN]}
    for name, path in variants.items():
        if name == CLEAN:
            raise InputError("bad_variant", "'clean' names the data file itself")
        docs[name] = load_labelled(path)
        extra = {d.id for d in docs[name]} - ids
        if extra:
            raise InputError("bad_variant", f"{path}: {len(extra)} ids are not in {data}")
    task = load_task(task_name)
    keys, _ = boolean_keys(task)
    if not any(isinstance(d.labels.get(k), bool) for d in docs[CLEAN] for k in keys):
        raise InputError("no_common_features", f"the labels share no boolean feature with task '{task.name}'")
    return Population(docs=docs, parts=part_map(data, by), task=task, keys=keys)
