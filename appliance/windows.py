"""Split a document that does not fit the model's context into overlapping windows.

Windows break at line ends (speaker turns in transcripts) so no turn is cut in half unless a single
line is itself longer than a window, in which case that line is split at whitespace. Consecutive
windows share about ``overlap`` tokens of trailing lines, so a statement at a boundary is seen whole.

Merge rule (documented in docs/extraction.md): a boolean feature is present if any window finds it
present; its score is the highest P(true) over windows. An enum takes the option with the highest
confidence across windows. A feature missing in every window is missing.
"""

from __future__ import annotations

from typing import Callable


def _split_long_line(line: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """Pieces of ``line`` of at most ``budget`` tokens, cut at spaces (characters for a single longer word).

    Linear in the line's length: each word is counted once (with the space before it) and a piece is
    closed when the running sum would pass the budget; only a piece whose real count still exceeds the
    budget (a tokenizer that merges across spaces) is split again by counting it word by word. (Counting
    the growing piece after every word, as before, cost the window size once per word: minutes for a
    one-line 1 MiB transcript.)"""
    words = line.split(" ")
    pieces, cur, used = [], [], 0
    for w in words:
        n = count(" " + w) if cur else count(w)
        if cur and used + n > budget:
            pieces.append(" ".join(cur))
            cur, n = [], count(w)
        cur.append(w)
        used = (used + n) if len(cur) > 1 else n
    if cur:
        pieces.append(" ".join(cur))
    exact = []
    for p in pieces:
        exact.extend(_split_exact(p, budget, count) if count(p) > budget else [p])
    # A single "word" longer than the budget (no spaces at all): cut by characters.
    out = []
    for p in exact:
        while count(p) > budget and len(p) > 1:
            cut = max(1, len(p) * budget // max(count(p), 1))
            out.append(p[:cut])
            p = p[cut:]
        out.append(p)
    return out


def _split_exact(piece: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """Cut ``piece`` at spaces, counting the growing piece after each word (quadratic in the piece's
    length: only for the rare piece whose word-by-word estimate was too low)."""
    pieces, cur = [], ""
    for w in piece.split(" "):
        cand = f"{cur} {w}" if cur else w
        if cur and count(cand) > budget:
            pieces.append(cur)
            cur = w
        else:
            cur = cand
    if cur:
        pieces.append(cur)
    return pieces


def split_windows(text: str, budget: int, count: Callable[[str], int], overlap: int = 64) -> list[str]:
    """Windows of at most ``budget`` tokens (as measured by ``count``), covering all of ``text``."""
    if budget <= 0:
        raise ValueError("window budget must be positive")
    if count(text) <= budget:
        return [text]
    lines: list[tuple[str, int]] = []
    for line in text.split("\n"):
        n = count(line) + 1
        if n > budget:
            lines.extend((p, count(p) + 1) for p in _split_long_line(line, budget - 1, count))
        else:
            lines.append((line, n))
    windows: list[str] = []
    start = 0
    while start < len(lines):
        used, end = 0, start
        while end < len(lines) and used + lines[end][1] <= budget:
            used += lines[end][1]
            end += 1
        end = max(end, start + 1)
        windows.append("\n".join(line for line, _ in lines[start:end]))
        if end >= len(lines):
            break
        # Step back over trailing lines worth about `overlap` tokens, but always make progress.
        back, nxt = 0, end
        while nxt - 1 > start + 1 and back + lines[nxt - 1][1] <= overlap:
            nxt -= 1
            back += lines[nxt][1]
        start = nxt
    return windows
