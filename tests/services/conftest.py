"""Fixtures shared by the service tests."""

from __future__ import annotations

import pytest

from tests.support import InProcessSuite


@pytest.fixture
async def firearms(database_url, people):
    """The firearms service in this process, with the `people` tokens (default settings)."""
    s = InProcessSuite(database_url, people.tokens)
    await s.start("firearms")
    yield s
    await s.stop()
