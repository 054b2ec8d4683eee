"""Which targets a ConText modifier reaches, decided by the structure of the words between them.

medspaCy's ConText gives every modifier a scope (the rest of its sentence in its direction, cut by a
TERMINATE cue such as "but" / "however" / "which" / "ولی", and by the next cue of its own category or
of a category in its ``terminated_by``) and then asks the rule's ``on_modifies`` callback whether the
modifier reaches a target inside that scope. ``Reach`` is that callback (``context`` attaches one to
every rule); it looks at the *gap*, the words between cue and target. A modifier reaches a target when:

1. **Word budget.** At most ``budget`` ordinary words lie in the gap (the rule's ``max_scope`` in
   ``context/<lang>.json``). Other matched findings, list glue ("," "/" "and" "or" "nor", "و" "یا"),
   punctuation and fillers are free, so a cue covers a list of any length ("no cough, fever, nausea,
   vomiting or diarrhea") and a multi-word term ("shortness of breath") as a whole.
2. **No clause break.** A subject pronoun ("I", "she", "it", "there", "that's"; Persian "من", "او" and
   "الان" / "حالا") after some word of the gap opens a new clause, and a cue does not cross it: "no
   fever and I have a cough", "no fever, she has been coughing". Not a break: a pronoun right after a
   complementizer ("denies that she has", "if you have", "can't say I'm"; for temporal and hypothetical
   cues also "when", "while": "last year when you were having pain"), a stutter ("i i i had"), a filler
   ("you know", "I mean"), or after a fronted adverbial ("In the past, I had ..."). A cue that opens a
   subordinate clause ("if", "when I was": ``subordinate``) also reaches into the main clause after
   it. A cue after the finding reaches back across a break when its own clause points back with an
   anaphor ("I had pain last year and I still have it").
3. **Answer particles.** A sentence-initial "no" / "nope" / "nah" / "not" (only fillers and punctuation
   before it) negates a target only when the gap is a noun phrase list: findings, glue, indefinite
   determiners and modifier words ("No cough or fever.", "No real chest pain."). A word that opens the
   answer's own clause (a pronoun, a possessive or definite determiner, a verb or auxiliary, "just",
   "only", "but", a negation of its own: "not", "never", ...) makes it an answer to the question before,
   negating nothing after it: "No, it's just the pain in my knee", "No, never not tired". Whether a question came before does not matter. A sentence-initial
   Persian "نه" is an answer ("نه، دردش بیشتر شده") and negates forward only in the correlative "نه X
   ... نه Y": Persian negates existence on the verb, which that verb's own rule reads.
4. **Experiencer** (FAMILY: relatives and other people): not across a first-person pronoun or a verb of
   reporting ("my wife says I snore", "his daughter noticed he was coughing").
5. **An affirmed list item**: a positive quantity ("some", "a bit of", "a lot of") opening a later item
   of an English list, not after "or" / "nor" / "any", asserts that item ("No fever, some cough").
6. **Persian "not without"**: in ``بدون X نیست`` ("is not without X") neither negation reaches X.
7. **An affirming verb** ("reports", "endorses", "complains", "admits", "positive for"; English) after a
   finding of a negation's forward gap starts the note's next, affirmed, clause: "Denies fever, reports
   cough", "No nausea or vomiting, complains of fatigue" (but "never complains of pain" is negated).

The word lists are this project's own, from English and Persian grammar (pronouns, auxiliaries,
complementizers, determiners); none was fitted to a data set. Tokens are compared in the match form
the rules run on (``lexicon.match_form``; the Persian lists are normalised and folded the same way).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..normalize import normalize
from .lexicon import EXCLUDE, match_form

# -- English word classes ---------------------------------------------------------------------------
_GLUE = {",", "/", "&", "and", "or", "nor", "plus", "either", "neither", "as", "well", "of", "+", "-"}
_COMPLEMENTIZERS = {"that", "if", "whether", "say", "said", "says", "think", "thought", "know", "feel",
                    "felt", "mean", "sure", "like", "as", "where", "how", "why"}
# A temporal clause takes the time of its main clause ("last year when you were having pain"), not its
# polarity ("I don't take it when I have pain").
_TEMPORAL = {"when", "while", "after", "before", "since", "until", "whenever"}
_FILLER_PHRASES = {("you", "know"), ("i", "mean"), ("you", "see")}
_FILLERS = {"um", "uh", "uhm", "umm", "er", "erm", "hmm", "hm", "ah", "oh", "well", "so", "and", "okay",
            "ok", "yeah", "alright", "right", "mm", "mhm"}
_SUBJECTS = {"i", "you", "he", "she", "we", "they", "it", "there", "im", "ive", "id", "ill"}
_DEMONSTRATIVE_SUBJECTS = {"that", "this"}
_COPULA = {"'s", "is", "was", "'re", "are", "were", "'m", "am", "'ve", "have", "has", "had", "'d", "'ll",
           "will"}
_ANAPHORS = {"it", "that", "this", "them", "those", "these", "same", "one"}
_PARTICLES = {"no", "nope", "nah", "not"}
# Words that open the answer's own clause after a sentence-initial particle ("No, it's just ...").
_CLAUSE = (_SUBJECTS | _COPULA | {
    "me", "my", "your", "his", "her", "our", "their", "the", "this", "that", "these", "those", "what",
    "be", "been", "being", "do", "does", "did", "n't", "can", "ca", "could", "would", "should", "may",
    "might", "must", "wo", "get", "gets", "got", "feel", "feels", "felt", "think", "guess", "know", "mean",
    "seem", "seems", "just", "only", "actually", "mostly", "mainly", "except", "but", "though", "because",
    "so", "then", "anyway", "honestly", "yes", "yeah", "yep", "sure", "still", "sometimes",
    "not", "never",  # the answer's own negation ("No, never not tired", "No, not really"), read by its own rule
})
# A positive quantity opening a later list item asserts it ("no fever, some cough", "a bit of joint pain").
_QUANTITY = {"some", "bit", "little", "lot", "lots", "plenty", "touch"}
_QUANTITY_OPEN = {"a", "quite", "just", "only", "still"}  # words that may come before the quantity word
_NEGATIVE_GLUE = {"or", "nor", "any", "no", "not", "never", "without"}
# Verbs of a note that affirm what follows them (rule 7): a negation before them does not reach past.
_AFFIRMING = {"reports", "reported", "reporting", "endorses", "endorsed", "endorsing", "complains",
              "complained", "complaining", "admits", "admitted", "positive", "notes", "noted", "describes",
              "described"}
_FIRST_PERSON = {"i", "me", "my", "myself", "mine", "'m", "im", "ive"}
_REPORTING = {"says", "said", "say", "thinks", "think", "thought", "noticed", "notices", "told", "tells",
              "tell", "reports", "reported", "mentioned", "mentions", "worries", "worried", "complains",
              "complained", "feels", "felt", "believes", "believe", "heard", "hears", "saw", "sees", "wants",
              "wanted"}

# -- Persian word classes (folded to match form when first used) -----------------------------------
_FA_GLUE = {"،", ",", "و", "یا", "/", "هم", "همچنین", "یه", "یک", "هیچ", "گونه", "هیچگونه", "نوع", "نه"}
_FA_SUBJECTS = {"من", "تو", "او", "اون", "ما", "شما", "آنها", "اونا", "ایشان", "ایشون"}
_FA_CLAUSE_OPENERS = {"الان", "الآن", "فعلا", "حالا"}  # "now": opens the clause after a conditional one
_FA_COMPLEMENTIZERS = {"که", "اگر", "اگه", "بگم", "بگویم", "گفت", "فکر", "انگار"}
_FA_TEMPORAL = {"وقتی", "موقعی", "زمانی", "هروقت", "تا"}
_FA_ANAPHORS = {"این", "آن", "اون", "همین", "همان", "همون", "اینو", "اونو"}
_FA_PARTICLES = {"نه", "خیر", "نخیر"}
_FA_PRIVATIVE = {"بدون", "بی"}
_FA_NEG_COPULA = {"نیست", "نیستم", "نیستند", "نیستن", "نبود", "نبوده", "نبودم", "نیستش"}
_FA_FIRST_PERSON = {"من", "خودم"}
_FA_REPORTING = {"میگه", "میگوید", "گفت", "گفته", "میگن", "میگویند"}


@lru_cache(maxsize=4)
def _words(language: str) -> dict[str, frozenset[str]]:
    """The word classes for a rules language, in match form."""
    if language != "fa":
        sets = {"glue": _GLUE, "subj": _SUBJECTS, "comp": _COMPLEMENTIZERS, "temporal": _TEMPORAL,
                "ana": _ANAPHORS, "part": _PARTICLES, "clause": _CLAUSE, "first": _FIRST_PERSON,
                "report": _REPORTING, "fill": _FILLERS, "priv": set(), "negcop": set()}
        return {k: frozenset(v) for k, v in sets.items()}
    sets = {"glue": _FA_GLUE, "subj": _FA_SUBJECTS | _FA_CLAUSE_OPENERS, "comp": _FA_COMPLEMENTIZERS,
            "temporal": _FA_TEMPORAL, "ana": _FA_ANAPHORS, "part": _FA_PARTICLES,
            "clause": _FA_SUBJECTS | {"فقط", "ولی", "اما", "بلکه", "خودش", "فعلا"}, "first": _FA_FIRST_PERSON,
            "report": _FA_REPORTING, "fill": {"خب", "خوب", "والا"}, "priv": _FA_PRIVATIVE,
            "negcop": _FA_NEG_COPULA}
    return {k: frozenset(match_form(normalize(w, "fa"), True) for w in v) for k, v in sets.items()}


def _in_finding(t: Any) -> bool:
    """The token is part of a matched finding (not of an exclusion phrase)."""
    return t.ent_iob_ in ("B", "I") and t.ent_type_ != EXCLUDE


def sentence_initial(doc: Any, start: int, fillers: frozenset[str]) -> bool:
    """Only fillers and punctuation come before token ``start`` in its sentence."""
    i = start
    while i > 0 and not doc[i].is_sent_start:
        prev = doc[i - 1]
        if not (prev.is_punct or prev.is_space or prev.lower_ in fillers):
            return False
        i -= 1
    return True


def _gap(target: Any, modifier: Any) -> tuple[bool, list[Any]]:
    """(modifier before target, the non-space tokens between them)."""
    doc = target.doc
    forward = modifier.end <= target.start
    gap = doc[modifier.end : target.start] if forward else doc[target.end : modifier.start]
    return forward, [t for t in gap if not t.is_space]


def words_between(target: Any, modifier: Any) -> int:
    """Ordinary words between a target and a modifier span (rule 1 of the module docstring)."""
    w = _words(target.doc.lang_)
    return sum(1 for t in _gap(target, modifier)[1]
               if not (_in_finding(t) or t.lower_ in w["glue"] or t.is_punct or t.lower_ in w["fill"]))


def clause_breaks(toks: list[Any], language: str, complementizers: frozenset[str] | None = None,
                  fronted: bool = True) -> list[Any]:
    """Tokens of ``toks`` (a gap) that open a new clause: a subject pronoun (or "that's" / "this is", or
    a Persian clause-opening adverb such as الان) after at least one word of the gap, unless it follows a
    complementizer ("that", "if", "say", ...), repeats the word before it ("i i i had") or is a filler
    ("you know", "i mean"). With ``fronted`` (the default), a pronoun after only punctuation is no break
    either (the cue is a fronted adverbial: "In the past, I had"); a negation is not ("Almost nothing,
    she refuses food": the negation is the answer's own)."""
    w = _words(language)
    comp = w["comp"] if complementizers is None else complementizers
    out = []
    for i in range(1, len(toks)):
        t, low, prev = toks[i], toks[i].lower_, toks[i - 1].lower_
        is_subj = low in w["subj"] or (
            low in _DEMONSTRATIVE_SUBJECTS and i + 1 < len(toks) and toks[i + 1].lower_ in _COPULA)
        if not is_subj or _in_finding(t) or prev in comp or prev == low:
            continue
        if i + 1 < len(toks) and (low, toks[i + 1].lower_) in _FILLER_PHRASES:
            continue
        if fronted and all(x.is_punct for x in toks[:i]):  # a fronted adverbial: "In the past, I had ..."
            continue
        out.append(t)
    return out


def affirmed_item(toks: list[Any]) -> bool:
    """In a negation's gap (English), a positive quantity word ("some", "a bit of", "a lot of") after an
    earlier list item, not after "or" / "nor" / "any": the item it opens is asserted, not negated ("no
    fever, some cough"; but "no fever or some cough" is read as a list)."""
    for i in range(1, len(toks)):
        if toks[i].lower_ not in _QUANTITY or _in_finding(toks[i]):
            continue
        j = i - 1
        while j >= 0 and toks[j].lower_ in _QUANTITY_OPEN:
            j -= 1
        while j >= 0 and (toks[j].is_punct or toks[j].lower_ in _FILLERS):
            j -= 1
        if j >= 0 and toks[j].lower_ not in _NEGATIVE_GLUE and any(_in_finding(t) for t in toks[: j + 1]):
            return True
    return False


def _affirming_verb(toks: list[Any]) -> bool:
    """Rule 7: an affirming verb after a finding of the gap ("denies fever, reports cough"; not "never
    complains of pain", where the negation is the verb's own)."""
    return any(t.lower_ in _AFFIRMING and any(_in_finding(x) for x in toks[:i]) for i, t in enumerate(toks))


def refers_back(target: Any, modifier: Any) -> bool:
    """A modifier after the target, in a later clause that points back with an anaphor ("I had pain last
    year and I still have it")."""
    forward, toks = _gap(target, modifier)
    if forward:
        return False
    brk = clause_breaks(toks, target.doc.lang_)
    return bool(brk) and _anaphor_after(target.doc, brk[0], modifier, _words(target.doc.lang_))


def _anaphor_after(doc: Any, brk: Any, modifier: Any, w: dict[str, frozenset[str]]) -> bool:
    """From ``brk`` to the end of its sentence (the modifier's own words aside) there is an anaphor."""
    return any(doc[i].lower_ in w["ana"] for i in range(brk.i, brk.sent.end)
               if not modifier.start <= i < modifier.end)


class Reach:
    """``on_modifies`` callback of one ConText rule: ``(target, modifier, span_between) -> bool``
    (module docstring). ``budget``: ordinary words allowed between them (None: no limit);
    ``category``: the rule's category, upper case; ``language``: the rules language ('en', 'fa', ...);
    ``subordinate``: the cue opens a subordinate clause or a fronted adverbial ("if", "when I was",
    "back when") and so also reaches into the main clause after it (one clause break allowed)."""

    def __init__(self, budget: int | None, category: str, language: str, subordinate: bool = False) -> None:
        self.budget = budget
        self.category = category
        self.language = language
        self.subordinate = subordinate
        self.w = _words(language)
        temporal = category in ("HISTORICAL", "CURRENT", "HYPOTHETICAL")
        self.comp = self.w["comp"] | (self.w["temporal"] if temporal else frozenset())

    def __call__(self, target: Any, modifier: Any, _between: Any) -> bool:
        """True when ``modifier`` (a Span) reaches ``target`` (a Span of the same Doc)."""
        doc = target.doc
        forward, toks = _gap(target, modifier)
        w = self.w
        if self.budget is not None and words_between(target, modifier) > self.budget:
            return False
        neg = self.category == "NEGATED_EXISTENCE"
        breaks = clause_breaks(toks, self.language, self.comp, fronted=not (neg and forward))
        allowed = 1 if (self.subordinate and forward) else 0
        if len(breaks) > allowed and not (not forward and _anaphor_after(doc, breaks[0], modifier, w)):
            return False
        particle = neg and forward and len(modifier) == 1 and modifier[0].lower_ in w["part"]
        if particle and sentence_initial(doc, modifier.start, w["fill"]) \
                and not self._particle_negates(doc, modifier, target, toks):
            return False
        if neg and forward and self.language != "fa" and (
                affirmed_item(toks) or _affirming_verb(toks)):
            return False
        if self.category == "FAMILY" and any(t.lower_ in w["first"] or t.lower_ in w["report"] for t in toks):
            return False
        return not (neg and w["priv"] and self._not_without(doc, target))

    def _particle_negates(self, doc: Any, modifier: Any, target: Any, toks: list[Any]) -> bool:
        """Rule 3 of the module docstring, for a sentence-initial particle."""
        w = self.w
        if self.language == "fa":  # correlative "نه X ... نه Y": another "نه" after the target
            return any(doc[i].lower_ == modifier[0].lower_ for i in range(target.end, target.sent.end))
        return not any(t.lower_ in w["clause"] and not _in_finding(t) for t in toks)

    def _not_without(self, doc: Any, target: Any) -> bool:
        """Persian ``بدون X نیست``: a privative right before the target and a negated copula right after."""
        w = self.w
        before = doc[target.start - 1].lower_ if target.start > 0 else ""
        after = next((t.lower_ for t in doc[target.end : target.end + 2] if not t.is_space), "")
        return before in w["priv"] and after in w["negcop"]
