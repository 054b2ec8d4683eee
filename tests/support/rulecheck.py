"""One assertion for sentence-level rule tests: each named feature has the wanted assertion status."""

from __future__ import annotations

from appliance.rules import RuleExtractor


def check(rx: RuleExtractor, text: str, want: dict[str, str], lang: str = "en") -> None:
    """Assert ``rx.extract(text, lang)[feature].status == status`` for every ``feature: status`` in ``want``
    (statuses: present, absent, past, hypothetical, other, uncertain, ...), and that every feature's
    boolean value is ``status == "present"``. The failure names the text and each (got, want) pair."""
    found = rx.extract(text, lang)
    got = {k: f.status for k, f in found.items()}
    wrong = {k: (got[k], v) for k, v in want.items() if got[k] != v}
    assert not wrong, f"{text!r}: (got, want) {wrong}"
    for f in found.values():
        assert f.value == (f.status == "present")
