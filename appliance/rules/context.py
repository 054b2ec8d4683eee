"""The ConText rules of a language, as medspaCy ``ConTextRule`` objects ready for the pipeline.

Rules come from ``context/<language>.json`` (none for a language without a file). Each entry is a
medspaCy rule (``literal``, ``category``, ``direction``, optional ``pattern``, ``terminated_by``,
``metadata``). Two things differ from a plain ``ConTextRule(**entry)``, both so that ConText's own scope
machinery can do the work:

* ``max_scope`` in the file is the rule's **word budget**, not a token window: the medspaCy scope is the
  rest of the sentence (in the rule's direction, cut by TERMINATE cues and same-category cues, as
  medspaCy does), and ``scope.Reach`` (the rule's ``on_modifies`` callback) counts only ordinary words
  between the cue and a target: other findings, list glue and determiners are free, so a cue covers a
  whole list. Without ``max_scope`` the budget is unlimited.
* ``"metadata": {"subordinate": true}`` marks a cue that opens a subordinate clause or a fronted
  adverbial ("if", "when I was", "back when"): it also reaches into the main clause that follows.
* Persian literals and patterns are normalised and folded the way the text is (``appliance.normalize``,
  ``lexicon.match_form``: ZWNJ read as a space).

Categories (upper case) and what ``assertion`` makes of them: NEGATED_EXISTENCE, NEGATION_FRAME (a
negation that cancels another in its clause: "can't say I'm not tired"), HISTORICAL / CURRENT,
HYPOTHETICAL, POSSIBLE_EXISTENCE (uncertain), FAMILY (another person), EXAM; PSEUDO (a longer phrase that
keeps a cue inside it from firing: "not only", "never not") and TERMINATE ("but", "which").
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from ..normalize import normalize
from .lexicon import match_form
from .scope import Reach


def rule_entries(language: str) -> list[dict[str, Any]]:
    """The raw rule entries of ``context/<language>.json``; [] for a language without a file."""
    ref = resources.files(__package__).joinpath("context", f"{language}.json")
    if not ref.is_file():
        return []
    return json.loads(ref.read_text(encoding="utf-8"))["context_rules"]


@lru_cache(maxsize=8)
def relative_nouns(language: str) -> frozenset[str]:
    """The nouns of the FAMILY rules of ``context/<language>.json`` written as a possessive followed by a
    noun ("my mother / his sister": the second token's list), lower case; empty for a language without
    such a rule (Persian: a relative noun alone marks no other person, see that file's comment)."""
    out: set[str] = set()
    for r in rule_entries(language):
        pat = r.get("pattern") or []
        if (
            r["category"].upper() == "FAMILY"
            and len(pat) == 2
            and "my" in pat[0].get("LOWER", {}).get("IN", [])
        ):
            out.update(w.lower() for w in pat[1].get("LOWER", {}).get("IN", []))
    return frozenset(out)


def _fold(pattern: Any, language: str) -> Any:
    if isinstance(pattern, dict):
        return {k: _fold(v, language) for k, v in pattern.items()}
    if isinstance(pattern, list):
        return [_fold(v, language) for v in pattern]
    if isinstance(pattern, str):
        return match_form(normalize(pattern, language), True)
    return pattern


def context_rules(language: str, persian: bool, rule_class: Any) -> list[Any]:
    """``rule_class`` (medspaCy's ``ConTextRule``) objects for ``language``, each with a ``scope.Reach``
    callback holding its word budget; ``persian``: fold literals and patterns as Persian text is."""
    out = []
    for entry in rule_entries(language):
        r = dict(entry)
        if persian:
            r["literal"] = _fold(r["literal"], language)
            if r.get("pattern") is not None:
                r["pattern"] = _fold(r["pattern"], language)
        if r.get("terminated_by"):
            r["terminated_by"] = {c.upper() for c in r["terminated_by"]}
        budget = r.pop("max_scope", None)
        if r.get("direction", "").upper() not in ("TERMINATE", "PSEUDO"):
            subordinate = bool((r.get("metadata") or {}).get("subordinate"))
            r["on_modifies"] = Reach(budget, r["category"].upper(), language, subordinate)
        out.append(rule_class(**r))
    return out
