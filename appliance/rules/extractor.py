"""The rule extractor: medspaCy target matching + ConText over a dialogue-aware segmentation.

Per document: normalise (``appliance.normalize``) -> turns, sentences, questions (``segment``) ->
tokenise once with a blank spaCy pipeline, set sentence starts from the segmentation -> medspaCy
``TargetMatcher`` (one category per feature, terms from ``lexicon``) -> medspaCy ``ConText`` (rules
in ``context/<lang>.json``) -> one assertion per mention -> one finding per feature.

Assertion of a mention
  In a statement: inside an examination context ("pain to palpation", "does it hurt when I press")
  -> ``exam`` (not counted: a sign, not a symptom report); negated -> ``absent``; hypothetical or
  possible ("if", "can cause", "rule out") -> ``hypothetical``; family (unless a family member is the
  speaker, who then speaks about the patient) -> ``family``; historical and not also marked current
  ("still", "now", "since") -> ``history_only``; otherwise ``present``.
  In a clinician's (or unknown speaker's) question ("Any fever?") the mention is not a statement
  about the patient; the answer decides (see ``segment``): a negated question ("no fever?") with any
  yes/no answer -> ``absent``; a hypothetical one -> ``hypothetical``; answered "yes" -> as a
  statement (present / history_only / family); answered "no" -> ``absent``; no clear answer ->
  ``unanswered`` (not counted; kept as evidence context). When the answer names the feature itself
  ("No pain, but I cough"), its own mention decides and the question's vote is dropped.
  A patient's or relative's question is about their own situation ("Is this pain normal?", "Can you
  send a doctor?") and is read as a statement.

Finding of a feature (``RuleFinding``)
  Every counted mention is one vote (``CLINICIAN_WEIGHT`` for a clinician's statement: 1.0, since
  down-weighting clinicians did not help on the development split, where clinicians summarise the
  patient and speech-recognition transcripts mislabel speakers). ``present`` when the present votes
  reach ``PRESENT_MIN`` (1) and at least ``PRESENT_RATIO`` (0.5) times the absent votes: a patient
  who reports knee pain and denies chest pain has pain. Otherwise the first of ``history_only``,
  ``absent``, ``family``, ``hypothetical`` that has a vote; otherwise ``not_mentioned``. ``value``
  is True only for ``present``.

Confidence (a heuristic, not a fitted model; ``_confidence``)
  ``present``: 0.65 for one present vote, +0.10 per further vote (at most 0.95), -0.15 if there are
  also absent votes; ``absent``: 0.90, -0.15 if there are present votes; ``history_only`` /
  ``family`` / ``hypothetical``: 0.80; ``not_mentioned``: 0.95 (clamped to [0.5, 0.95]). The numbers
  are the development split's accuracy per bucket, rounded down (docs/rules-baseline.md), the same
  for every feature. ``not_mentioned`` is that reliable only because most features are rare: for a
  common symptom (pain) silence is weaker evidence.
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import numpy
from pydantic import BaseModel, ConfigDict, Field

from ..normalize import is_persian, normalize, normalize_with_offsets
from . import _spacy
from .lexicon import EXCLUDE, build_rules, feature_terms, match_form
from .segment import Role, Sentence, Structure, analyse, answer_polarity

if TYPE_CHECKING:
    from ..tasks import Task

Status = Literal["present", "absent", "not_mentioned", "history_only", "hypothetical", "family"]
Assertion = Literal["present", "absent", "history_only", "hypothetical", "family", "unanswered", "exam"]

RULES_VERSION = "1"
CLINICIAN_WEIGHT = 1.0
PATIENT_QUESTIONS_ARE_STATEMENTS = True
PRESENT_MIN = 1.0
PRESENT_RATIO = 0.5
_FALLBACK_ORDER: tuple[Status, ...] = ("history_only", "absent", "family", "hypothetical")
_MAX_EVIDENCE = 8


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Span(_Strict):
    """One matched mention. Offsets index the text as passed to ``extract`` (before normalising)."""

    start: int = Field(description="Start of the matched term.")
    end: int = Field(description="End of the matched term (exclusive).")
    text: str = Field(description="The matched term as written.")
    sentence: str = Field(description="The sentence it occurs in.")
    sentence_start: int
    sentence_end: int
    assertion: Assertion
    speaker: Role = "unknown"
    question: bool = Field(default=False, description="The mention is in a question.")
    answer: str | None = Field(
        default=None, description="For a question: the answer sentence, if one was found."
    )
    answer_start: int | None = None
    answer_end: int | None = None


class RuleFinding(_Strict):
    value: bool
    status: Status
    confidence: float = Field(ge=0, le=1)
    evidence: list[Span] = Field(default_factory=list)


# -- pipelines (one per task content and language, shared by all extractors) ------------------------

_PIPELINES: dict[tuple[str, str], _Pipeline] = {}
_PIPELINES_LOCK = threading.Lock()
_MAX_PIPELINES = 16


def _lang(language: str | None, text: str = "") -> str:
    if language:
        base = language.strip().lower().replace("_", "-").split("-")[0]
        if base in ("fas", "per", "prs"):
            return "fa"
        return base or "en"
    return "fa" if is_persian(None, text) else "en"


def _context_rules(language: str) -> list[dict[str, Any]]:
    """ConText rules for a language; none for a language without a rule file."""
    ref = resources.files(__package__).joinpath("context", f"{language}.json")
    if not ref.is_file():
        return []
    return json.loads(ref.read_text(encoding="utf-8"))["context_rules"]


def _fold_pattern(pattern: Any, language: str, persian: bool) -> Any:
    if isinstance(pattern, dict):
        return {k: _fold_pattern(v, language, persian) for k, v in pattern.items()}
    if isinstance(pattern, list):
        return [_fold_pattern(v, language, persian) for v in pattern]
    if isinstance(pattern, str) and persian:
        return match_form(normalize(pattern, language), True)
    return pattern


class _Pipeline:
    """A blank spaCy pipeline with a TargetMatcher and ConText for one task and language."""

    def __init__(self, task: Task, language: str) -> None:
        m = _spacy.modules()
        self.language = language
        self.persian = is_persian(language)
        nlp = _spacy.blank(language)
        nlp.max_length = 5_000_000  # characters; long call transcripts are far below
        if self.persian:
            _persian_tokenizer(nlp, m["spacy"])
        self.nlp = nlp
        self.keys = [f.key for f in task.features if f.type == "boolean"]
        terms = []
        self.sources: dict[str, str] = {}
        for f in task.features:
            if f.type != "boolean":
                continue
            ft = feature_terms(task, f, language)
            self.sources[f.key] = ft[0].source if ft else "none"
            terms += ft
        # result_type None: the matcher returns its spans and we set doc.ents once (its own
        # "doc.ents += (span,)" per match is quadratic in the number of matches).
        matcher = nlp.add_pipe("medspacy_target_matcher", config={"result_type": None})
        matcher.add(build_rules(terms, language, nlp.tokenizer, m["TargetRule"]))
        raw = _context_rules(language)
        ctx_rules = []
        for r in raw:
            r = dict(r)
            if self.persian:
                r["literal"] = match_form(normalize(r["literal"], language), True)
                if r.get("pattern") is not None:
                    r["pattern"] = _fold_pattern(r["pattern"], language, True)
            if r.get("terminated_by"):
                r["terminated_by"] = {c.upper() for c in r["terminated_by"]}
            ctx_rules.append(m["ConTextRule"](**r))
        # prune_on_target_overlap: a trigger inside a matched term ("can't" in "can't sleep", "نمی‌دهد"
        # in "جواب نمی‌دهد") is part of that symptom, not a modifier of its neighbours.
        ctx = nlp.add_pipe(
            "medspacy_context", config={"rules": None, "span_attrs": None, "prune_on_target_overlap": True}
        )
        if ctx_rules:
            ctx.add(ctx_rules)
        self.lock = threading.Lock()
        from spacy.attrs import SENT_START
        from spacy.util import filter_spans

        self.SENT_START = SENT_START
        self.filter_spans = filter_spans

    # ConText pairs every modifier with every target of the doc before it applies sentence scope, so one
    # spaCy doc per transcript costs O(turns^2). Scopes never cross a sentence, so running blocks of whole
    # sentences gives the same findings at linear cost.
    BLOCK_CHARS = 4000

    def run_blocks(self, text: str, starts: list[int]):
        """Yield ``(doc, offset)`` for consecutive blocks of whole sentences (``starts`` sorted)."""
        cuts = [0]
        for s in starts:
            if s - cuts[-1] >= self.BLOCK_CHARS:
                cuts.append(s)
        cuts.append(len(text))
        j = 0
        for a, b in zip(cuts, cuts[1:]):
            local = []
            while j < len(starts) and starts[j] < b:
                if starts[j] >= a:
                    local.append(starts[j] - a)
                j += 1
            yield self.run(text[a:b], local), a

    def run(self, text: str, starts: list[int]):
        """Tokenise ``text`` (match form), set sentence starts at ``starts`` (sorted), run the pipes."""
        with self.lock:
            doc = self.nlp.make_doc(text)
            if len(doc):
                idx = numpy.fromiter((t.idx for t in doc), dtype=numpy.int64, count=len(doc))
                flags = numpy.full(len(doc), -1, dtype=numpy.int32)
                flags[0] = 1
                # the first token at or after each start begins a sentence
                pos = numpy.searchsorted(idx, numpy.asarray(starts, dtype=numpy.int64), side="left")
                flags[pos[pos < len(doc)]] = 1
                doc.from_array([self.SENT_START], flags.reshape(-1, 1).astype(numpy.uint64))
            # medspaCy's TargetMatcher warns with the span text on an entity conflict: that would be
            # patient text on stderr / in logs, so its warnings are silenced here.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                spans = self.nlp.get_pipe("medspacy_target_matcher")(doc)
                doc.ents = self.filter_spans(spans)
                doc = self.nlp.get_pipe("medspacy_context")(doc)
            return doc


def _persian_tokenizer(nlp, spacy) -> None:
    """Split Persian punctuation written without spaces ("درد،تب") like Latin punctuation."""
    from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

    punct = r"[،؛؟!?.:«»()\[\]\"]"
    nlp.tokenizer.infix_finditer = compile_infix_regex(list(nlp.Defaults.infixes or []) + [punct]).finditer
    nlp.tokenizer.prefix_search = compile_prefix_regex(list(nlp.Defaults.prefixes or []) + [punct]).search
    nlp.tokenizer.suffix_search = compile_suffix_regex(list(nlp.Defaults.suffixes or []) + [punct]).search


def pipeline_for(task: Task, language: str) -> _Pipeline:
    key = (task.content_hash, language)
    p = _PIPELINES.get(key)
    if p is None:
        with _PIPELINES_LOCK:
            p = _PIPELINES.get(key)
            if p is None:
                p = _Pipeline(task, language)
                while len(_PIPELINES) >= _MAX_PIPELINES:  # edited task files must not pile up
                    _PIPELINES.pop(next(iter(_PIPELINES)))
                _PIPELINES[key] = p
    return p


# -- analysis of one document ---------------------------------------------------------------------


@dataclass
class _Mention:
    key: str
    start: int  # normalised-text offsets
    end: int
    sentence: Sentence
    assertion: Assertion
    weight: float
    answer: Sentence | None = None


@dataclass
class _Analysis:
    original: str
    norm: str
    offsets: list[int]
    structure: Structure
    mentions: dict[str, list[_Mention]] = field(default_factory=dict)

    def o(self, i: int) -> int:
        return self.offsets[i]


_PARTICLES = {"no", "nope", "nah", "not", "نه", "خیر", "نخیر"}
_LEADING = {"um", "uh", "well", "oh", "so", "and", "okay", "ok", "yeah", "خب", "خوب", "والا"}


def _answer_particle(doc, mod, ent) -> bool:
    """A sentence-initial "no" / "nope" / "نه" answers the question before it; it negates only a
    target right after it ("No fever."), not one further on ("No, it's just the pain in my knee")."""
    if mod.category.upper() != "NEGATED_EXISTENCE":
        return False
    start, end = mod.modifier_span
    if end - start != 1 or doc[start].lower_ not in _PARTICLES or ent.start < end:
        return False
    i = start
    while i > 0 and not doc[i].is_sent_start:  # only fillers and punctuation before it in its sentence
        prev = doc[i - 1]
        if not (prev.is_punct or prev.is_space or prev.lower_ in _LEADING):
            return False
        i -= 1
    gap = [t for t in doc[end : ent.start] if not t.is_space]
    # "No fever" and "No, no fever" stay negations; "No, it's ..." / "No it's just ..." answer.
    if gap and gap[0].is_punct:
        return not any(t.lower_ in _PARTICLES for t in gap)
    return len([t for t in gap if not t.is_punct and t.lower_ not in _PARTICLES]) > 1


def _statement_assertion(cats: set[str], role: Role) -> Assertion:
    if "EXAM" in cats:
        return "exam"
    if "NEGATED_EXISTENCE" in cats:
        return "absent"
    if "HYPOTHETICAL" in cats or "POSSIBLE_EXISTENCE" in cats:
        return "hypothetical"
    if "FAMILY" in cats and role != "family":
        return "family"
    if "HISTORICAL" in cats and "CURRENT" not in cats:
        return "history_only"
    return "present"


def _question_assertion(cats: set[str], role: Role, polarity: str | None) -> Assertion:
    if "EXAM" in cats:
        return "exam"
    if "NEGATED_EXISTENCE" in cats:
        return "absent" if polarity else "unanswered"
    if "HYPOTHETICAL" in cats or "POSSIBLE_EXISTENCE" in cats:
        return "hypothetical"
    if polarity == "yes":
        return _statement_assertion(cats, role)
    if polarity == "no":
        return "absent"
    return "unanswered"


class RuleExtractor:
    """Rule baseline for a task's boolean features; also picks evidence sentences for an LLM prompt.

    ``extract(text, language)`` -> ``{feature_key: RuleFinding}`` (boolean features only).
    ``select_evidence(text, language, feature_key)`` -> sentences, with context, relevant to a feature.
    The spaCy pipeline is built once per (task, language) and shared; the last few documents'
    analyses are cached, so calling ``extract`` and then ``select_evidence`` for every feature of the
    same text tokenises it once.
    """

    CACHE_SIZE = 4

    def __init__(self, task: Task) -> None:
        self.task = task
        self._cache: OrderedDict[tuple[str, str], _Analysis] = OrderedDict()
        self._content_hash: str | None = None
        self._lock = threading.Lock()

    # -- public API ---------------------------------------------------------------------------

    @property
    def content_hash(self) -> str:
        """sha256 over what decides the output: the task, every built-in lexicon and ConText rule
        file, and ``RULES_VERSION`` (bumped when the logic changes). For result provenance."""
        if self._content_hash is None:
            h = hashlib.sha256(f"rules-{RULES_VERSION}\0{self.task.content_hash}".encode())
            root = resources.files(__package__)
            for folder in ("lexicons", "context"):
                for ref in sorted(root.joinpath(folder).iterdir(), key=lambda r: r.name):
                    if ref.name.endswith(".json"):
                        h.update(f"\0{folder}/{ref.name}\0".encode())
                        h.update(ref.read_bytes())
            self._content_hash = h.hexdigest()
        return self._content_hash

    def extract(self, text: str, language: str | None = "en") -> dict[str, RuleFinding]:
        a = self._analysis(text, language)
        pipe = pipeline_for(self.task, _lang(language, text))
        return {key: self._finding(a, a.mentions.get(key, [])) for key in pipe.keys}

    def select_evidence(
        self,
        text: str,
        language: str | None,
        feature_key: str,
        context_sentences: int = 1,
        max_chars: int = 1200,
    ) -> list[str]:
        """Passages (in document order) around every mention of the feature, each with
        ``context_sentences`` sentences either side (and, for a question, its answer), speaker tags
        kept, overlapping windows merged, at most ``max_chars`` characters in all. Statements that
        assert the feature are kept first when the budget is short. [] when nothing matched."""
        self.task.feature(feature_key)  # KeyError for an unknown feature
        a = self._analysis(text, language)
        mentions = a.mentions.get(feature_key, [])
        if not mentions:
            return []
        sents = a.structure.sentences
        last = len(sents) - 1
        prio = {
            "present": 0,
            "absent": 1,
            "history_only": 2,
            "family": 3,
            "hypothetical": 3,
            "unanswered": 4,
            "exam": 4,
        }
        windows: list[list[int]] = []  # [lo, hi, priority, core_lo, core_hi]
        for m in mentions:
            i = m.sentence.index
            j = m.answer.index if m.answer is not None else i
            windows.append(
                [max(0, i - context_sentences), min(last, j + context_sentences), prio[m.assertion], i, j]
            )
        windows.sort()
        merged: list[list[int]] = []
        for w in windows:
            if merged and w[0] <= merged[-1][1] + 1:
                mw = merged[-1]
                mw[1] = max(mw[1], w[1])
                mw[2] = min(mw[2], w[2])
                mw[3] = min(mw[3], w[3])
                mw[4] = max(mw[4], w[4])
            else:
                merged.append(list(w))
        chosen: list[tuple[int, str]] = []
        budget = max_chars
        for w in sorted(merged, key=lambda w: (w[2], w[0])):
            passage = self._render(a, w[0], w[1])
            if len(passage) > budget:
                passage = self._render(a, w[3], w[4])
            if len(passage) > budget:
                if not chosen and budget > 0:
                    chosen.append((w[0], passage[:budget]))
                    budget = 0
                continue
            chosen.append((w[0], passage))
            budget -= len(passage) + 1
        return [p for _, p in sorted(chosen)]

    # -- internals ---------------------------------------------------------------------------------

    def _analysis(self, text: str, language: str | None) -> _Analysis:
        lang = _lang(language, text)
        key = (lang, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        a = self._analyse(text, lang)
        with self._lock:
            self._cache[key] = a
            while len(self._cache) > self.CACHE_SIZE:
                self._cache.popitem(last=False)
        return a

    def _analyse(self, text: str, lang: str) -> _Analysis:
        pipe = pipeline_for(self.task, lang)
        norm, offsets = normalize_with_offsets(text, lang)
        structure = analyse(norm)
        a = _Analysis(text, norm, offsets, structure)
        sents = structure.sentences
        if not sents:
            return a
        starts = sorted({t.start for t in structure.turns} | {s.start for s in sents})
        sent_starts = [s.start for s in sents]
        polarity_cache: dict[int, str | None] = {}
        for doc, off in pipe.run_blocks(match_form(norm, pipe.persian), starts):
            self._collect(a, doc, off, sents, sent_starts, structure, norm, polarity_cache)
        # A question answered by a sentence that itself mentions the feature ("Any pain?" - "Not pain,
        # but ...") defers to that mention: the answer's own words are more specific than yes/no.
        for key, ms in a.mentions.items():
            said = {m.sentence.index for m in ms if not m.sentence.question}
            a.mentions[key] = [m for m in ms if m.answer is None or m.answer.index not in said]
        return a

    def _collect(self, a: _Analysis, doc, off: int, sents, sent_starts: list[int], structure: Structure,
                 norm: str, polarity_cache: dict[int, str | None]) -> None:
        """Turn one block's matched targets and their ConText modifiers into mentions."""
        for ent in doc.ents:
            if ent.label_ == EXCLUDE:
                continue
            start_char, end_char = ent.start_char + off, ent.end_char + off
            k = bisect_right(sent_starts, start_char) - 1
            if k < 0 or start_char >= sents[k].end:
                continue  # inside a speaker tag
            s = sents[k]
            cats = {mod.category.upper() for mod in ent._.modifiers if not _answer_particle(doc, mod, ent)}
            answer = None
            if s.question and not (PATIENT_QUESTIONS_ARE_STATEMENTS and s.role in ("patient", "family")):
                answer, pol = self._answer(structure, s, norm, polarity_cache)
                assertion = _question_assertion(cats, answer.role if answer else s.role, pol)
                weight = 1.0
            else:
                assertion = _statement_assertion(cats, s.role)
                weight = CLINICIAN_WEIGHT if s.role == "clinician" else 1.0
            a.mentions.setdefault(ent.label_, []).append(
                _Mention(ent.label_, start_char, end_char, s, assertion, weight, answer)
            )

    @staticmethod
    def _answer(
        structure: Structure, q: Sentence, norm: str, cache: dict[int, str | None]
    ) -> tuple[Sentence | None, str | None]:
        """The answer to question ``q`` and its polarity; when the answer's first sentence says
        neither yes nor no ("Um.", "Well, let me think."), the next sentence of the same turn may."""
        first = structure.answer_to(q)
        if first is None:
            return None, None
        cand = [first]
        nxt = first.index + 1
        if nxt < len(structure.sentences) and structure.sentences[nxt].turn == first.turn:
            cand.append(structure.sentences[nxt])
        for c in cand:
            if c.index not in cache:
                cache[c.index] = answer_polarity(norm[c.start : c.end])
            if cache[c.index] is not None:
                return c, cache[c.index]
            if c.question:
                break
        return first, None

    def _finding(self, a: _Analysis, mentions: list[_Mention]) -> RuleFinding:
        votes: dict[str, float] = {}
        for m in mentions:
            if m.assertion not in ("unanswered", "exam"):
                votes[m.assertion] = votes.get(m.assertion, 0.0) + m.weight
        pres, absn = votes.get("present", 0.0), votes.get("absent", 0.0)
        status: Status = "not_mentioned"
        if pres >= PRESENT_MIN and pres >= PRESENT_RATIO * absn:
            status = "present"
        else:
            for s in _FALLBACK_ORDER:
                if votes.get(s, 0.0) > 0:
                    status = s
                    break
        support = [m for m in mentions if m.assertion == status] if status != "not_mentioned" else []
        if status == "not_mentioned":
            support = [m for m in mentions][:_MAX_EVIDENCE]
        evidence = [self._span(a, m) for m in support[:_MAX_EVIDENCE]]
        return RuleFinding(
            value=status == "present",
            status=status,
            confidence=_confidence(status, votes),
            evidence=evidence,
        )

    @staticmethod
    def _span(a: _Analysis, m: _Mention) -> Span:
        s = m.sentence
        o = a.o
        kw: dict[str, Any] = {}
        if m.answer is not None:
            kw = {
                "answer": a.original[o(m.answer.start) : o(m.answer.end)],
                "answer_start": o(m.answer.start),
                "answer_end": o(m.answer.end),
            }
        return Span(
            start=o(m.start),
            end=o(m.end),
            text=a.original[o(m.start) : o(m.end)],
            sentence=a.original[o(s.start) : o(s.end)],
            sentence_start=o(s.start),
            sentence_end=o(s.end),
            assertion=m.assertion,
            speaker=s.role,
            question=s.question,
            **kw,
        )

    @staticmethod
    def _render(a: _Analysis, lo: int, hi: int) -> str:
        """Sentences lo..hi as original text, one line per turn, each with its speaker tag."""
        sents = a.structure.sentences[lo : hi + 1]
        lines: list[str] = []
        i = 0
        o = a.o
        while i < len(sents):
            j = i
            while j + 1 < len(sents) and sents[j + 1].turn == sents[i].turn:
                j += 1
            turn = a.structure.turns[sents[i].turn]
            body = a.original[o(sents[i].start) : o(sents[j].end)]
            tag = a.original[o(turn.start) : o(turn.content_start)].strip() if turn.tag else ""
            lines.append(f"{tag} {body}" if tag else body)
            i = j + 1
        return "\n".join(lines)


def _confidence(status: Status, votes: dict[str, float]) -> float:
    """Heuristic confidence that ``value`` is right (see the module docstring for the numbers)."""
    pres, absn = votes.get("present", 0.0), votes.get("absent", 0.0)
    if status == "present":
        c = 0.65 + 0.10 * min(3.0, max(0.0, pres - 1.0))
        if absn > 0:
            c -= 0.15
    elif status == "absent":
        c = 0.90 - (0.15 if pres > 0 else 0.0)
    elif status == "not_mentioned":
        c = 0.95
    else:
        c = 0.80
    return round(min(0.95, max(0.5, c)), 2)
