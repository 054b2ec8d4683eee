"""Long documents are split into overlapping windows that cover every line, never silently cut."""

from appliance.windows import split_windows


def count(s: str) -> int:
    return len(s.split())


def test_short_text_is_one_window():
    assert split_windows("a b c\nd e", 10, count) == ["a b c\nd e"]


def test_windows_respect_budget_and_cover_all_lines():
    lines = [f"speaker{i}: " + " ".join(f"w{i}_{j}" for j in range(5)) for i in range(40)]
    text = "\n".join(lines)
    wins = split_windows(text, 30, count, overlap=8)
    assert len(wins) > 1
    assert all(count(w) + w.count("\n") + 1 <= 30 for w in wins)
    seen = {line for w in wins for line in w.split("\n")}
    assert seen == set(lines)
    # consecutive windows overlap by at least one line
    for a, b in zip(wins, wins[1:]):
        assert set(a.split("\n")) & set(b.split("\n"))


def test_single_overlong_line_is_split_not_dropped():
    text = " ".join(f"w{i}" for i in range(100))
    wins = split_windows(text, 20, count, overlap=0)
    assert " ".join(wins).split() == text.split()
    assert all(count(w) <= 20 for w in wins)


def test_no_spaces_at_all():
    text = "x" * 500
    wins = split_windows(text, 10, lambda s: len(s) // 10 + 1, overlap=0)
    assert "".join(wins) == text
