"""Fixtures shared by the runtime tests (the repository-wide ones are in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def sym():
    """The rule extractor for the built-in ``symptoms13`` task (loaded once: lexicons and medspaCy rules)."""
    pytest.importorskip("medspacy")
    from appliance.rules import RuleExtractor
    from appliance.tasks import load_task

    return RuleExtractor(load_task("symptoms13"))
