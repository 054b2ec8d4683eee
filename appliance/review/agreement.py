"""Accuracy in use: the appliance's decisions against the reviewers' labels, per feature and over time.

Everything is computed by ``appliance.evaluate`` (``build_arrays`` and ``score_run``: sensitivity,
specificity, macro-F1, MCC, missing rate, with percentile bootstrap intervals over calls), from the label
log alone: each finished call's recorded decisions are the predictions and the reviewer's choices the
labels (present → True; absent, not mentioned → False).

Two populations:

* ``audit`` — the random audit sample (``appliance.review.queue``): an unbiased estimate of accuracy in
  use;
* ``all`` — every finished call; the queue puts uncertain calls first, so this population is harder than
  the box's everyday work and its figures are pessimistic.

A feature is checked against the clinic's rule (``WarnRule``: metric, threshold, minimum reviews) on the
audit sample when it has at least ``min_reviews`` labelled calls for that feature there, else on all
finished calls (the check names which). Status: ``ok``; ``below`` (point value under the threshold);
``clearly_below`` (the whole 95 % interval under it); ``too_few`` (fewer labelled calls than
``min_reviews``); ``undefined`` (the metric cannot be computed, e.g. sensitivity without a positive).
The rates use the study's convention for missing values (scored False, ``missing_false``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from ..errors import TaskError
from ..evaluate.scoring import DEFAULT_SEED, build_arrays, score_run
from ..evaluate.split import split_of
from ..tasks import Task, load_task
from .dataset import LABEL_OF
from .labels import ItemState
from .workspace import WarnRule

REPORT_FORMAT = "appliance-review-report/1"
VIEW = "missing_false"
Period = Literal["week", "month"]


@dataclass(frozen=True)
class ReviewedCall:
    """One finished call: ``key``, when the box made its result (``created``, UTC) and when it was
    reviewed, whether it is in the audit sample, the model label, ``labels`` (feature → bool) and
    ``decisions`` (feature → recorded decision), ``seconds`` spent on the page (or None)."""

    key: str
    created: datetime
    reviewed_at: str
    audit: bool
    model: str
    labels: dict[str, bool]
    decisions: dict[str, dict[str, Any]]
    reviewer: str | None
    seconds: float | None


def _when(text: str | None) -> datetime:
    try:
        t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return datetime.fromtimestamp(0, timezone.utc)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def reviewed_calls(states: list[ItemState]) -> list[ReviewedCall]:
    """The finished calls of the label log with recorded decisions, in key order."""
    out = []
    for st in states:
        if not st.done or st.snapshot is None:
            continue
        snap = st.snapshot
        out.append(ReviewedCall(
            key=st.key, created=_when(snap.get("created")), reviewed_at=st.done_at or "", audit=bool(snap.get("audit")),
            model=str(snap.get("model") or ""), labels={f: LABEL_OF[c] for f, c in st.labels.items() if c in LABEL_OF},
            decisions=dict(snap.get("features") or {}), reviewer=st.done_by, seconds=st.seconds,
        ))
    return sorted(out, key=lambda c: c.key)


def feature_keys(calls: list[ReviewedCall], tasks: list[str],
                 known: dict[str, Task] | None = None) -> tuple[list[str], dict[str, str]]:
    """(labelled feature keys in task order, key → English label). ``tasks`` are task names, looked up in
    ``known`` (name → Task), then among the built-in tasks; only their boolean features count (a number or
    list feature labelled while its task was unknown to the station is left out). Keys of tasks found
    nowhere (a task file only the box has) follow in alphabetical order, labelled by their key."""
    labelled = {f for c in calls for f in c.labels}
    keys: list[str] = []
    names: dict[str, str] = {}
    other_types: set[str] = set()
    for name in tasks:
        try:
            task = (known or {}).get(name) or load_task(name)
        except TaskError:  # a custom task file that is not on this workstation
            continue
        for f in task.features:
            if f.type != "boolean":
                other_types.add(f.key)
            elif f.key in labelled and f.key not in names:
                keys.append(f.key)
                names[f.key] = f.label("en")
    rest = sorted(labelled - set(keys) - other_types)
    return keys + rest, {**names, **{k: k for k in rest}}


def _score(calls: list[ReviewedCall], keys: list[str], names: dict[str, str], replicates: int,
           seed: int) -> dict[str, Any]:
    docs = [(c.key, split_of(c.key), dict(c.labels)) for c in calls]
    records = {c.key: {"features": c.decisions} for c in calls}
    return score_run(build_arrays(docs, records, keys), replicates=replicates, seed=seed, labels=names)


def period_of(t: datetime, period: Period) -> str:
    """``2026-01`` (month) or ``2026-W03`` (ISO week) of a UTC time."""
    if period == "week":
        y, w, _ = t.isocalendar()
        return f"{y}-W{w:02d}"
    return f"{t.year:04d}-{t.month:02d}"


def check_feature(key: str, scored: dict[str, dict[str, Any]], rule: WarnRule) -> dict[str, Any]:
    """The clinic's check of one feature (see the module docstring). ``scored`` maps population name
    ('audit', 'all') to its ``score_run`` result; returns {status, population, value, ci, n, metric,
    below}."""
    audit = scored.get("audit")
    use = "audit" if audit and audit["features"][key]["n"] >= rule.min_reviews else "all"
    fe = scored[use]["features"][key]
    stat = fe[VIEW][rule.metric]
    out = {"metric": rule.metric, "below": rule.below, "population": use, "n": fe["n"],
           "value": stat["value"], "ci": stat["ci"]}
    if fe["n"] < rule.min_reviews:
        status = "too_few"
    elif stat["value"] is None:
        status = "undefined"
    elif stat["ci"] and stat["ci"][1] < rule.below:
        status = "clearly_below"
    elif stat["value"] < rule.below:
        status = "below"
    else:
        status = "ok"
    return {"status": status, **out}


def agreement_report(states: list[ItemState], rule: WarnRule, *, period: Period = "month",
                     replicates: int = 1000, seed: int = DEFAULT_SEED,
                     known_tasks: dict[str, Task] | None = None) -> dict[str, Any]:
    """The agreement report of a label log's finished calls (JSON-able; see ``docs/review.md``).

    Keys: ``format``, ``generated``, ``calls`` (counts, reviewers, seconds per call), ``features`` (keys
    and labels), ``rule``, ``populations`` ('all', and 'audit' when it has calls: ``score_run`` results),
    ``checks`` (feature → :func:`check_feature`), ``warnings`` (the checks below the threshold),
    ``over_time`` (per ``period`` of the result's creation: calls, models, the median of the rule's
    metric over features for all calls and for the audit sample, with intervals). ``known_tasks`` (name →
    Task) order and label the features of tasks that are not built in. Without finished calls the
    populations, checks and periods are empty.
    """
    calls = reviewed_calls(states)
    tasks = list(OrderedDict.fromkeys(str((st.snapshot or {}).get("task") or "") for st in states if st.snapshot))
    keys, names = feature_keys(calls, [t for t in tasks if t], known_tasks)
    secs = sorted(c.seconds for c in calls if c.seconds is not None)
    reviewers: dict[str, int] = {}
    for c in calls:
        reviewers[c.reviewer or ""] = reviewers.get(c.reviewer or "", 0) + 1
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "calls": {"reviewed": len(calls), "audit": sum(c.audit for c in calls), "reviewers": reviewers,
                  "median_seconds": secs[len(secs) // 2] if secs else None,
                  "first_created": min((c.created for c in calls), default=None),
                  "last_created": max((c.created for c in calls), default=None)},
        "features": {"keys": keys, "labels": names},
        "rule": rule.model_dump(),
        "view": VIEW,
        "bootstrap": {"replicates": replicates, "seed": seed},
        "populations": {}, "checks": {}, "warnings": [], "over_time": [],
    }
    for k in ("first_created", "last_created"):
        if report["calls"][k] is not None:
            report["calls"][k] = report["calls"][k].isoformat(timespec="seconds")
    if not calls or not keys:
        return report
    pops = {"all": calls, "audit": [c for c in calls if c.audit]}
    scored = {name: _score(cs, keys, names, replicates, seed) for name, cs in pops.items() if cs}
    report["populations"] = scored
    report["checks"] = {k: check_feature(k, scored, rule) for k in keys}
    report["warnings"] = [{"feature": k, "label": names[k], **c} for k, c in report["checks"].items()
                          if c["status"] in ("below", "clearly_below")]
    bins: dict[str, list[ReviewedCall]] = {}
    for c in sorted(calls, key=lambda c: c.created):
        bins.setdefault(period_of(c.created, period), []).append(c)
    for name, cs in bins.items():
        row: dict[str, Any] = {"period": name, "calls": len(cs), "audit_calls": sum(c.audit for c in cs),
                               "models": sorted({c.model for c in cs})}
        for pop, members in (("all", cs), ("audit", [c for c in cs if c.audit])):
            if not members:
                row[pop] = None
                continue
            s = _score(members, keys, names, replicates, seed)
            median = (s["summary"].get("median") or {}).get(VIEW) or {}
            row[pop] = {"median": median.get(rule.metric), "features": {
                k: s["features"][k][VIEW][rule.metric]["value"] for k in keys}}
        report["over_time"].append(row)
    return report
