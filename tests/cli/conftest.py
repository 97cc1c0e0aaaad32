"""Fixtures of the command tests."""

from __future__ import annotations

import pytest

from tests.support import InProcessSuite, free_port


@pytest.fixture
async def notify(database_url, tokens):
    s = InProcessSuite(database_url, tokens)
    port = free_port()
    await s.start("notify", grpc_port=port, heartbeat_s=0.5)
    yield s
    await s.stop()
