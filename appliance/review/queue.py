"""Review order: the least certain decisions and a random audit sample first.

*Uncertainty* of one boolean decision, in [0, 1] (1 = a coin toss or no answer):

* missing (no value): 1;
* with ``score`` = P(true) and its ``threshold``: 1 − |score − threshold| / max(threshold, 1 − threshold),
  i.e. 1 at the threshold and 0 at the far end of the scale on the decided side;
* with only ``confidence`` (probability of the reported value): 2 · (1 − confidence), clipped to [0, 1];
* neither: 0.5 (unknown).

An item's priority is its least certain decision (the maximum), ties broken by the mean, then by key.

The *audit sample* is a fixed share of all results, drawn at random but stably: an item is in it when
``sha256(salt + ':' + key)`` read as a fraction of 2**256 is below the rate. The salt is random per
review folder, so membership never changes as results arrive and no one can steer it. Agreement measured
on the audit sample estimates accuracy in use without the bias of the uncertainty-first order.

The queue alternates audit items (in their random order) and the least certain other items until the
audit items are used up, then continues by priority. Reviewed items leave the queue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .results import FeatureView


def decision_uncertainty(f: FeatureView) -> float:
    """Uncertainty in [0, 1] of one boolean decision (rules in the module docstring)."""
    if f.status != "extracted" or not isinstance(f.value, bool):
        return 1.0
    if f.score is not None and f.threshold is not None:
        span = max(f.threshold, 1.0 - f.threshold) or 1.0
        return min(1.0, max(0.0, 1.0 - abs(f.score - f.threshold) / span))
    if f.confidence is not None:
        return min(1.0, max(0.0, 2.0 * (1.0 - f.confidence)))
    return 0.5


def in_audit(key: str, salt: str, rate: float) -> bool:
    """Whether ``key`` is in the audit sample of share ``rate`` in [0, 1] for ``salt``."""
    return _draw(key, salt) < rate


def _draw(key: str, salt: str) -> float:
    return int(hashlib.sha256(f"{salt}:{key}".encode()).hexdigest(), 16) / 2**256


@dataclass(frozen=True)
class Priority:
    """An item's place in the queue: ``key``, ``max_u``/``mean_u`` (uncertainty of its least certain
    decision and the mean over its decisions), ``audit`` (in the audit sample)."""

    key: str
    max_u: float
    mean_u: float
    audit: bool


def priority(key: str, features: dict[str, FeatureView], keys: Iterable[str], salt: str, rate: float) -> Priority:
    """The :class:`Priority` of one result over the boolean feature ``keys`` it is reviewed on (a key
    absent from ``features`` counts as missing)."""
    us = [decision_uncertainty(features.get(k) or FeatureView()) for k in keys]
    return Priority(key, max(us, default=0.0), sum(us) / len(us) if us else 0.0, in_audit(key, salt, rate))


def order(items: Sequence[Priority], salt: str) -> list[str]:
    """Keys in review order (rules in the module docstring)."""
    audit = sorted((p for p in items if p.audit), key=lambda p: _draw(p.key, salt))
    rest = sorted((p for p in items if not p.audit), key=lambda p: (-p.max_u, -p.mean_u, p.key))
    out: list[str] = []
    for i in range(max(len(audit), len(rest))):
        if i < len(audit):
            out.append(audit[i].key)
        if i < len(rest):
            out.append(rest[i].key)
    return out
