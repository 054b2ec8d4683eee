"""Fidelity gate: does the exported ONNX model still compute what its fp32 torch source computes?

Quantization error is measured per export, never assumed small (SmolLM2 at INT4 agreed with its own
fp32 weights on only ~63 % of next-token choices). On a fixed set of short clinical prompts, rendered
through the model's own chat template and followed by the start of a JSON answer, we compare the
next-token logits of the exported model (run through onnxruntime-genai, the runtime's own path) with
the torch fp32 model at every position:

* ``top1_agreement``: fraction of positions where both pick the same next token;
* ``logit_cosine``: mean cosine similarity of the two logit vectors.

``prune_lm_head=true`` bundles return logits for the last token of each append only. So each prompt is
prefilled for its first third in one call (exercising the prefill kernels; its last position is
compared) and then fed one token at a time (the decode kernels), reading the logits after each token.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.bundle import Fidelity

from . import FidelityError

SYSTEM_PROMPT = "You read palliative-care call notes and answer with JSON only."

CLINICAL_PROMPTS: list[tuple[str, str]] = [
    ("My mother has had severe back pain since yesterday and the morphine does not help.", '{"pain": '),
    ("He has a fever of 38.5 and a cough, and he is very short of breath at night.", '{"fever": '),
    ("She cannot sleep, she is anxious and cries a lot since the last scan.", '{"sleep_disorders": '),
    ("No appetite for three days, only drinks water. Vomited twice this morning.", '{"loss_of_appetite": '),
    ("He had a seizure an hour ago and now he does not respond when we call him.", '{"seizures": '),
    ("We need a doctor to visit at home; the insurance will not pay for the nurse.", '{"request_for_visit": '),
    ("Burning when passing urine and the catheter is blocked again.", '{"urinary_issues": '),
    ("She feels weak and tired all day, no pain, no fever, bowels are fine.", '{"weakness_fatigue": '),
]


@dataclass
class Comparison:
    """Agreement of two logit matrices: rows compared, top-1 agreement (fraction 0..1), mean cosine."""

    positions: int
    top1_agreement: float
    logit_cosine: float


def prompt_token_ids(tokenizer, *, needs_bos: bool) -> list[list[int]]:
    """Token ids of the fixed prompts (:data:`CLINICAL_PROMPTS`), exactly as the runtime would build them:
    rendered through the chat template (system turn folded into the user turn where the template refuses
    one), followed by the start of the JSON answer, BOS first when ``needs_bos``. One list per prompt."""
    out = []
    bos_id = tokenizer.bos_token_id
    for user, answer_start in CLINICAL_PROMPTS:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
        if getattr(tokenizer, "chat_template", None):
            try:
                text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            except Exception:  # templates that refuse a system role (Gemma 2 and others)
                messages = [{"role": "user", "content": SYSTEM_PROMPT + "\n\n" + user}]
                text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = f"{SYSTEM_PROMPT}\n\n{user}\n\n"
        ids = list(tokenizer(text + answer_start, add_special_tokens=False)["input_ids"])
        if needs_bos and bos_id is not None and (not ids or ids[0] != bos_id):
            ids = [bos_id] + ids
        out.append(ids)
    return out


def torch_logits(hf_dir: Path, prompts: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """fp32 torch logits, [T, V] per prompt (all positions)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32)
    model.eval()
    out = []
    with torch.inference_mode():
        for ids in prompts:
            logits = model(torch.tensor([list(ids)], dtype=torch.long)).logits[0]
            out.append(logits.float().numpy().copy())
    del model
    gc.collect()
    return out


def onnx_logits(bundle_dir: Path, ids: Sequence[int], *, prefill: int | None = None, model=None) -> np.ndarray:
    """Logits of the exported model for positions ``prefill-1 .. T-1`` ([T-prefill+1, V]).

    The first ``prefill`` tokens go in one ``append_tokens`` call; the rest one at a time.
    ``prefill=1`` gives every position. Pass ``model`` (an ``og.Model``) to reuse a loaded one.
    """
    import onnxruntime_genai as og

    if model is None:
        model = load_genai_model(bundle_dir)
    ids = list(ids)
    if prefill is None:
        prefill = max(1, len(ids) // 3)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=max(len(ids) + 1, sliding_window(bundle_dir)), do_sample=False)
    gen = og.Generator(model, params)
    rows = []
    gen.append_tokens(ids[:prefill])
    rows.append(np.asarray(gen.get_logits(), dtype=np.float32).reshape(-1))
    for t in ids[prefill:]:
        gen.append_tokens([t])
        rows.append(np.asarray(gen.get_logits(), dtype=np.float32).reshape(-1))
    del gen
    return np.stack(rows)


def sliding_window(bundle_dir: Path) -> int:
    """The decoder's sliding-window size from the bundle's ``genai_config.json`` (0 when it has none).

    A generator's ``max_length`` must be at least this: genai sizes the windowed KV cache from it and the
    attention kernel refuses a smaller one (measured on Gemma 3 270M, window 512: "KV cache capacity (44)
    must be at least local_window_size (512)" for a 43-token prompt)."""
    import json

    try:
        cfg = json.loads((Path(bundle_dir) / "genai_config.json").read_text(encoding="utf-8"))
        window = cfg["model"]["decoder"].get("sliding_window") or {}
        return max(int(window.get("window_size") or 0), 0)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0


def load_genai_model(bundle_dir: Path):
    """Load a bundle with onnxruntime-genai on the CPU (whatever provider it was built for)."""
    import onnxruntime_genai as og

    cfg = og.Config(str(bundle_dir))
    cfg.clear_providers()
    return og.Model(cfg)


def compare(ref: np.ndarray, got: np.ndarray) -> Comparison:
    """Row-wise comparison of two [N, V] logit matrices (V may differ by padding: the common part)."""
    v = min(ref.shape[-1], got.shape[-1])
    a = ref[:, :v].astype(np.float64)
    b = got[:, :v].astype(np.float64)
    top1 = float(np.mean(a.argmax(-1) == b.argmax(-1)))
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    cos = np.sum(a * b, axis=-1) / np.maximum(na * nb, 1e-30)
    return Comparison(positions=int(a.shape[0]), top1_agreement=top1, logit_cosine=float(np.mean(cos)))


def measure(hf_dir: Path, bundle_dir: Path, *, needs_bos: bool) -> Comparison:
    """Compare the bundle with its fp32 source over all fixed prompts."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(hf_dir))
    prompts = prompt_token_ids(tokenizer, needs_bos=needs_bos)
    refs = torch_logits(hf_dir, prompts)
    model = load_genai_model(bundle_dir)
    ref_rows, got_rows = [], []
    for ids, ref in zip(prompts, refs):
        prefill = max(1, len(ids) // 3)
        got = onnx_logits(bundle_dir, ids, prefill=prefill, model=model)
        ref_rows.append(ref[prefill - 1 :])
        got_rows.append(got)
    del model
    gc.collect()
    return compare(np.concatenate(ref_rows), np.concatenate(got_rows))


# Defaults per precision: what an export must reach unless the caller sets --min-top1 or --force.
DEFAULT_MIN_TOP1 = {"fp32": 0.98, "fp16": 0.95, "int8": 0.90, "int4": 0.80}


def gate(
    hf_dir: Path,
    bundle_dir: Path,
    *,
    precision: str,
    needs_bos: bool,
    min_top1: float | None = None,
    force: bool = False,
) -> Fidelity:
    """Measure and decide; returns the manifest's :class:`~appliance.bundle.Fidelity` record.

    The threshold is ``min_top1``, else :data:`DEFAULT_MIN_TOP1` for ``precision`` (0.9 for another).
    Raises ``FidelityError`` (carrying the record) below the threshold unless ``force``, in which case
    the record says ``overridden``.
    """
    threshold = DEFAULT_MIN_TOP1.get(precision, 0.9) if min_top1 is None else float(min_top1)
    c = measure(hf_dir, bundle_dir, needs_bos=needs_bos)
    passed = c.top1_agreement >= threshold
    fid = Fidelity(
        prompts=len(CLINICAL_PROMPTS),
        positions=c.positions,
        top1_agreement=round(c.top1_agreement, 4),
        logit_cosine=round(max(-1.0, min(1.0, c.logit_cosine)), 4),
        threshold_top1=threshold,
        passed=passed,
        overridden=bool(force and not passed),
    )
    if not passed and not force:
        raise FidelityError(
            f"fidelity gate failed: top-1 agreement with the fp32 source {c.top1_agreement:.1%} over "
            f"{c.positions} positions is below {threshold:.0%} (logit cosine {c.logit_cosine:.3f}); "
            "try a higher precision (int8) or a smaller block size, or pass --force / --min-top1",
            fidelity=fid,
        )
    return fid
