"""Polarity of an answer: does a reply to a yes/no question say yes, no, or neither?

Read from its first words after fillers ("um", "well", "oh", "doctor", …): ``yes`` ("yes", "yeah",
"I do", "a little", "sometimes", بله, آره, دارد, …), ``no`` ("no", "nope", "not really", "I don't",
"never", نه, خیر, ندارد, …) or ``None``. A strong denial anywhere in the sentence ("none of those",
"nothing like that", هیچکدام) also reads as ``no``. The word lists are the project's own, tuned on the
development split (docs/rules-baseline.md).
"""

from __future__ import annotations

import re
from typing import Literal

_FILLERS = {
    "um",
    "uh",
    "uhm",
    "umm",
    "er",
    "erm",
    "hmm",
    "hm",
    "well",
    "oh",
    "so",
    "ah",
    "honestly",
    "actually",
    "doctor",
    "doc",
    "ma'am",
    "sir",
    "i",
    "mean",
    "like",
    "you",
    "know",
    "and",
    "but",
    "ok",
    "okay",
    "خب",
    "خوب",
    "ببینید",
    "والا",
    "والله",
    "راستش",
    "دکتر",
    "آقای",
    "خانم",
    "آقا",
}
_YES = {
    "yes",
    "yeah",
    "yep",
    "yup",
    "yea",
    "ya",
    "yah",
    "sure",
    "definitely",
    "absolutely",
    "correct",
    "right",
    "uh-huh",
    "mm-hmm",
    "mhm",
    "mm-hm",
    "mmhmm",
    "affirmative",
    "true",
    "exactly",
    "sometimes",
    "occasionally",
    "often",
    "constantly",
    "unfortunately",
    "certainly",
    "indeed",
    "yess",
    "بله",
    "بلی",
    "آره",
    "اره",
    "آری",
    "بعله",
    "آها",
    "دارد",
    "داره",
    "دارم",
    "دارن",
    "دارند",
    "هست",
    "درسته",
    "یکم",
    "کمی",
    "گاهی",
    "خیلی",
    "بلیه",
}
_YES_PHRASES = (
    "mm hmm",
    "mm hm",
    "uh huh",
    "i do",
    "i have",
    "i did",
    "it does",
    "it has",
    "it did",
    "he does",
    "she does",
    "he has",
    "she has",
    "a little",
    "a bit",
    "kind of",
    "sort of",
    "some",
    "all the time",
    "of course",
    "یه کم",
    "یک کم",
    "بله دارد",
    "گاهی وقتا",
)
_NO = {
    "no",
    "nope",
    "nah",
    "never",
    "none",
    "nothing",
    "negative",
    "not",
    "neither",
    "nor",
    "nay",
    "nada",
    "نه",
    "خیر",
    "نخیر",
    "ندارد",
    "نداره",
    "ندارم",
    "ندارن",
    "ندارند",
    "نیست",
    "اصلا",
    "هیچ",
    "هیچی",
    "نمیکند",
    "نمیکنه",
    "نشده",
    "نکرده",
}
_NO_PHRASES = (
    "i don't",
    "i do n't",
    "i dont",
    "i do not",
    "i haven't",
    "i have n't",
    "i have not",
    "i didn't",
    "i did n't",
    "i did not",
    "i'm not",
    "i am not",
    "it doesn't",
    "it does n't",
    "it does not",
    "he doesn't",
    "she doesn't",
    "he does n't",
    "she does n't",
    "not really",
    "not at all",
    "i wouldn't say",
    "i would n't say",
    "i can't say",
    "i ca n't say",
    "نمی کند",
    "نمی کنه",
    "نمی کنم",
    "نه خیر",
)
_WORDS = re.compile(r"[\w'’\-]+|[^\w\s]")


_STRONG_NO = re.compile(
    r"\b(?:none of (?:those|these|that|them)|nothing like that|no to all|not that i(?:'ve| have) noticed)\b"
    r"|(?:^|\s)(?:هیچکدام|هیچ کدام)(?:\s|$)",
    re.IGNORECASE,
)


#: Values of a checklist item ("Constipation: Yes", "Fever: -") and the polarity each stands for.
CHECKLIST_VALUES: dict[str, Literal["yes", "no"]] = {
    "yes": "yes", "y": "yes", "positive": "yes", "pos": "yes", "present": "yes", "endorses": "yes",
    "endorsed": "yes", "reports": "yes", "true": "yes", "+": "yes", "✓": "yes", "✔": "yes",
    "no": "no", "n": "no", "negative": "no", "neg": "no", "absent": "no", "denies": "no", "denied": "no",
    "none": "no", "nil": "no", "false": "no", "-": "no", "✗": "no", "✘": "no",
}  # fmt: skip


def answer_polarity(sentence: str) -> Literal["yes", "no"] | None:
    """'yes' / 'no' from the first words of an answer (or a whole checklist value, ``CHECKLIST_VALUES``);
    None when it is neither."""
    value = CHECKLIST_VALUES.get(sentence.strip().rstrip(".").strip().lower())
    if value is not None:
        return value
    first = _first_polarity(sentence)
    if first != "no" and _STRONG_NO.search(sentence.replace("\u200c", " ")):
        return "no"
    return first


def _first_polarity(sentence: str) -> Literal["yes", "no"] | None:
    words = [w.lower().replace("’", "'") for w in _WORDS.findall(sentence.replace("\u200c", " "))]
    words = [w for w in words if re.match(r"[\w']", w)]
    if words[:2] == ["uh", "huh"]:
        return "yes"
    i = 0
    while i < len(words) and words[i] in _FILLERS and i < 4:
        # "i" is only a filler in "i mean"; keep it for "i do" / "i don't".
        if words[i] == "i" and not (i + 1 < len(words) and words[i + 1] == "mean"):
            break
        if words[i] == "you" and not (i + 1 < len(words) and words[i + 1] == "know"):
            break
        i += 1
    if i >= len(words):
        return None
    head = " ".join(words[i : i + 4])
    for p in _NO_PHRASES:
        if head == p or head.startswith(p + " "):
            return "no"
    if words[i] in _NO:
        return "no"
    for p in _YES_PHRASES:
        if head == p or head.startswith(p + " "):
            return "yes"
    if words[i] in _YES:
        return "yes"
    return None
