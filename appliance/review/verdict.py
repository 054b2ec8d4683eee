"""Should the clinic install a candidate bundle instead of the running one? Yes or no, with the figures.

Both configurations run through the daemon's own pipeline (``appliance.evaluate.evaluate``) on the
**test split** of the reviewed calls (``appliance.evaluate.split``: sha256 of the id; ``appliance-export
finetune`` trains on the dev split only by default, so these are calls the candidate was not trained on),
and are compared with ``appliance.evaluate.compare_runs``: the same documents, the same labels, the same
bootstrap resamples (paired intervals).

The decision rule (``VerdictRule``), all of which must hold for *yes*:

1. at least ``min_documents`` reviewed test-split calls (default 30) and at least one feature with both
   a positive and a negative label among them;
2. the median over those features of ``metric`` (default macro-F1; missing values scored False, the
   study's convention) is higher for the candidate by more than ``min_gain`` (default 0);
3. the lower end of the 95 % paired bootstrap interval of that difference is above 0 (better, and not
   by the luck of which calls were reviewed);
4. no feature is clearly worse: no feature's 95 % interval of its own difference lies wholly below 0.

A candidate whose manifest says it was fine-tuned on another split than 'dev', under another split rule,
or for another task cannot be judged on these calls and is refused (``VerdictError``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..bundle import default_models_dir, read_manifest, resolve_bundle
from ..errors import ApplianceError
from ..evaluate import compare_runs, evaluate, load_run
from ..evaluate.data import file_sha256
from ..evaluate.report import fmt
from ..evaluate.split import SPLIT_RULE
from ..settings import PipelineSettings
from ..tasks import load_task

VIEW = "missing_false"


class VerdictError(ApplianceError):
    """The candidate cannot be judged on these calls (trained on them, or for another task)."""


@dataclass(frozen=True)
class VerdictRule:
    """The decision rule's parameters (see the module docstring)."""

    metric: Literal["macro_f1", "mcc"] = "macro_f1"
    min_gain: float = 0.0
    min_documents: int = 30


@dataclass
class Verdict:
    """``install`` (yes/no), ``reasons`` (each condition, met or not), ``figures`` (the headline: running,
    candidate, difference and its interval; per feature the same), ``notes`` (provenance remarks) and the
    full ``comparison`` (``compare_runs``)."""

    install: bool
    reasons: list[str]
    figures: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    comparison: dict[str, Any] = field(default_factory=dict)


def decide(comparison: dict[str, Any], rule: VerdictRule = VerdictRule()) -> Verdict:
    """Apply ``rule`` to a ``compare_runs`` result (A = running, B = candidate)."""
    m = f"{VIEW}.{rule.metric}"
    n = comparison["documents"]
    defined = comparison["summary"]["features"]
    head = (comparison["summary"].get("median") or {}).get(m)
    per_feature = {k: comparison["features"][k][m] for k in defined}
    figures = {"metric": rule.metric, "documents": n, "features": defined, "median": head, "per_feature": per_feature}
    checks: list[tuple[bool, str]] = [
        (n >= rule.min_documents, f"{n} reviewed test-split calls (at least {rule.min_documents} needed)"),
        (bool(defined), f"{len(defined)} features with both a positive and a negative label (at least 1 needed)"),
    ]
    if head and head["delta"]["value"] is not None:
        d, ci = head["delta"]["value"], head["delta"]["ci"]
        checks.append((d > rule.min_gain, f"median {rule.metric} {fmt(head['a'])} → {fmt(head['b'])}, "
                       f"difference {d:+.3f} (must be above {rule.min_gain:+.3f})"))
        checks.append((bool(ci) and ci[0] > 0, "95 % paired interval of the difference "
                       + (f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "not available") + " (must lie above 0)"))
    else:
        checks.append((False, f"median {rule.metric} difference is undefined"))
    worse = [k for k, f in per_feature.items() if f["delta"]["ci"] and f["delta"]["ci"][1] < 0]
    checks.append((not worse, "no feature clearly worse" if not worse
                   else f"clearly worse on: {', '.join(worse)} (whole 95 % interval below 0)"))
    return Verdict(install=all(ok for ok, _ in checks),
                   reasons=[("met: " if ok else "NOT met: ") + text for ok, text in checks],
                   figures=figures, comparison=comparison)


def candidate_notes(candidate: PipelineSettings, data: Path) -> list[str]:
    """Check that the candidate's fine-tuning left the test split unseen; return remarks for the output.

    Raises VerdictError (trained on another split, split rule or task) and BundleError (no bundle).
    """
    if candidate.strategy == "rules":
        return ["candidate uses the rule strategy: no model was trained"]
    folder = resolve_bundle(candidate.extractor, candidate.models_dir or default_models_dir())
    ft = read_manifest(folder).finetune
    if ft is None:
        return [f"candidate {folder.name} was not fine-tuned here (no manifest.finetune)"]
    task = load_task(candidate.task)
    if ft.task != task.name:
        raise VerdictError(f"candidate {folder.name} was fine-tuned for task '{ft.task}', not '{task.name}'")
    if ft.split != "dev" or ft.split_rule != SPLIT_RULE:
        raise VerdictError(
            f"candidate {folder.name} was trained on split '{ft.split}' (rule {ft.split_rule!r}): the reviewed "
            "test-split calls may be among its training data, so it cannot be judged on them. Fine-tune with "
            "--split dev to keep them unseen."
        )
    same = ft.data_sha256 == file_sha256(data)
    return [f"candidate {folder.name} was fine-tuned on the dev split of "
            + ("this file" if same else f"{ft.data_file} (another version): test-split ids are never in a dev split")]


def judge(data: Path, running: PipelineSettings, candidate: PipelineSettings, out_dir: Path, *,
          rule: VerdictRule = VerdictRule(), replicates: int = 1000, seed: int = 20260101, progress: bool = False,
          pipeline_factory: Callable | None = None) -> Verdict:
    """Evaluate ``running`` and ``candidate`` on the test split of ``data`` (run folders
    ``out_dir/running`` and ``out_dir/candidate``, resumable), compare them and :func:`decide`; writes
    ``out_dir/verdict.json``. Raises VerdictError (see :func:`candidate_notes`), InputError (no test-split
    documents, labels of another task) and whatever loading a pipeline raises."""
    notes = candidate_notes(candidate, Path(data))
    out_dir = Path(out_dir)
    for name, settings in (("running", running), ("candidate", candidate)):
        evaluate(data, settings, out_dir / name, split="test", baseline=False, replicates=replicates, seed=seed,
                 progress=progress, plot=False, pipeline_factory=pipeline_factory)
    comparison = compare_runs(load_run(out_dir / "running"), load_run(out_dir / "candidate"),
                              replicates=replicates, seed=seed)
    verdict = decide(comparison, rule)
    verdict.notes = notes
    record = {"install": verdict.install, "rule": asdict(rule), "reasons": verdict.reasons, "notes": notes,
              "figures": verdict.figures, "running": running.model_dump(mode="json"),
              "candidate": candidate.model_dump(mode="json"), "data": {"path": str(data), "sha256": file_sha256(data)}}
    (out_dir / "verdict.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return verdict


def render_verdict(v: Verdict, running: str, candidate: str) -> str:
    """The terminal text: figures per feature, the conditions, and a last line ``yes: install ...`` or
    ``no: keep ...``."""
    f = v.figures
    lines = [f"running:   {running}", f"candidate: {candidate}",
             f"{f['documents']} reviewed calls of the test split (not trained on); {f['metric']}, "
             "missing scored False", ""]
    lines.append(f"{'feature':28s} {'running':>8s} {'candidate':>9s}  difference [95 % paired CI]")
    for k, d in f["per_feature"].items():
        ci = d["delta"]["ci"]
        dv = d["delta"]["value"]
        lines.append(f"{k:28s} {fmt(d['a']):>8s} {fmt(d['b']):>9s}  {'–' if dv is None else f'{dv:+.3f}'}"
                     + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""))
    if f["median"]:
        h = f["median"]
        ci = h["delta"]["ci"]
        dv = h["delta"]["value"]
        lines.append(f"{'median':28s} {fmt(h['a']):>8s} {fmt(h['b']):>9s}  {'–' if dv is None else f'{dv:+.3f}'}"
                     + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""))
    lines += [""] + [f"  {r}" for r in v.reasons] + [f"  note: {n}" for n in v.notes] + [""]
    lines.append(f"yes: install {candidate}" if v.install else f"no: keep {running}")
    return "\n".join(lines)
