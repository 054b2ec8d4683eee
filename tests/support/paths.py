"""Paths the tests read: the repository root, tests/data and its field cases."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
FIELD = DATA / "field-cases"
FAKEPIPE = REPO / "tests" / "support" / "fakepipe.py"
