"""Sentences of a turn, with punctuation or without it: the documented splitter the rules use for every
language (see docs/rules-baseline.md for why not PyRuSH or pysbd).

Punctuated text
  A sentence ends at ``. ! ? ؟ …`` followed by whitespace (closing quotes/brackets allowed in between),
  except after a known abbreviation (``Dr.``, ``Mr.``, ``e.g.``, ``vs.``, …; ``No.`` only before a
  number: "Nausea: no. Constipation: yes." is two sentences) or a single letter
  written without a space (``J. Smith``); at a turn boundary; and at a line break unless the next
  line continues the sentence (the line before has no terminal punctuation and the next one starts
  with a lower-case Latin letter). Persian has no case, so a Persian line break is always a boundary.
  A run without terminal punctuation is cut once more where a question cue starts ("okay i see that
  how is the pain" -> statement | question).

Unpunctuated speech (``is_unpunctuated``: fewer than one terminal mark per ``UNPUNCTUATED_WORDS``
words in the document: engines without a punctuation model, lower-cased ASR text)
  Latin-script runs are cut at word cues, since punctuation and case carry nothing:

  * a question starts at an inverted auxiliary ("do you", "are you", "is it", "have you"), a
    wh-word with an auxiliary or "about" ("how is", "what about"), or a free "any" / "anything" (not
    after a word that governs it: "have any", "not any", "or any", "denies any");
  * a reply starts at a yes word ("yeah", "yes", "mm hmm") anywhere, and at "no" inside a question or
    where it is not a determiner (followed by a pronoun, "no", a filler, "okay" or nothing); inside a
    question also at "not really" or a first-person clause ("i haven't", "my stomach"): such a
    sentence is marked ``reply`` (another speaker, probably, even on the same line);
  * outside questions, a clause starts at a first-person subject after a word that does not govern
    it ("any fever | my stomach hurts", but "and i threw up", "think i") or after a closed short
    answer ("no not really | i just feel tired", "nothing like that | i ..."), and at "okay" /
    "alright" used as a turn-taking mark (not "i'm okay");

  Fillers (``speech.FILLERS``) and a word said twice in a row are skipped when reading the words around
  a cue. The word lists are
  the project's own, tuned on the development split's rewrites (bench/asr_rules.py).

Questions (``is_question``)
  A sentence is a question when it ends with ``?`` or ``؟``; when it starts with Persian ``آیا``;
  when it ends with "or not" / ``یا نه`` / ``یا خیر``; or, if it has no terminal punctuation at all,
  when it opens like an English question ("do you", "any", "have you", …).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .speech import FILLERS


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` as a set (word lists written as one string)."""
    return frozenset(text.split())


#: A document with fewer terminal marks than one per this many words is read as unpunctuated speech.
UNPUNCTUATED_WORDS = 40


class Piece(NamedTuple):
    """One sentence of a region: offsets into the text; ``reply`` when it opens with a reply cue."""

    start: int
    end: int
    reply: bool = False


_ABBREV = _words(
    """dr mr mrs ms st vs etc e.g i.e eg ie approx fig jr sr prof inc no nos dept wk wks min hr hrs mg
    ml cc pt pts mt ft oz lb lbs sgt capt gen rev hon ca cf al"""
)
# "no." / "nos." abbreviate "number(s)" only before one ("No. 5"); elsewhere "no." is the word "no"
_NUMBER_ABBREV = frozenset({"no", "nos"})
_NUMBER_AFTER = re.compile(r"\s*[#\d]")
_END = re.compile(r"[.!?؟…]+[\"'”’»)\]]*(?=\s)")
_Q_END = re.compile(r"[?؟][\"'”’»)\]]*\s*$")
_TERMINAL = re.compile(r"[.!?؟…][\"'”’»)\]]*\s*$")
_TERMINAL_ANY = re.compile(r"[.!?؟…](?=\s|$)")
_Q_OPENERS = re.compile(
    r"^(?:(?:and|so|um|uh|okay|ok|now|also|well|yeah|alright|right|hmm|oh|but|then|and then|all right|sure)\s*,?\s+)*"
    r"(?:do|does|did|are|is|was|were|have|has|had|any|anything|can|could|would|will|how|what|when|where|"
    r"which|who|why|ever)\b",
    re.IGNORECASE,
)
# Where a question starts inside an unpunctuated run ("okay i see that how is the pain are you ...").
_Q_CUE = re.compile(
    r"\b(?:(?:how|what|when|where|which|why)\s+(?:about|is|are|was|were|do|does|did|have|has|can|could|would|will)\b"
    r"|(?<!\bthat )(?<!\bthis )(?<!\bwhat )(?:do|does|did|are|is|was|were|have|has|can|could|will|would)\s+"
    r"(?:you|it|they|he|she|there|your|we|that|this)\b"
    r"|any\s+other\b|anything\s+else\b)",
    re.IGNORECASE,
)
_Q_ANY = re.compile(r"\b(?:symptoms?|like|about|also|okay|ok|alright|now|so|sure)\s+(any)\b", re.IGNORECASE)
_Q_TAIL = re.compile(r"(?:\bor\s+not|یا\s+نه|یا\s+خیر)\s*[.!]?\s*$", re.IGNORECASE)
_LATIN_LOWER = re.compile(r"[a-z]")
_WORD_BEFORE = re.compile(r"([\w./]+)$")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*|'[^\W_]+")
_LATIN = re.compile(r"[A-Za-z]")

# -- word cues of unpunctuated speech (lower case) --------------------------------------------------
_AUX = _words("do does did are is was were have has had can could will would")
_PRON = _words("you it they he she there your we that this")
_WH = _words("how what when where which why")
_WH_NEXT = _words("about is are was were do does did have has can could would will s 's")
# before an inverted auxiliary, these make it a plain clause ("that is it", "what do you"), not a question
_Q_BLOCK = _AUX | _words(
    """that this what which who whom whose where when how why if whether it i you he she we they there
    it's that's what's there's s"""
)
# before a wh-word, these make it an embedded clause ("i don't know what is wrong")
_WH_BLOCK = _words(
    """know knew sure idea see saw tell told ask asked wonder wondering understand explain remember
    matter about of on is that care show decide figure no mean exactly out"""
)
# a word after which a subject pronoun, "any" or "okay" continues the clause instead of starting one
_GOVERN = _words(
    """and or but that if when whenever because cause so since until till before after as than while
    though although once unless whether where what how why who whom which like think thought know
    knew guess mean means meant feel feels felt say says said tell told ask asked hope wish believe
    remember heard hear see saw notice noticed sure afraid worried let let's make made help want
    wanted need needed get got have has had having do does did don't doesn't didn't n't is are was
    were am be being i'm it's that's there's can could would should will shall might may must to of
    for with without about in on at by from into onto over under through not no never also just only
    even really any the a an this these those your his her their our its my every some
    denies deny denied denying reports report reported endorses endorse endorsed"""
)
_SUBJECT = _words(
    """i i'm i've i'd i'll im ive my we we're we've we'll we'd she she's he he's they they're they've"""
)
_YES_WORDS = _words("yes yeah yep yup yea mhm mm-hmm mm-hm uh-huh mmhmm")
_NO_WORDS = frozenset({"no", "nope", "nah"})
_TWO_WORD_YES = {
    ("mm", "hmm"): "mm-hmm",
    ("mm", "hm"): "mm-hmm",
    ("uh", "huh"): "uh-huh",
    ("mhm", "mhm"): "mhm",
}
_NO_FOLLOW = FILLERS | _words(
    """i i'm i've it it's nothing nowhere not none never no nope okay ok that that's any so we she he
    they thanks thank sir ma'am doctor alright all just but actually really haven't don't didn't not
    well yeah yes"""
)
_REPLY_BLOCK = _words(
    """or and say says said saying the a have has had is are was were there there's s of any yes no"""
)
# after these, "any" starts a question ("and any fever", "sure any problems sleeping")
_ANY_AFTER = _words("no yes and so also now just sure okay alright well yeah good great right")
# a subordinate clause still waiting for its subject: "if anywhere i press" is one clause
_SUBORDINATE = _words("if when whenever because since until before after unless whether where")
# a question's own first words: "and | any cough" is cut as "| and any cough"
_LEAD_IN = _words("and so okay ok now also alright then but")
_NOT_NEXT = _words("really much anymore")
# a short answer that is closed: a subject after it starts a clause of its own ("no not really | i just
# feel tired", "nothing like that | i do get tired"), though "really" and "that" govern one elsewhere
_CLOSED_ANSWERS = frozenset({("not", "really"), ("nothing", "like", "that"), ("not", "like", "that")})
_OKAY = frozenset({"okay", "ok", "alright"})
_OKAY_BLOCK = _GOVERN | _words(
    """doing feeling feel looks look seems seem sounds sound pretty fine be it that you're we're i'm s
    's all are you we they he she"""
)


def is_question(text: str) -> bool:
    """True when ``text`` (one sentence) is a question by the rules in the module docstring."""
    t = text.strip()
    if not t:
        return False
    if _Q_END.search(t) or t.startswith("آیا") or _Q_TAIL.search(t):
        return True
    return bool(not _TERMINAL.search(t) and _Q_OPENERS.match(t))


def is_unpunctuated(text: str) -> bool:
    """True when ``text`` has fewer terminal marks (``. ! ? ؟ …`` before a space or the end) than one per
    ``UNPUNCTUATED_WORDS`` words: speech-recognition output without a punctuation model."""
    words = len(text.split())
    return words > 0 and len(_TERMINAL_ANY.findall(text)) * UNPUNCTUATED_WORDS < words


def split_region(text: str, start: int, end: int, unpunctuated: bool = False) -> list[Piece]:
    """Sentences inside ``text[start:end]`` (module docstring); whitespace trimmed, empties dropped."""
    pieces: list[Piece] = []
    region = text[start:end]
    for ls, le in _lines(region):
        seg = region[ls:le]
        cur = 0
        for m in _END.finditer(seg):
            if m.group().startswith(".") and len(m.group()) == 1:
                w = _WORD_BEFORE.search(seg[max(0, m.start() - 40) : m.start()])
                if w:
                    word = w.group(1).lower().rstrip(".")
                    if word in _NUMBER_ABBREV and not _NUMBER_AFTER.match(seg, m.end()):
                        pass  # "Nausea: no. Constipation: yes." - "no." abbreviates only before a number
                    elif word in _ABBREV or (len(word) == 1 and word.isalpha()):
                        continue
            pieces.append(Piece(ls + cur, ls + m.end()))
            cur = m.end()
        pieces.append(Piece(ls + cur, le))
    split: list[Piece] = []
    for p in pieces:
        seg = region[p.start : p.end]
        if _TERMINAL.search(seg):
            split.append(p)
        elif unpunctuated and _LATIN.search(seg):
            split += _speech_cuts(seg, p.start)
        else:
            split += _question_cut(seg, p.start)
    out: list[Piece] = []
    for s, e, reply in split:
        seg = region[s:e]
        lead = len(seg) - len(seg.lstrip())
        trail = len(seg) - len(seg.rstrip())
        if e - trail > s + lead:
            out.append(Piece(start + s + lead, start + e - trail, reply))
    return out


def _lines(region: str) -> list[tuple[int, int]]:
    """Line (start, end) pairs of a region, a wrapped line merged into the one before it."""
    lines: list[tuple[int, int]] = []
    pos = 0
    for m in re.finditer(r"\n", region):
        lines.append((pos, m.start()))
        pos = m.end()
    lines.append((pos, len(region)))
    merged: list[list[int]] = []
    for ls, le in lines:
        seg = region[ls:le]
        if not seg.strip():
            if merged:
                merged[-1].append(-1)  # blank line: hard boundary marker
            continue
        if merged and merged[-1][-1] != -1 and continues(region[merged[-1][0] : merged[-1][1]], seg):
            merged[-1][1] = le  # continuation of a wrapped line
            continue
        merged.append([ls, le])
    return [(m[0], m[1]) for m in merged]


def continues(line: str, nxt: str) -> bool:
    """True when line ``nxt`` continues ``line`` (a wrapped line): ``line`` has no terminal mark and
    ``nxt`` starts with a lower-case Latin letter."""
    first = nxt.lstrip()[:1]
    return bool(first) and not _TERMINAL.search(line) and _LATIN_LOWER.match(first) is not None


def _question_cut(seg: str, base: int) -> list[Piece]:
    """A punctuated document's run without terminal punctuation: cut once, where a question starts."""
    if not _Q_OPENERS.match(seg.strip()):
        cut = [m.start() for m in (_Q_CUE.search(seg),) if m]
        cut += [m.start(1) for m in (_Q_ANY.search(seg),) if m]
        cut = [c for c in cut if seg[:c].strip()]
        if cut:
            c = min(cut)
            return [Piece(base, base + c), Piece(base + c, base + len(seg))]
    return [Piece(base, base + len(seg))]


def _speech_cuts(seg: str, base: int) -> list[Piece]:
    """Unpunctuated speech: cut at the word cues of the module docstring."""
    words: list[tuple[int, str]] = []
    for m in _WORD.finditer(seg):
        w = m.group().lower().replace("’", "'")
        if words and (words[-1][1], w) in _TWO_WORD_YES:
            words[-1] = (words[-1][0], _TWO_WORD_YES[(words[-1][1], w)])
            continue
        words.append((m.start(), w))
    content: list[int] = []
    for i, (_, w) in enumerate(words):
        if w not in FILLERS and not (content and words[content[-1]][1] == w):
            content.append(i)  # fillers and a word said twice ("have have you") are not read
    cuts: list[tuple[int, bool]] = []  # (word index, reply)
    in_question = bool(_Q_OPENERS.match(seg.strip()))
    last_cut = since = 0
    for n, i in enumerate(content):
        if n == 0:
            continue
        w = words[i][1]
        if w not in _CUE_WORDS:
            continue
        before = [words[k][1] for k in content[max(since, n - 3) : n]]  # this sentence's last words
        after = [words[k][1] for k in content[n + 1 : n + 4]]
        kind = _cue(w, before, after, in_question)
        if kind is None or i == last_cut:
            continue
        lone = words[content[since]][1]
        if n - since < 2 and not (kind == "reply" and (w in _YES_WORDS or w in _NO_WORDS)) and not (
            kind == "question" and (lone in _YES_WORDS or lone in _NO_WORDS)
        ):
            continue  # "okay | i see", "yeah | i do" would leave a one-word sentence ("no | do you" may)
        if kind == "question":  # "and | any cough" -> "| and any cough"
            while n - 1 >= since and words[content[n - 1]][1] in _LEAD_IN:
                n -= 1
            if n == since:  # only lead-in words before it: the sentence is the question
                in_question = True
                continue
            i = content[n]
        cuts.append((i, kind == "reply"))
        last_cut, since = i, n
        in_question = kind == "question"
    out: list[Piece] = []
    pos, reply = 0, False
    for i, r in cuts:
        at = words[i][0]
        out.append(Piece(base + pos, base + at, reply))
        pos, reply = at, r
    out.append(Piece(base + pos, base + len(seg), reply))
    return out


# every word ``_cue`` can return a cut for (a quick test before reading its neighbours)
_CUE_WORDS = _YES_WORDS | _NO_WORDS | _SUBJECT | _AUX | _WH | _OKAY | _words("not it there any anything you")


def _cue(w: str, before: list[str], after: list[str], in_question: bool) -> str | None:
    """'question', 'reply', 'clause' or None: what starts at word ``w``, after the words ``before`` it in
    its sentence (at most three) and before the words ``after`` it (at most three)."""
    prev = before[-1] if before else ""
    nxt = after[0] if after else None
    if w in _YES_WORDS:
        return "reply" if prev not in _REPLY_BLOCK else None
    if w in _NO_WORDS:
        if prev not in _REPLY_BLOCK and (in_question or nxt is None or nxt in _NO_FOLLOW):
            return "reply"
        return None
    if in_question and w == "not" and nxt in _NOT_NEXT and prev not in _GOVERN:
        return "reply"
    if w in _SUBJECT and (
        (prev not in _GOVERN and not _SUBORDINATE.intersection(before[-2:]))
        or tuple(before[-2:]) in _CLOSED_ANSWERS or tuple(before[-3:]) in _CLOSED_ANSWERS
    ):
        return "reply" if in_question else "clause"
    if in_question and w in ("it", "there") and len(before) >= 3 and prev not in _GOVERN and prev not in _PRON:
        return "reply"  # "does it hurt | it throbs", "any drainage | there has been some"
    if w in _AUX and nxt in _PRON and prev not in _Q_BLOCK:
        return "question"
    if w in _WH and nxt in _WH_NEXT and prev not in _WH_BLOCK:
        return "question"
    if w in ("any", "anything") and nxt is not None and (prev not in _GOVERN or prev in _ANY_AFTER):
        return "question"
    if w == "you" and "any" in after and prev not in _Q_BLOCK and prev not in _WH_BLOCK:
        return "question"  # "so you have had any fever"
    if w in _OKAY and prev not in _OKAY_BLOCK:
        return "clause"
    return None
