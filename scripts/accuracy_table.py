"""Markdown table of headline figures from `appliance evaluate` run folders (for docs/accuracy.md).

    python scripts/accuracy_table.py "label=runs/x" "rules=runs/x:baseline" ...

Each row: median macro-F1, MCC, sensitivity, specificity (missing scored False, the study's convention;
identical to the other view when nothing is missing), missing rate and ROC AUC, each with its 95 %
bootstrap interval from report.json, and documents per hour.

Documents per hour come from the speed benchmark (``--speed bench/results/speed.json``: the quiet,
2-thread figure of the appliance engine with the run's strategy; fine-tuning and calibration do not
change the computation), else from the run's own mean time per document, which depends on whatever
else the machine was doing during the run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _fmt(stat: dict | None) -> str:
    if not stat or stat.get("value") is None:
        return "–"
    lo, hi = (stat.get("ci") or [None, None])[:2]
    ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
    return f"{stat['value']:.3f}{ci}"


def bench_speeds(path: Path) -> dict[str, float]:
    """docs/h per strategy from bench/speed.py's JSON (default-setting engines only)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, float] = {}
    for r in data.get("engines", []):
        name = r.get("engine", "")
        if name.startswith("appliance-") and name.count("-") == 1 and "documents_per_hour" in r:
            out[name.split("-", 1)[1]] = r["documents_per_hour"]
    return out


SPEEDS: dict[str, float] = {}


def row(label: str, spec: str) -> str:
    """One Markdown table row for run ``spec`` (``FOLDER`` or ``FOLDER:baseline``) labelled ``label``."""
    folder, _, which = spec.partition(":")
    report = json.loads((Path(folder) / "report.json").read_text(encoding="utf-8"))
    run = report["runs"]["baseline" if which == "baseline" else "run"]
    med = run["summary"]["median"]
    view = med["missing_false"]
    mean_s = (run.get("timing") or {}).get("mean_s")
    strategy = "rules" if which == "baseline" else (run.get("settings") or {}).get("strategy")
    if strategy in SPEEDS:
        per_hour = f"{SPEEDS[strategy]:,.0f}"
    else:
        per_hour = f"{3600 / mean_s:,.0f}" if mean_s else "–"
    docs = report.get("documents")
    n = docs.get("evaluated") if isinstance(docs, dict) else docs
    cells = [label, _fmt(view["macro_f1"]), _fmt(view["mcc"]), _fmt(view["sensitivity"]),
             _fmt(view["specificity"]), _fmt(med.get("missing_rate")), _fmt(med.get("auc")), per_hour,
             f"{report['split']} ({n})"]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str]) -> int:
    """Print the table for ``[--speed FILE] LABEL=SPEC ...``; returns the exit code."""
    if argv[:1] == ["--speed"]:
        SPEEDS.update(bench_speeds(Path(argv[1])))
        argv = argv[2:]
    print("| configuration | macro-F1 | MCC | sensitivity | specificity | missing | ROC AUC | documents/hour "
          "| split (n) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for arg in argv:
        label, _, spec = arg.partition("=")
        print(row(label, spec))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
