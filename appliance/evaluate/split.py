"""The fixed, documented development/test split of a labelled set.

A document belongs to the *development* split when the sha256 of its id, read as an integer, is below 7
modulo 10, and to the *test* split otherwise: about 70 % / 30 %, stable across runs, machines, file
order and Python versions (no ``hash()`` randomisation), and independent of the labels. Prompts, few-shot
examples and thresholds are tuned on 'dev'; figures are reported on 'test'.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Split = Literal["dev", "test"]
SplitChoice = Literal["dev", "test", "all"]
SPLIT_RULE = "int(hashlib.sha256(id.encode()).hexdigest(), 16) % 10 < 7 -> 'dev', else 'test'"


def split_of(doc_id: str) -> Split:
    """'dev' or 'test' for a document id (the rule in ``SPLIT_RULE``)."""
    return "dev" if int(hashlib.sha256(doc_id.encode("utf-8")).hexdigest(), 16) % 10 < 7 else "test"


def in_split(doc_id: str, split: SplitChoice) -> bool:
    """Whether ``doc_id`` belongs to ``split`` ('all' takes every document).

    Raises ValueError for a split other than 'dev', 'test' or 'all'.
    """
    if split == "all":
        return True
    if split not in ("dev", "test"):
        raise ValueError(f"split must be 'dev', 'test' or 'all', not {split!r}")
    return split_of(doc_id) == split
