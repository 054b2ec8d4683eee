"""The combiner: one decision from the rule finding's facts and the model's P(yes).

    logit P(true) = sum_c w_c * x_c(facts)  +  beta_b * clip(logit P_model(yes), -CLIP, CLIP)

``x`` (``COLUMNS``) is the rule side: the rules' own log-odds (``rules_logit``: the logit of the 'rules'
strategy's score), the finding's status, the numbers of mentions by assertion, speaker and answer, and
whether a near-miss passage exists (``appliance.combine.recall``). The model term is added only when the
model was asked; ``b`` is the kind of passage it was asked about (``BUCKETS``: a present finding, a denied
/ past / hypothetical / someone else's one, mentions the rules could not decide or found only uncertain,
a near miss). Each ``beta_b`` is fitted within [0, ``beta_max``] (``appliance.evaluate.combine_fit``): the model can never
vote against its own answer, and its vote is bounded, so a finding the rules are sure of (a large
``|rule side|``) is overturned only by a model answer that is itself extreme (``overturn_p`` says how
extreme, per bucket). Coefficients are applied with numpy: the box needs no scikit-learn or scipy.

A combiner file (JSON, ``Combiner``) carries its coefficients and the record of its fitting (data,
split, folds, rules hash, model bundle, date); the built-in ones are in ``fitted/`` (``builtin_path``).
"""

from __future__ import annotations

import hashlib
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .facts import FindingFacts

FORMAT = "appliance-combiner/1"
CLIP = 4.0  # |logit P(yes)| is clipped here: P(yes) in [0.018, 0.982]
RULE_CLIP = 0.02  # the rules' score is kept in [0.02, 0.98] before its logit
BUCKETS = ("present", "denied", "undecided", "near_miss")
COLUMNS = (
    "rules_logit",
    "status_present", "status_absent", "status_history_only", "status_hypothetical", "status_uncertain",
    "status_family",
    "status_undecided", "status_none",
    "log_present", "log_absent", "log_other", "log_unanswered", "log_exam",
    "log_present_patient", "log_present_clinician", "log_present_family",
    "log_present_answered", "log_absent_answered", "present_and_absent",
    "near_miss", "log_near_miss_strength",
)
Kind = Literal["excerpt", "near_miss"]


def rules_logit(facts: FindingFacts, rule_score: float) -> float:
    """The logit of the rules' own P(true) (``rule_score``), clamped to [``RULE_CLIP``, 1 - ``RULE_CLIP``]."""
    p = min(1.0 - RULE_CLIP, max(RULE_CLIP, rule_score))
    return math.log(p / (1.0 - p))


def rule_row(facts: FindingFacts, rule_score: float, near_miss_strength: int = 0) -> np.ndarray:
    """The rule side ``x`` (``COLUMNS`` order, float64) for one feature of one document.
    ``rule_score``: the rules' P(true) (``strategies.rule_evidence.rule_score``); ``near_miss_strength``:
    the near-miss candidate's strength (0: none)."""
    a, r = facts.by_assertion, facts.present_by_role
    status = "undecided" if facts.undecided else ("none" if facts.status == "not_mentioned" else facts.status)
    other = sum(a.get(k, 0) for k in ("history_only", "hypothetical", "uncertain", "family"))
    values = {
        "rules_logit": rules_logit(facts, rule_score),
        f"status_{status}": 1.0,
        "log_present": math.log1p(a.get("present", 0)), "log_absent": math.log1p(a.get("absent", 0)),
        "log_other": math.log1p(other), "log_unanswered": math.log1p(a.get("unanswered", 0)),
        "log_exam": math.log1p(a.get("exam", 0)),
        "log_present_patient": math.log1p(r.get("patient", 0)),
        "log_present_clinician": math.log1p(r.get("clinician", 0)),
        "log_present_family": math.log1p(r.get("family", 0)),
        "log_present_answered": math.log1p(facts.present_answered),
        "log_absent_answered": math.log1p(facts.absent_answered),
        "present_and_absent": float(a.get("present", 0) > 0 and a.get("absent", 0) > 0),
        "near_miss": float(near_miss_strength > 0),
        "log_near_miss_strength": math.log1p(near_miss_strength),
    }
    return np.array([values.get(c, 0.0) for c in COLUMNS], dtype=np.float64)


def bucket_of(facts: FindingFacts, kind: Kind | None) -> str | None:
    """The model term's bucket for a question of ``kind`` about a feature with ``facts`` (None: no
    question)."""
    if kind is None:
        return None
    if kind == "near_miss":
        return "near_miss"
    if facts.status == "present":
        return "present"
    return "undecided" if facts.undecided or facts.status == "uncertain" else "denied"


def model_logit(p_yes: float) -> float:
    """``logit(p_yes)`` clipped to [-``CLIP``, ``CLIP``]."""
    p = min(1.0 - 1e-9, max(1e-9, float(p_yes)))
    return max(-CLIP, min(CLIP, math.log(p / (1.0 - p))))


class Combiner(BaseModel):
    """Coefficients of a combiner and the record of their fitting (module docstring).

    ``rule_weights``: one per ``COLUMNS`` entry; ``model_weights``: ``beta`` per bucket (every key of
    ``BUCKETS``, each in [0, ``beta_max``]); ``fitting``: free-form JSON record (data file and sha256,
    split, parts and folds, rules and task hashes, model bundle, prompt hash, penalty, date, command).
    Raises pydantic ``ValidationError`` for a file whose columns or buckets are not this code's."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["appliance-combiner/1"] = FORMAT
    name: str = Field(description="What it is for, e.g. 'smollm2-135m-instruct'.")
    extractor: str | None = Field(default=None, description="The extractor bundle name it was fitted with.")
    extractor_source_sha256: str | None = Field(
        default=None, description="The bundle's source checkpoint hash (manifest source.sha256): a stable "
        "key for the same weights across exports.")
    columns: list[str] = Field(default_factory=lambda: list(COLUMNS))
    rule_weights: list[float]
    model_weights: dict[str, float]
    beta_max: float = Field(default=1.0, gt=0)
    clip: float = CLIP
    fitting: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shape(self) -> Combiner:
        if tuple(self.columns) != COLUMNS or len(self.rule_weights) != len(COLUMNS):
            raise ValueError(f"combiner columns must be {list(COLUMNS)} with one weight each")
        if set(self.model_weights) != set(BUCKETS):
            raise ValueError(f"combiner model_weights must have exactly the buckets {list(BUCKETS)}")
        if any(not (0.0 <= b <= self.beta_max + 1e-9) for b in self.model_weights.values()):
            raise ValueError("combiner model weights must lie in [0, beta_max]")
        if self.clip != CLIP:
            raise ValueError(f"combiner clip must be {CLIP}")
        return self

    @classmethod
    def rules_only(cls, name: str = "rules-only") -> Combiner:
        """The combiner that reproduces the rules' own score and gives the model no vote: what the
        'hybrid' strategy falls back to for a model no combiner was fitted for."""
        w = [1.0 if c == "rules_logit" else 0.0 for c in COLUMNS]
        return cls(name=name, rule_weights=w, model_weights={b: 0.0 for b in BUCKETS},
                   fitting={"method": "none: the rules' own log-odds, no model term"})

    @property
    def content_hash(self) -> str:
        """sha256 over the coefficients and the fitting record (provenance of a decision)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()

    def asks(self, bucket: str | None) -> bool:
        """Whether the model's answer can change a decision in ``bucket`` (its weight is not 0)."""
        return bucket is not None and self.model_weights.get(bucket, 0.0) > 0.0

    def logit(self, x: np.ndarray, bucket: str | None, p_yes: float | None) -> float:
        """logit P(true) for rule side ``x`` and, when the model was asked (``bucket`` and ``p_yes``), its
        bounded term."""
        z = float(np.dot(np.asarray(self.rule_weights), x))
        if bucket is not None and p_yes is not None:
            z += self.model_weights[bucket] * model_logit(p_yes)
        return z

    def score(self, x: np.ndarray, bucket: str | None, p_yes: float | None) -> float:
        """P(true) in [0, 1] (``logit`` through the logistic function)."""
        z = self.logit(x, bucket, p_yes)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def overturn_p(self, x: np.ndarray, bucket: str, threshold: float = 0.5) -> float | None:
        """The P(yes) the model must give to move this decision across ``threshold``: below it (a True
        rule side) or above it (a False one); None when no clipped answer can (the model cannot overturn)."""
        z0 = float(np.dot(np.asarray(self.rule_weights), x))
        t = math.log(threshold / (1 - threshold))
        beta = self.model_weights[bucket]
        if beta <= 0:
            return None
        need = (t - z0) / beta  # the clipped model logit that reaches the threshold
        if abs(need) > CLIP:
            return None
        return 1.0 / (1.0 + math.exp(-need))


def builtin_path(extractor: str) -> Path | None:
    """The built-in combiner file for extractor bundle name ``extractor`` (``fitted/<name>.json``), or
    None."""
    ref = resources.files(__package__).joinpath("fitted", f"{Path(extractor).name}.json")
    return Path(str(ref)) if ref.is_file() else None


def load_combiner(path: str | Path) -> Combiner:
    """A combiner file. Raises ``OSError``, ``json.JSONDecodeError`` or pydantic ``ValidationError``."""
    return Combiner.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def save_combiner(combiner: Combiner, path: str | Path) -> None:
    """Write ``combiner`` as indented JSON (replacing ``path`` atomically)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(combiner.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(p)


def combiner_for(setting: str | Path | None, extractor: str,
                 source_sha256: str | None) -> tuple[Combiner, str]:
    """The combiner a 'hybrid' pipeline uses, and a one-line note saying which and why.

    ``setting``: ``PipelineSettings.combiner`` (a file path; ``'rules-only'`` for the rules alone; None:
    the built-in file for bundle name ``extractor`` when its recorded ``extractor_source_sha256`` is
    ``source_sha256`` or unrecorded). Without a usable one, ``Combiner.rules_only()``: a model nobody fitted
    a combiner for gets no vote. Raises ``OSError`` / ``ValueError`` for a named file that cannot be read
    or is not a combiner."""
    if setting is not None and str(setting) == "rules-only":
        return Combiner.rules_only(), "rules-only (as configured): the model has no vote"
    if setting is not None:
        c = load_combiner(setting)
        return c, f"combiner file {Path(setting).name} ({c.name})"
    path = builtin_path(extractor)
    if path is None:
        return Combiner.rules_only(), f"no combiner fitted for extractor {Path(extractor).name}: rules alone"
    c = load_combiner(path)
    if c.extractor_source_sha256 and source_sha256 and c.extractor_source_sha256 != source_sha256:
        return Combiner.rules_only(), (f"built-in combiner {path.name} was fitted on other weights than this "
                                       f"bundle's: rules alone")
    return c, f"built-in combiner {path.name}"


def trace_decision(combiner: Combiner, entry: dict[str, Any], threshold: float) -> tuple[bool, float | None]:
    """(value, score) the 'hybrid' strategy gives one feature with ``combiner``, from the feature's trace
    entry (``HybridStrategy.trace_sink``: ``facts``, ``rule_score``, ``bucket``, ``p``, ``near_miss``),
    recorded with any combiner: a feature without a question, or whose near-miss question this combiner
    would not ask, is False with no score (``no_evidence``). Used to measure refitted combiners on recorded
    answers without running the model again; tests pin it to the strategy's own decisions."""
    facts = FindingFacts.model_validate(entry["facts"])
    bucket, p = entry.get("bucket"), entry.get("p")
    if bucket is None or (bucket == "near_miss" and not combiner.asks("near_miss")):
        return False, None
    strength = int(entry.get("near_miss") or 0) if bucket == "near_miss" else 0
    x = rule_row(facts, float(entry["rule_score"]), strength)
    score = min(1.0, max(0.0, combiner.score(x, bucket if p is not None else None, p)))
    return score >= threshold, score
