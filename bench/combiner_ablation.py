"""Does the model earn the hybrid's gain? Two more configurations from the traces of an
``appliance evaluate populations --strategy hybrid`` run, without running the model again:

* ``refit-no-model``: per fold, the combiner refitted on the other parts' ``dev`` documents with every
  model answer removed, model weight 0 (the rules' own confidences re-weighed, no model);
* ``recall-0``: per fold, the combiner refitted with the near-miss questions removed (no recall step);

next to ``hybrid`` (the populations run's own fold combiners, refitted identically), each measured on the
held-out part in every text against the rules (``populations.measure``: intervals, paired deltas, gate).

    python bench/combiner_ablation.py RUN_DIR DATA.jsonl REWRITES_DIR [VARIANT ...] > ablation.md

RUN_DIR is the populations ``--out`` folder (hybrid traces of one model: its only folder under
``runs/``, or the one named by the environment variable ABLATION_MODEL); writes
RUN_DIR/ablation.json and prints one markdown row per (part, text, configuration). Used for
docs/accuracy.md (issue #14).
"""
import json
import sys
from pathlib import Path

from appliance.combine.model import BUCKETS, Combiner
from appliance.evaluate.combine_fit import fit_combiner, fit_rows
from appliance.evaluate.populations import CLEAN, combined_records, load_population, measure

out, data, A = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
variants = sys.argv[4:]
pop = load_population(data, {v: A / f"{v}.jsonl" for v in variants}, "symptoms13", "source_subset")

def load(path):
    recs = {}
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        recs[r["id"]] = r
    return recs

import os

_models = sorted(p.name for p in (out / "runs").iterdir() if p.is_dir())
_model = os.environ.get("ABLATION_MODEL") or (_models[0] if len(_models) == 1 else None)
if _model is None:
    sys.exit(f"{out / 'runs'} holds {_models}: name one with ABLATION_MODEL")
model_dir = out / "runs" / _model
rules = {v: load(out / "rules" / f"{v}.jsonl") for v in [CLEAN, *variants]}
conf = {v: load(model_dir / f"{v}.jsonl") for v in [CLEAN, *variants]}

def no_model(trace):
    return {i: {k: {**e, "p": None} if e.get("bucket") is not None else e for k, e in t.items()} for i, t in trace.items()}

def drop_near(rec):
    t = rec.get("trace") or {}
    return {**rec, "trace": {k: ({**e, "bucket": None, "p": None} if e.get("bucket") == "near_miss" else e) for k, e in t.items()}}

rows_out = []
for part in pop.part_names:
    fit_docs = [d for d in pop.docs[CLEAN] if pop.parts[d.id] != part and d.split == "dev"]
    traces = {d.id: conf[CLEAN][d.id].get("trace") or {} for d in fit_docs}
    labels = {d.id: d.labels for d in fit_docs}
    full = fit_combiner(fit_rows(traces, labels, pop.parts, pop.keys), name=f"fold-{part}")
    nm = fit_combiner(fit_rows(no_model(traces), labels, pop.parts, pop.keys), name=f"fold-{part}-no-model")
    nm = Combiner(name=nm.name, rule_weights=nm.rule_weights, model_weights={b: 0.0 for b in BUCKETS},
                  fitting=nm.fitting)
    # recall-0: refit on traces without near-miss questions (what populations would fit with --recall-calls 0)
    r0traces = {i: drop_near({"trace": t})["trace"] for i, t in traces.items()}
    r0 = fit_combiner(fit_rows(r0traces, labels, pop.parts, pop.keys), name=f"fold-{part}-recall0")
    for v in [CLEAN, *variants]:
        held = pop.in_part(v, part)
        recs = {d.id: conf[v][d.id] for d in held if d.id in conf[v]}
        if len(recs) < len(held):
            print(f"{part}/{v}: {len(held) - len(recs)} documents missing, skipped"); continue
        tr = {i: r.get("trace") or {} for i, r in recs.items()}
        for name, comb, rr in (("hybrid", full, recs), ("refit-no-model", nm, recs),
                               ("recall-0", r0, {i: drop_near(r) for i, r in recs.items()})):
            m = measure(pop, v, part, rules[v], combined_records(comb, rr, pop.task, pop.keys),
                        traces=tr if name != "recall-0" else {i: r["trace"] for i, r in rr.items()},
                        replicates=1000, seed=20260101)
            pm = m["paired"]["summary"]["median"]
            cm = m["config"]["median"]["missing_false"]
            rm = m["rules"]["median"]["missing_false"]
            d = lambda k, pm=pm: pm[k]["delta"]
            row = {"part": part, "text": v, "config": name, "docs": m["documents"],
                   "rules_f1": rm["macro_f1"], "f1": cm["macro_f1"], "d_f1": d("missing_false.macro_f1"),
                   "rules_sens": rm["sensitivity"], "sens": cm["sensitivity"], "d_sens": d("missing_false.sensitivity"),
                   "d_spec": d("missing_false.specificity"), "d_mcc": d("missing_false.mcc"),
                   "changes": m["changes"], "gate": m["gate"]["passed"]}
            rows_out.append(row)
            f = lambda s: f"{s['value']:.3f} [{s['ci'][0]:.3f}, {s['ci'][1]:.3f}]" if s.get("ci") else f"{s['value']:.3f}"
            g = lambda s: f"{s['value']:+.3f} [{s['ci'][0]:+.3f}, {s['ci'][1]:+.3f}]"
            print(f"| {part} | {v} | {name} | {m['documents']} | {f(rm['macro_f1'])} | {f(cm['macro_f1'])} | {g(d('missing_false.macro_f1'))} | "
                  f"{f(rm['sensitivity'])} | {f(cm['sensitivity'])} | {g(d('missing_false.sensitivity'))} | {g(d('missing_false.mcc'))} | "
                  f"{m['changes']['added']} ({m['changes']['added_right']}) | {m['changes']['removed']} ({m['changes']['removed_right']}) | "
                  f"{'pass' if m['gate']['passed'] else ('FAIL' if m['gate']['passed'] is False else 'n/a')} |", flush=True)
(out / "ablation.json").write_text(json.dumps(rows_out, indent=1))
