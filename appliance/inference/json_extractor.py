"""The 'json' strategy: one schema-constrained JSON answer per document (window).

Two decoders produce the same answer layout (compact JSON, keys in task order):

* **scored** (choice-only tasks: booleans and enums). The JSON structure is forced token by token
  (what guidance's fast-forward does) and at each value the model's log-probabilities over the
  allowed options are read directly. Output is schema-valid by construction, and every value gets
  an exact confidence: P(option) renormalised over the allowed options at its decision point.
* **guided** (any schema, and evidence quotes): onnxruntime-genai guidance with the task's JSON
  schema (llguidance), optionally with fast-forward tokens. With fast-forward on, genai does not
  expose the logits at decision points, so confidences are only recorded with fast-forward off.

Both reuse the prefilled prompt prefix with ``rewind_to`` when allowed; results are identical with
reuse on and off (pinned by a test).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..settings import PipelineSettings
from ..tasks import Feature, Task
from .engine import LoadedModel, last_logprobs, prefill
from .prompts import JsonPrompt, build_json_prompt


@dataclass
class Decision:
    """The model's answer for one feature in one window.

    ``confidence`` is the probability of the chosen value renormalised over the allowed options (None
    when not measured: guided decoding with fast-forward on); ``score`` is P(true) for booleans;
    ``evidence`` the model's quote, verbatim as generated (only with ``settings.evidence``).
    """

    value: Any
    confidence: float | None = None
    score: float | None = None          # booleans: P(true)
    evidence: str | None = None


@dataclass
class WindowAnswer:
    """One window's decisions by feature key, or ``failure`` (``generation_incomplete``,
    ``generation_invalid``) with no decisions."""

    decisions: dict[str, Decision] = field(default_factory=dict)
    failure: str | None = None          # reason code when the answer is unusable


class GenerationFailed(Exception):
    """The model did not finish a valid answer within its budget."""


def _softmax(logps: list[float]) -> list[float]:
    m = max(logps)
    ex = [math.exp(x - m) for x in logps]
    s = sum(ex)
    return [e / s for e in ex]


class JsonExtractor:
    """Holds the prompt, the token budget and (with prefix reuse) one long-lived generator.

    Scored decoding is used when every feature is boolean or enum and evidence is off, else guided.
    ``max_length`` (tokens) is the smaller of the model's context and ``max_context``; ``answer_budget``
    is the answer's token cap (scored: the forced fragments plus the longest option per feature, + 4;
    guided: 24 per feature, + 48 per feature with evidence, + 16: fixed margins with no recorded
    measurement behind them); ``window_tokens`` is what is left for the document text, after the prefix,
    the suffix's own tokens, the answer budget and 8 tokens of slack. Raises BundleError when the chat
    template fails.
    """

    def __init__(self, model: LoadedModel, task: Task, settings: PipelineSettings, *, max_context: int) -> None:
        self.model = model
        self.task = task
        self.settings = settings
        self.prompt: JsonPrompt = build_json_prompt(task, model.render)
        self.prefix_ids = model.encode(self.prompt.prefix, add_bos=True) if self.prompt.reusable else []
        self.scored = all(f.type in ("boolean", "enum") for f in task.features) and not settings.evidence
        self.reuse = settings.prefix_reuse and self.prompt.reusable
        self.max_length = min(model.context_length, max_context)
        if self.scored:
            self._frags = {}
            self._opts: dict[str, list[list[int]]] = {}
            for i, f in enumerate(task.features):
                self._frags[f.key] = model.encode(("{" if i == 0 else ",") + json.dumps(f.key) + ":")
                self._opts[f.key] = [model.encode(o) for o in self._option_texts(f)]
            self.answer_budget = sum(len(v) for v in self._frags.values()) + sum(
                max(len(o) for o in opts) for opts in self._opts.values()) + 4
        else:
            self.answer_budget = 24 * len(task.features) + (48 * len(task.features) if settings.evidence else 0) + 16
        suffix_overhead = len(model.encode(self.prompt.suffix("")))
        self.window_tokens = self.max_length - len(self.prefix_ids) - suffix_overhead - self.answer_budget - 8
        self._gen = None

    # -- set-up -----------------------------------------------------------------------------------
    @staticmethod
    def _option_texts(f: Feature) -> list[str]:
        if f.type == "boolean":
            return ["true", "false"]
        return [json.dumps(o, ensure_ascii=False) for o in f.options or []]

    def _guidance(self) -> tuple[str, str] | None:
        if self.scored:
            return None
        schema = self.task.output_schema()
        if self.settings.evidence:
            schema = {
                **schema,
                "properties": {
                    k: {
                        "type": "object",
                        "properties": {"value": v, "evidence": {"type": "string", "maxLength": 160}},
                        "required": ["value", "evidence"],
                        "additionalProperties": False,
                    }
                    for k, v in schema["properties"].items()
                },
            }
        schema["x-guidance"] = {"whitespace_flexible": False}
        return ("json_schema", json.dumps(schema))

    def _new_generator(self):
        return self.model.generator(self.max_length, guidance=self._guidance(), fast_forward=self.settings.fast_forward)

    def warm(self) -> None:
        """Pay one-time costs at start-up: guidance set-up and (with reuse) the prefix prefill."""
        with self.model.lock:
            if self.reuse:
                if self._gen is None:
                    self._gen = self._new_generator()
                    self._append(self._gen, self.prefix_ids)
            else:
                self._new_generator()

    def _append(self, gen, ids: list[int]) -> None:
        if not ids:
            return
        if self.scored:  # no guidance (see prefill)
            prefill(gen, ids)
        else:
            gen.append_tokens(np.asarray(ids, dtype=np.int32))

    def _start(self, window_text: str):
        # The document goes into the rendered prompt as text: never as control tokens (LoadedModel.plain).
        suffix = self.prompt.suffix(self.model.plain(window_text))
        doc_ids = self.model.encode(suffix, add_bos=not self.prompt.reusable)
        if self.reuse:
            self.warm()
            gen = self._gen
            gen.rewind_to(len(self.prefix_ids))
        else:
            gen = self._new_generator()
            doc_ids = self.prefix_ids + doc_ids
        self._append(gen, doc_ids)
        return gen

    # -- decoding ---------------------------------------------------------------------------------
    def answer(self, window_text: str) -> WindowAnswer:
        """The decisions for every task feature on ``window_text`` (at most ``window_tokens`` tokens).

        A generation that overruns ``answer_budget`` or yields invalid JSON or values is returned as a
        WindowAnswer with ``failure`` set, not raised. Holds the model's lock throughout.
        """
        with self.model.lock:
            gen = self._start(window_text)
            try:
                return WindowAnswer(self._scored(gen) if self.scored else self._guided(gen, window_text))
            except GenerationFailed as e:
                return WindowAnswer(failure=str(e))
            finally:
                if not self.reuse:
                    del gen

    def _append_forced(self, gen, ids: list[int]) -> None:
        # Fast-forward appends forced structure in one step; without it, one token per model step
        # (the ablation that shows what fast-forward saves).
        if self.settings.fast_forward:
            self._append(gen, ids)
        else:
            for t in ids:
                self._append(gen, [t])

    def _scored(self, gen) -> dict[str, Decision]:
        out: dict[str, Decision] = {}
        for f in self.task.features:
            self._append_forced(gen, self._frags[f.key])
            options = self._opts[f.key]
            lp = last_logprobs(gen)
            firsts = [o[0] for o in options]
            if len(set(firsts)) == len(firsts):
                logps = [float(lp[t]) for t in firsts]
            else:
                logps = self._sequence_logps(gen, options, lp)
            probs = _softmax(logps)
            if f.type == "boolean":
                p_true = probs[0]
                value = p_true >= f.threshold
                out[f.key] = Decision(value=value, confidence=p_true if value else 1 - p_true, score=p_true)
                chosen = 0 if value else 1
            else:
                chosen = int(np.argmax(probs))
                out[f.key] = Decision(value=(f.options or [])[chosen], confidence=probs[chosen])
            self._append_forced(gen, options[chosen])
        return out

    def _sequence_logps(self, gen, options: list[list[int]], lp: np.ndarray) -> list[float]:
        """Full log-probability of each option's token sequence (options sharing a first token)."""
        base = gen.token_count()
        totals = []
        for opt in options:
            total, cur = 0.0, lp
            for j, t in enumerate(opt):
                total += float(cur[t])
                if j + 1 < len(opt):
                    self._append(gen, [t])
                    cur = last_logprobs(gen)
            totals.append(total)
            if gen.token_count() != base:
                gen.rewind_to(base)
        return totals

    def _guided(self, gen, window_text: str) -> dict[str, Decision]:
        start = gen.token_count()
        budget = self.answer_budget
        eos = self.model.eos_ids
        steps: list[tuple[int, np.ndarray]] = []  # (position, logprobs) when fast-forward is off
        while not gen.is_done():
            if gen.token_count() - start >= budget:
                raise GenerationFailed("generation_incomplete")
            if not self.settings.fast_forward:
                steps.append((gen.token_count(), last_logprobs(gen)))
            gen.generate_next_token()
        seq = [int(t) for t in gen.get_sequence(0)[start:]]
        while seq and seq[-1] in eos:
            seq.pop()
        text = self.model.decode(seq)
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise GenerationFailed("generation_invalid") from None
        out: dict[str, Decision] = {}
        for f in self.task.features:
            item = data.get(f.key)
            evidence = None
            if self.settings.evidence and isinstance(item, dict):
                evidence = item.get("evidence") or None
                item = item.get("value")
            try:
                f.check_value(item)
            except ValueError:
                raise GenerationFailed("generation_invalid") from None
            d = Decision(value=item, evidence=evidence)
            if f.type == "boolean" and steps:
                d.score = self._bool_score(f, seq, start, steps)
                if d.score is not None:
                    d.confidence = d.score if item else 1 - d.score
            out[f.key] = d
        return out

    def _bool_score(self, f: Feature, seq: list[int], start: int, steps) -> float | None:
        """P(true) at the step where the model chose this feature's value (fast-forward off)."""
        t_true = self.model.encode("true")[0]
        t_false = self.model.encode("false")[0]
        marker = json.dumps(f.key) + ":"
        for pos, lp in steps:
            prior = self.model.decode(seq[: pos - start])
            if prior.rstrip().endswith(marker) or prior.endswith(marker + " "):
                p = _softmax([float(lp[t_true]), float(lp[t_false])])
                return p[0]
        return None
