"""Which words mean which feature: lexicon resolution and term syntax.

Resolution, per feature and language (first hit wins):

1. the task file's own ``Feature.lexicon[language]`` (so a clinic's task file is used as written);
2. the built-in lexicon ``appliance/rules/lexicons/<task name>.<language>.json`` for that feature key;
3. any other built-in lexicon of the same language that has the same feature key (``pain``, ``fever``
   mean the same thing in every task);
4. terms derived from the feature's label in that language (split at ``,`` ``/`` ``;`` "and", "or",
   ``و``, ``یا``), e.g. "Shortness of breath, oxygen-saturation drop" -> two terms.

Term syntax (one string per term; matching is case-insensitive, token by token):

``shortness of breath``  a phrase.
``hurt*``                a ``*`` at the end of a word matches any word starting so (hurts, hurting).
``trouble _ breathing``  a ``_`` word matches zero or one word of any kind.
``!hay fever``           an exclusion: where it matches, the overlapping shorter term does not count.

Persian terms are normalised like the text (``appliance.normalize``), written with or without ZWNJ
(``بی‌خوابی``, ``بی خوابی`` and ``بیخوابی`` are all matched), and their last word also matches with
the common attached suffixes (plural ``ها``, indefinite ``ی``, possessive ``م ت ش مان تان شان``, …), so
``درد`` matches ``دردش`` and ``دردهایم``. Between the words of a Persian term one intensifying or
additive particle may stand (``PERSIAN_PARTICLES``: هم، اصلا، زیاد، خیلی، ...), so ``اشتها ندار*`` also
matches «اشتها هم ندارم» and «اشتها اصلا ندارم» (Persian puts these particles before the verb).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from ..normalize import ZWNJ, is_persian, normalize

if TYPE_CHECKING:
    from ..tasks import Feature, Task

EXCLUDE = "_EXCLUDE"

PERSIAN_SUFFIXES = (
    "ها", "های", "هایی", "ی", "ای", "یی", "م", "ت", "ش", "مان", "تان", "شان", "مون", "تون", "شون",
    "ام", "ات", "اش", "یم", "یت", "یش", "یمان", "یتان", "یشان", "هایم", "هایت", "هایش", "هام", "هات",
    "هاش", "هامون", "هاتون", "هاشون", "هایمان", "هایتان", "هایشان",
)  # fmt: skip


# Particles that may stand between the words of a Persian term ("also", "at all", "much", "very", "any
# more", "that much"): this project's own list, from Persian grammar.
PERSIAN_PARTICLES = ("هم", "اصلا", "اصلاً", "زیاد", "خیلی", "دیگه", "دیگر", "چندان", "هیچ", "واقعا", "واقعاً")


@dataclass(frozen=True)
class Term:
    """One lexicon term of a feature (or an exclusion), with where it came from."""

    feature: str  # feature key, or EXCLUDE
    text: str  # the term as written (for provenance)
    source: str  # 'task', 'builtin', 'builtin:<task>', 'label'


def match_form(text: str, persian: bool) -> str:
    """Length-preserving folding used for matching only: ZWNJ and hyphens between words -> space."""
    if persian:
        text = text.replace(ZWNJ, " ")
    return re.sub(r"(?<=\w)[-‐‑](?=\w)", " ", text)


@lru_cache(maxsize=32)
def builtin_lexicon(task_name: str, language: str) -> dict[str, tuple[str, ...]]:
    """The built-in lexicon file for a task and language ({} if there is none)."""
    name = f"{task_name}.{language}.json"
    try:
        ref = resources.files(__package__).joinpath("lexicons", name)
        if not ref.is_file():
            return {}
        raw = json.loads(ref.read_text(encoding="utf-8"))
    except (FileNotFoundError, ModuleNotFoundError):
        return {}
    return {k: tuple(v) for k, v in raw.items() if not k.startswith("_") and isinstance(v, list)}


def builtin_tasks_with_lexicons() -> list[str]:
    """Names of the tasks that have built-in lexicon files (``lexicons/<task>.<language>.json``), sorted."""
    names = set()
    for ref in resources.files(__package__).joinpath("lexicons").iterdir():
        if ref.name.endswith(".json") and ref.name.count(".") == 2:
            names.add(ref.name.split(".")[0])
    return sorted(names)


def label_terms(label: str) -> list[str]:
    """Terms derived from a feature label: the whole label, then its parts split at ``, / ; ( )``, "and",
    "or", ``و``, ``یا`` (parts of three characters or more), lower case, without duplicates."""
    parts = re.split(r"\s*(?:[,/;()،؛]|\band\b|\bor\b|(?<!\S)و(?!\S)|(?<!\S)یا(?!\S))\s*", label.strip())
    out = [label.strip().lower()]
    out += [p.strip().lower() for p in parts if p and len(p.strip()) > 2]
    return list(dict.fromkeys(out))


def feature_terms(task: Task, feature: Feature, language: str) -> list[Term]:
    """The terms for one feature in one language (see the module docstring for the order)."""
    own = feature.lexicon.get(language)
    if own:
        return [_term(feature.key, t, "task") for t in own]
    builtin = builtin_lexicon(task.name, language).get(feature.key)
    if builtin:
        return [_term(feature.key, t, "builtin") for t in builtin]
    for other in builtin_tasks_with_lexicons():
        if other == task.name:
            continue
        terms = builtin_lexicon(other, language).get(feature.key)
        if terms:
            return [_term(feature.key, t, f"builtin:{other}") for t in terms]
    label = feature.labels.get(language) or feature.labels["en"]
    return [_term(feature.key, t, "label") for t in label_terms(label)]


def _term(key: str, text: str, source: str) -> Term:
    if text.startswith("!"):
        return Term(EXCLUDE, text[1:].strip(), source)
    return Term(key, text.strip(), source)


def build_rules(terms: list[Term], language: str, tokenizer, TargetRule) -> list:
    """medspaCy TargetRules for ``terms``: phrase rules where possible, token patterns otherwise."""
    persian = is_persian(language)
    rules = []
    seen: set[tuple[str, str]] = set()
    for term in terms:
        base = normalize(term.text, language)
        variants = [base]
        if persian and ZWNJ in base:
            variants.append(base.replace(ZWNJ, ""))  # the joined spelling
        for v in variants:
            words = match_form(v, persian).lower().split()
            # Where a particle may stand: before a word the term separates by a space (not a ZWNJ or hyphen).
            slots = _particle_slots(v) if persian else set()
            if not words:
                continue
            fancy = any(w.endswith("*") and len(w) > 1 for w in words) or "_" in words or bool(slots)
            if not fancy:
                forms = [" ".join(words)]
                if persian:
                    forms += [" ".join(words[:-1] + [words[-1] + s]) for s in PERSIAN_SUFFIXES]
                for f in forms:
                    if (term.feature, f) not in seen:
                        seen.add((term.feature, f))
                        rules.append(TargetRule(literal=f, category=term.feature))
                continue
            pattern = []
            for i, w in enumerate(words):
                last = i == len(words) - 1
                if i in slots and w != "_" and words[i - 1] != "_":
                    pattern.append({"LOWER": {"IN": list(_persian_particles())}, "OP": "?"})
                if w == "_":
                    pattern.append({"OP": "?", "IS_SPACE": False})
                elif w.endswith("*") and len(w) > 1:
                    for sub in _subtokens(tokenizer, w[:-1])[:-1]:
                        pattern.append({"LOWER": sub})
                    stem = _subtokens(tokenizer, w[:-1])[-1]
                    pattern.append({"LOWER": {"REGEX": "^" + re.escape(stem)}})
                else:
                    subs = _subtokens(tokenizer, w)
                    for j, sub in enumerate(subs):
                        if persian and last and j == len(subs) - 1:
                            pattern.append({"LOWER": {"IN": [sub] + [sub + s for s in PERSIAN_SUFFIXES]}})
                        else:
                            pattern.append({"LOWER": sub})
            key = (term.feature, json.dumps(pattern, ensure_ascii=False))
            if key not in seen:
                seen.add(key)
                rules.append(TargetRule(literal=v, category=term.feature, pattern=pattern))
    return rules


def _particle_slots(term: str) -> set[int]:
    """Indices (into the term's match-form words) of the words a space, not a ZWNJ or hyphen, separates
    from the word before: where ``PERSIAN_PARTICLES`` may stand."""
    out, n = set(), 0
    for part in term.split():
        if n:
            out.add(n)
        n += len(match_form(part, True).split())
    return out


@lru_cache(maxsize=1)
def _persian_particles() -> tuple[str, ...]:
    """``PERSIAN_PARTICLES`` normalised and folded like the text."""
    return tuple(dict.fromkeys(match_form(normalize(w, "fa"), True).lower() for w in PERSIAN_PARTICLES))


def _subtokens(tokenizer, word: str) -> list[str]:
    toks = [t.lower_ for t in tokenizer(word)]
    return toks or [word]
