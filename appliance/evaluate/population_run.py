"""``populations``: run the leave-one-part-out judgement (``appliance.evaluate.populations``) end to end.

Runs, all through ``runner.predict`` (the daemon's pipeline) and cached under the output folder:
``rules/<variant>.jsonl`` (the rule baseline on every variant), ``runs/<model>/<variant>.jsonl`` (the
configuration; traced for 'hybrid'). Then per fold: fit on the other parts, measure on the held-out
part in every variant; and for 'hybrid' the combiner fitted on all parts (to ship), measured on the test
split of every variant (the development split's own, in-population figures).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..combine.model import Combiner
from ..errors import InputError
from ..settings import PipelineSettings
from .calibrate import apply_thresholds, fit_thresholds
from .combine_fit import fit_combiner, fit_rows
from .data import LabelledDocument, file_sha256, load_labelled
from .population_report import render_populations
from .populations import CLEAN, Population, combined_records, load_population, measure
from .runner import PipelineFactory, default_pipeline_factory, predict, run_label
from .scoring import DEFAULT_REPLICATES, DEFAULT_SEED, build_arrays
from .split import SPLIT_RULE
from .traces import CodeFingerprint, Tracing

REPORT_FORMAT = "appliance-populations/1"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _model_tag(extractor: str) -> str:
    return Path(extractor).name or "model"


class _Runs:
    """Cached predictions of one configuration: per (model, variant), for the documents asked so far."""

    def __init__(self, pop: Population, settings: PipelineSettings, out: Path, factory: PipelineFactory,
                 progress: bool) -> None:
        self.pop, self.settings, self.out, self.factory, self.progress = pop, settings, out, factory, progress
        self.describe: dict[str, dict[str, Any]] = {}

    def rules(self, variant: str) -> dict[str, dict[str, Any]]:
        """The rule baseline's records for every document of ``variant``."""
        s = self.settings.model_copy(update={"strategy": "rules", "translator": None, "translate": {"*": "never"},
                                             "combiner": None})
        recs, describe, *_ = predict(self.pop.docs[variant], s, self.out / "rules" / f"{variant}.jsonl",
                                     self.pop.task, self.pop.keys, factory=self.factory, progress=self.progress,
                                     desc=f"rules {variant}", instrument=lambda p: CodeFingerprint())
        self.describe["rules"] = describe
        return recs

    def config(self, variant: str, extractor: str, docs: list[LabelledDocument]) -> dict[str, dict[str, Any]]:
        """The configuration's records (traced for 'hybrid') of ``docs`` of ``variant`` with ``extractor``."""
        s = self.settings.model_copy(update={"extractor": extractor})
        path = self.out / "runs" / _model_tag(extractor) / f"{variant}.jsonl"
        desc = f"{s.strategy} {_model_tag(extractor)} {variant}"
        if s.strategy == "hybrid":
            s = s.model_copy(update={"combiner": None})
            recs, describe, *_ = predict(docs, s, path, self.pop.task, self.pop.keys, factory=self.factory,
                                         progress=self.progress, desc=desc,
                                         instrument=lambda p: Tracing(p, path.parent))
        else:
            recs, describe, *_ = predict(docs, s, path, self.pop.task, self.pop.keys, factory=self.factory,
                                         progress=self.progress, desc=desc)
        self.describe[_model_tag(extractor)] = describe
        return recs


def _model_record(describe: dict[str, Any], models_dir: Path | None, extractor: str) -> dict[str, Any]:
    ext = next((m for m in describe.get("models", []) if m.get("role") == "extractor"), {})
    rules = next((m for m in describe.get("models", []) if m.get("role") == "rules"
                  and str(m.get("name", "")).startswith("rules-")), {})
    rec = {"extractor": ext.get("name"), "extractor_bundle_sha256": ext.get("bundle_hash"),
           "precision": ext.get("precision"), "rules": rules.get("name"), "rules_sha256": rules.get("bundle_hash"),
           "prompt_sha256": describe.get("prompt_hash"), "task_sha256": describe.get("task_hash")}
    try:
        from ..bundle import read_manifest, resolve_bundle

        m = read_manifest(resolve_bundle(extractor, models_dir))
        rec["extractor_source_sha256"] = m.source.sha256
        rec["finetune"] = m.finetune.model_dump(mode="json") if m.finetune else None
    except Exception as e:  # a fake pipeline in tests has no bundle on disk
        rec["extractor_source_sha256"] = None
        rec["manifest_error"] = type(e).__name__
    return rec


def run_populations(pop: Population, data: Path, settings: PipelineSettings, out: Path, *, by: str,
                    fit_split: str, fold_models: dict[str, str], calibrate: str | None, replicates: int,
                    seed: int, progress: bool, factory: PipelineFactory, command: str | None) -> dict[str, Any]:
    """The whole judgement for a loaded ``Population`` (see ``populations``)."""
    if fit_split not in ("dev", "test", "all"):
        raise ValueError("fit_split must be 'dev', 'test' or 'all'")
    unknown = set(fold_models) - set(pop.part_names)
    if unknown:
        raise InputError("bad_fold", f"no part named {', '.join(sorted(unknown))} (parts: {', '.join(pop.part_names)})")
    hybrid = settings.strategy == "hybrid"
    if settings.strategy == "rules":
        raise InputError("bad_strategy", "the rules are the reference: judge another strategy")
    if calibrate and hybrid:
        raise InputError("bad_calibrate", "'hybrid' fits a combiner; --calibrate is for 'evidence' and 'json'")
    out.mkdir(parents=True, exist_ok=True)
    runs = _Runs(pop, settings, out, factory, progress)
    variants = list(pop.docs)
    rules = {v: runs.rules(v) for v in variants}
    model_of = {p: fold_models.get(p, settings.extractor) for p in pop.part_names}
    in_fit = (lambda d: True) if fit_split == "all" else (lambda d: d.split == fit_split)
    folds: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for part in pop.part_names:
        model = model_of[part]
        others = [d for d in pop.docs[CLEAN] if pop.parts[d.id] != part]
        fit_docs = [d for d in others if in_fit(d)]
        fold: dict[str, Any] = {"part": part, "extractor": model, "fit_documents": len(fit_docs),
                                "fit_parts": sorted({pop.parts[d.id] for d in fit_docs})}
        fitted: Combiner | None = None
        thresholds: dict[str, float] | None = None
        if hybrid:
            train = runs.config(CLEAN, model, fit_docs)
            rows = fit_rows({i: r.get("trace") or {} for i, r in train.items()},
                            {d.id: d.labels for d in fit_docs}, pop.parts, pop.keys)
            fitted = fit_combiner(rows, name=f"fold-{part}")
            fold["combiner"] = json.loads(fitted.model_dump_json())
        elif calibrate:
            train = runs.config(CLEAN, model, [d for d in others if d.split == "dev"])
            dev = build_arrays([(d.id, d.split, d.labels) for d in others if d.split == "dev"], train, pop.keys)
            choice = fit_thresholds(dev, pop.task, objective=calibrate)  # type: ignore[arg-type]
            thresholds = {k: c.threshold for k, c in choice.items()}
            fold["thresholds"] = thresholds
        folds.append(fold)
        for v in variants:
            held = pop.in_part(v, part)
            recs = runs.config(v, model, held)
            traces = {i: r.get("trace") or {} for i, r in recs.items()} if hybrid else None
            if fitted is not None:
                recs = combined_records(fitted, recs, pop.task, pop.keys)
            if thresholds is not None:
                recs = _thresholded(recs, held, pop.keys, thresholds)
            m = measure(pop, v, part, rules[v], recs, traces=traces, replicates=replicates, seed=seed)
            if m is not None:
                results.append(m)

    final: dict[str, Any] | None = None
    in_population: list[dict[str, Any]] = []
    describe = runs.describe.get(_model_tag(settings.extractor), {})
    model_rec = _model_record(describe, settings.models_dir, settings.extractor) if describe else {}
    if hybrid and not fold_models:
        fit_docs = [d for d in pop.docs[CLEAN] if in_fit(d)]
        train = runs.config(CLEAN, settings.extractor, fit_docs)
        rows = fit_rows({i: r.get("trace") or {} for i, r in train.items()}, {d.id: d.labels for d in fit_docs},
                        pop.parts, pop.keys)
        record = {
            "data": data.name, "data_sha256": file_sha256(data), "by": by, "parts": pop.part_names,
            "fit_split": fit_split, "split_rule": SPLIT_RULE, "folds": "leave-one-part-out (populations.json)",
            "task": pop.task.name, **model_rec, "app_version": __version__, "command": command,
            "recall_calls": settings.recall_calls,
        }
        combiner = fit_combiner(rows, name=model_rec.get("extractor") or _model_tag(settings.extractor),
                                record=record, extractor=model_rec.get("extractor"),
                                extractor_source_sha256=model_rec.get("extractor_source_sha256"))
        final = json.loads(combiner.model_dump_json())
        if fit_split == "dev":
            for v in variants:
                recs = runs.config(v, settings.extractor, pop.docs[v])
                traces = {i: r.get("trace") or {} for i, r in recs.items()}
                m = measure(pop, v, None, rules[v], combined_records(combiner, recs, pop.task, pop.keys),
                            traces=traces, replicates=replicates, seed=seed, split="test")
                if m is not None:
                    in_population.append(m)

    clean = [r for r in results if r["variant"] == CLEAN]
    mean_delta = (float(np.mean([r["paired"]["summary"]["median"]["missing_false.macro_f1"]["delta"]["value"]
                                 for r in clean])) if clean else None)
    report = {
        "format": REPORT_FORMAT, "app_version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "configuration": {"label": run_label(settings), "settings": settings.model_dump(mode="json"), **model_rec},
        "data": {"path": str(data), "sha256": file_sha256(data), "by": by, "parts": pop.part_names,
                 "variants": {v: len(ds) for v, ds in pop.docs.items()}},
        "task": {"name": pop.task.name, "sha256": pop.task.content_hash, "features": pop.keys},
        "fit_split": fit_split, "split_rule": SPLIT_RULE, "fold_models": fold_models, "calibrate": calibrate,
        "bootstrap": {"replicates": replicates, "seed": seed},
        "folds": folds, "held_out": results, "in_population": in_population,
        "gate": {"passed": bool(results) and all(r["gate"]["passed"] is not False for r in results)
                 and any(r["gate"]["passed"] for r in results),
                 "failed": [f"{r['part']}/{r['variant']}" for r in results if r["gate"]["passed"] is False],
                 "undefined": [f"{r['part']}/{r['variant']}" for r in results if r["gate"]["passed"] is None],
                 "mean_delta_macro_f1_clean": mean_delta, "rule": "median macro-F1 and median sensitivity "
                 ">= the rules' on every held-out part and rewrite (missing scored False)"},
        "final_combiner": final, "command": command,
    }
    _write(out / "populations.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    _write(out / "populations.md", render_populations(report))
    return report


def _thresholded(recs: dict[str, dict[str, Any]], docs: list[LabelledDocument], keys: list[str],
                 thresholds: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Records re-decided with ``thresholds`` (``calibrate.apply_thresholds``)."""
    a = apply_thresholds(build_arrays([(d.id, d.split, d.labels) for d in docs], recs, keys), thresholds)
    out: dict[str, dict[str, Any]] = {}
    for i, doc_id in enumerate(a.ids):
        rec = recs.get(doc_id)
        if rec is None:
            continue
        feats = dict(rec.get("features") or {})
        for j, key in enumerate(keys):
            if key in feats and a.extracted[i, j]:
                feats[key] = {**feats[key], "value": bool(a.value[i, j]), "threshold": thresholds.get(key)}
        out[doc_id] = {**rec, "features": feats}
    return out


def populations(
    data: str | Path, settings: PipelineSettings, out_dir: str | Path, *, by: str = "source_subset",
    variants: dict[str, str | Path] | None = None, fit_split: str = "dev", fold_models: dict[str, str] | None = None,
    calibrate: str | None = None, replicates: int = DEFAULT_REPLICATES, seed: int = DEFAULT_SEED,
    progress: bool = True, pipeline_factory: PipelineFactory | None = None, command: str | None = None,
) -> dict[str, Any]:
    """Leave-one-part-out judgement of ``settings``' configuration against the rules
    (``appliance.evaluate.populations``).

    ``data``: the labelled JSONL with field ``by``; ``variants``: name -> rewrite JSONL (same ids and
    labels); ``fit_split``: which documents of the other parts a fold fits on ('dev'; 'test' for fold
    models fine-tuned on 'dev'; 'all'); ``fold_models``: part -> extractor bundle trained without that
    part; ``calibrate``: 'mcc' or 'sensitivity' thresholds per fold (not for 'hybrid'). Predictions are
    cached under ``out_dir``; ``populations.json`` and ``populations.md`` are written there. Returns the
    report; for 'hybrid' without fold models, ``final_combiner`` is the combiner fitted on every part's
    ``fit_split`` documents, with its fitting record. Raises InputError for unusable inputs.
    """
    data = Path(data)
    pop = load_population(data, {k: Path(v) for k, v in (variants or {}).items()}, settings.task, by)
    return run_populations(pop, data, settings, Path(out_dir), by=by, fit_split=fit_split,
                           fold_models=dict(fold_models or {}), calibrate=calibrate, replicates=replicates,
                           seed=seed, progress=progress, factory=pipeline_factory or default_pipeline_factory,
                           command=command)


__all__ = ["REPORT_FORMAT", "load_labelled", "populations", "run_populations"]
