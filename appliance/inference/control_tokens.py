"""Document text never becomes control tokens (issue #13, item 4).

onnxruntime-genai's tokenizer (like Hugging Face's) turns the *string* of an added token anywhere in
its input into that token's id: a transcript that contains ``<|im_end|>`` or ``<start_of_turn>`` would
end the user turn for the model, or open an assistant turn, as if the chat template had written it.
Only the chat template may write control tokens; text inside a message is text.

``ControlTokens`` holds the strings a bundle's tokenizer would read as control tokens and rewrites any
text so that none of them occurs in it: a WORD JOINER (U+2060, invisible, no width) goes after the
first character of every occurrence (``<|im_end|>`` → ``<⁠|im_end|>``). The model then reads the
same characters as ordinary text tokens (``<``, the joiner, ``|im_end|>``), never the control id.
The seq2seq translators (Marian, NLLB: ``appliance.translate.seq2seq``) apply the same rewrite before their
``tokenizers`` tokenizer reads a document (``</s>``, ``eng_Latn`` are special tokens there).
Pure string work: no onnxruntime import here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

#: What breaks a control-token string: U+2060 WORD JOINER (Unicode category Cf, zero width).
BREAK = "\u2060"
# Added tokens shaped like markup are control tokens even when a tokenizer does not flag them special
# (Gemma's <start_of_turn> was not flagged in early releases): <...>, [...], <|...|>, without spaces.
_MARKUP = re.compile(r"<[^\s<>]+>|\[[^\s\[\]]+\]|<\|\S*\|>")


def bundle_control_strings(bundle_dir: Path, extra: Iterable[str | None] = ()) -> frozenset[str]:
    """The strings a bundle's tokenizer reads as control tokens: the added tokens of ``tokenizer.json``
    (``added_tokens``) and ``tokenizer_config.json`` (``added_tokens_decoder``) that are flagged
    ``special`` or shaped like markup (``<...>``, ``[...]``, ``<|...|>``), plus ``extra`` (the manifest's
    BOS, EOS and pad tokens). Strings shorter than two characters are left out (nothing to break).
    Missing or unreadable files contribute nothing."""
    found: set[str] = {s for s in extra if s}
    entries: list[dict] = []
    for name, key in (("tokenizer.json", "added_tokens"), ("tokenizer_config.json", "added_tokens_decoder")):
        try:
            data = json.loads((Path(bundle_dir) / name).read_text(encoding="utf-8")).get(key) or []
        except (OSError, ValueError, AttributeError):
            continue
        entries += list(data.values()) if isinstance(data, dict) else list(data)
    added = [(e["content"], bool(e.get("special"))) for e in entries
             if isinstance(e, dict) and isinstance(e.get("content"), str)]
    return control_strings(added) | frozenset(s for s in found if len(s) >= 2 and s.strip() == s)


def control_strings(added: Iterable[tuple[str, bool]]) -> frozenset[str]:
    """Of a tokenizer's added tokens ``(content, special)``, the strings it reads as control tokens: those
    flagged special or shaped like markup (``<...>``, ``[...]``, ``<|...|>``), at least two characters,
    without surrounding white space. (A seq2seq translator's ``tokenizers.Tokenizer`` gives them with
    ``get_added_tokens_decoder``.)"""
    return frozenset(c for c, special in added
                     if (special or _MARKUP.fullmatch(c)) and len(c) >= 2 and c.strip() == c)


class ControlTokens:
    """A set of control-token strings, and ``plain(text)``: ``text`` with none of them left in it.

    Cost: one scan of the text for the strings' first characters, then a set lookup per distinct string
    length at each hit (tokenizers with thousands of added tokens, e.g. Gemma 3's, stay linear).
    """

    def __init__(self, strings: Iterable[str]) -> None:
        self.strings = frozenset(s for s in strings if len(s) >= 2)
        by_first: dict[str, dict[int, set[str]]] = {}
        for s in self.strings:
            by_first.setdefault(s[0], {}).setdefault(len(s), set()).add(s)
        # first character → [(length, strings of that length)], longest first
        self._by_first = {c: sorted(v.items(), reverse=True) for c, v in by_first.items()}
        firsts = "".join(re.escape(c) for c in sorted(by_first))
        self._first = re.compile(f"[{firsts}]") if firsts else None

    def plain(self, text: str) -> str:
        """``text`` with ``BREAK`` after the first character of every occurrence of a control-token
        string, so the tokenizer reads ordinary characters. Text without one is returned unchanged.
        Every position is checked once, left to right: an occurrence inside the rest of a broken one is
        broken too, and a joiner can never complete a string (none contains it)."""
        if self._first is None:
            return text
        out: list[str] = []
        last = 0
        m = self._first.search(text)
        while m is not None:
            i = m.start()
            if any(text[i : i + n] in group for n, group in self._by_first[text[i]]):
                out.append(text[last : i + 1])
                out.append(BREAK)
                last = i + 1
            m = self._first.search(text, i + 1)
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)
