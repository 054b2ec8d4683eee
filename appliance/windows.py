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
    words = line.split(" ")
    pieces, cur = [], ""
    for w in words:
        cand = f"{cur} {w}" if cur else w
        if cur and count(cand) > budget:
            pieces.append(cur)
            cur = w
        else:
            cur = cand
    if cur:
        pieces.append(cur)
    # A single "word" longer than the budget (no spaces at all): cut by characters.
    out = []
    for p in pieces:
        while count(p) > budget and len(p) > 1:
            cut = max(1, len(p) * budget // max(count(p), 1))
            out.append(p[:cut])
            p = p[cut:]
        out.append(p)
    return out


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
