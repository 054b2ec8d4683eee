"""The spaCy side of the rules: one blank pipeline with a medspaCy ``TargetMatcher`` and ``ConText`` per
(task content, language), built once and shared by every ``RuleExtractor`` of the process.

Matching runs on the *match form* of the normalised text (``lexicon.match_form``: length-preserving, so
token character offsets are offsets into the normalised text). Persian ConText rules are normalised and
folded the same way as the text. At most ``_MAX_PIPELINES`` pipelines are kept (edited task files must
not pile up).
"""

from __future__ import annotations

import itertools
import json
import threading
import warnings
from collections.abc import Iterator
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy

from ..normalize import base_language, is_persian, normalize
from ._spacy import blank, modules
from .fuzzy import SpellingCorrector
from .lexicon import build_rules, feature_terms, match_form
from .matchtext import MatchText, build_match_text

if TYPE_CHECKING:
    from ..tasks import Task

_PIPELINES: dict[tuple[str, str], RulePipeline] = {}
_PIPELINES_LOCK = threading.Lock()
_MAX_PIPELINES = 16


def rules_language(language: str | None, text: str = "") -> str:
    """The code the rules read a text in: the base code of ``language`` (``fa-IR`` -> ``fa``, ``fas`` /
    ``per`` / ``prs`` -> ``fa``, ``EN_us`` -> ``en``; ``appliance.normalize.base_language``); with no code,
    ``fa`` when most letters of ``text`` are Arabic-script (``is_persian``), else ``en``."""
    if language:
        return base_language(language) or "en"
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


class RulePipeline:
    """A blank spaCy pipeline with a TargetMatcher (one category per boolean feature, terms from
    ``lexicon``) and ConText (rules from ``context/<language>.json``) for one task and language.

    ``keys``: the task's boolean feature keys, in task order. ``run`` / ``run_blocks`` are serialised by
    a lock (one spaCy pipeline is not thread-safe)."""

    def __init__(self, task: Task, language: str) -> None:
        m = modules()
        self.language = language
        self.persian = is_persian(language)
        nlp = blank(language)
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
        # misspelt lexicon words (``fuzzy``): English only, where the common-word list is
        self.correct = SpellingCorrector(terms) if language == "en" else None
        self.lock = threading.Lock()
        from spacy.attrs import SENT_START
        from spacy.util import filter_spans

        self.SENT_START = SENT_START
        self.filter_spans = filter_spans

    def match_text(self, view: str) -> MatchText:
        """The text the matcher reads for a document's speech view, with its offset map (``matchtext``)."""
        return build_match_text(view, self.persian, self.language, self.correct)

    # ConText pairs every modifier with every target of the doc before it applies sentence scope, so one
    # spaCy doc per transcript costs O(turns^2). Scopes never cross a sentence, so running blocks of whole
    # sentences gives the same findings at linear cost.
    BLOCK_CHARS = 4000

    def run_blocks(self, text: str, starts: list[int], hard: list[int] | None = None) -> Iterator[tuple[Any, int]]:
        """Yield ``(doc, offset)`` for consecutive blocks of whole sentences (``starts`` sorted; ``hard``,
        sorted, the starts no term may span: see ``run``)."""
        hard = hard or []
        cuts = [0]
        for s in starts:
            if s - cuts[-1] >= self.BLOCK_CHARS:
                cuts.append(s)
        cuts.append(len(text))
        j = h = 0
        for a, b in itertools.pairwise(cuts):
            local, local_hard = [], []
            while j < len(starts) and starts[j] < b:
                if starts[j] >= a:
                    local.append(starts[j] - a)
                j += 1
            while h < len(hard) and hard[h] < b:
                if hard[h] >= a:
                    local_hard.append(hard[h] - a)
                h += 1
            yield self.run(text[a:b], local, local_hard), a

    def run(self, text: str, starts: list[int], hard: list[int] | None = None) -> Any:
        """Tokenise ``text`` (match form), set sentence starts at ``starts`` (sorted), run the pipes;
        returns the spaCy ``Doc`` (matched targets in ``doc.ents``; ConText modifiers on each).

        ``hard`` (sorted): sentence starts a term never spans, those at a line start or after terminal
        punctuation (``analysis.hard_starts``). The match text folds line breaks to spaces, so without
        them "Appetite: poor" / "Sleep: ok" would read as "poor sleep"; a start guessed inside
        unpunctuated speech is not one (the guess may cut "catching | my breath")."""
        with self.lock:
            doc = self.nlp.make_doc(text)
            barrier = numpy.zeros(len(doc), dtype=bool)
            if len(doc):
                idx = numpy.fromiter((t.idx for t in doc), dtype=numpy.int64, count=len(doc))
                flags = numpy.full(len(doc), -1, dtype=numpy.int32)
                flags[0] = 1
                # the first token at or after each start begins a sentence
                pos = numpy.searchsorted(idx, numpy.asarray(starts, dtype=numpy.int64), side="left")
                flags[pos[pos < len(doc)]] = 1
                doc.from_array([self.SENT_START], flags.reshape(-1, 1).astype(numpy.uint64))
                if hard:
                    pos = numpy.searchsorted(idx, numpy.asarray(hard, dtype=numpy.int64), side="left")
                    barrier[pos[pos < len(doc)]] = True
            # medspaCy's TargetMatcher warns with the span text on an entity conflict: that would be
            # patient text on stderr / in logs, so its warnings are silenced here.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                spans = self.nlp.get_pipe("medspacy_target_matcher")(doc)
                spans = [sp for sp in spans if not barrier[sp.start + 1 : sp.end].any()]
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


def pipeline_for(task: Task, language: str) -> RulePipeline:
    """The shared pipeline for ``task`` (by content hash) and a rules language code (``rules_language``);
    built on first use (spaCy and medspaCy are imported then: about a second)."""
    key = (task.content_hash, language)
    p = _PIPELINES.get(key)
    if p is None:
        with _PIPELINES_LOCK:
            p = _PIPELINES.get(key)
            if p is None:
                p = RulePipeline(task, language)
                while len(_PIPELINES) >= _MAX_PIPELINES:  # edited task files must not pile up
                    _PIPELINES.pop(next(iter(_PIPELINES)))
                _PIPELINES[key] = p
    return p
