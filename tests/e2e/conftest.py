"""Fixtures for the end-to-end tests: the four services as OS processes."""

from __future__ import annotations

import pytest

from tests.e2e.processes import ProcessSuite


@pytest.fixture
async def processes(database_url, tokens, tmp_path):
    """The suite as four processes, without tracing export and with deduplication off, so that
    every read of a listed plate is alerted and can be counted."""
    suite = ProcessSuite(
        database_url, tokens, collector_port=None, log_dir=tmp_path, extra_env={"ANPR_DEDUP_WINDOW_S": "0"}
    )
    try:
        await suite.start_all()
        yield suite
    finally:
        await suite.stop_all()
