"""Evaluation: the study's measurements on any labelled set, through the daemon's own pipeline.

* ``evaluate(data, settings, out_dir, ...)`` — run the pipeline (and the rule baseline) over a labelled
  JSONL set, cache predictions (resumable), write ``report.json``, ``report.md`` and ``report.png``.
* ``compare_runs(load_run(a), load_run(b))`` — two runs side by side with paired bootstrap deltas.
* ``calibrate_run(load_run(a), objective=...)`` — per-feature thresholds from the 'dev' split only.
* ``split_of(id)`` — the fixed dev/test split; ``metrics`` — numpy metrics (no scikit-learn needed).

See ``docs/evaluation.md``.
"""

from __future__ import annotations

from .calibrate import apply_thresholds, calibrate_run, choose_threshold, fit_thresholds, render_calibration
from .compare import compare_runs, render_comparison
from .data import LabelledDocument, load_labelled, select
from .rundir import LoadedRun, load_run
from .runner import EvaluationOutcome, evaluate, write_report
from .scoring import RunArrays, build_arrays, score_run
from .split import SPLIT_RULE, in_split, split_of

__all__ = [
    "SPLIT_RULE", "EvaluationOutcome", "LabelledDocument", "LoadedRun", "RunArrays", "apply_thresholds",
    "build_arrays", "calibrate_run", "choose_threshold", "compare_runs", "evaluate", "fit_thresholds",
    "in_split", "load_labelled", "load_run", "render_calibration", "render_comparison", "score_run", "select",
    "split_of", "write_report",
]
