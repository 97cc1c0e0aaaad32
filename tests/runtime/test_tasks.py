"""Background tasks kept by name (anpr.runtime.tasks): a failure is logged and reported, never silent."""

from __future__ import annotations

import asyncio
import logging

import pytest

from anpr.runtime.tasks import TaskEnded, Tasks


async def test_a_critical_task_that_fails_is_logged_with_its_traceback_and_reported(caplog):
    reported = asyncio.get_running_loop().create_future()
    tasks = Tasks(on_failure=lambda name, exc: reported.set_result((name, exc)))

    async def broken():
        raise KeyError("bug")

    with caplog.at_level(logging.ERROR, logger="anpr.runtime.tasks"):
        tasks.start("relay", broken())
        name, exc = await asyncio.wait_for(reported, 5)
    assert name == "relay" and isinstance(exc, KeyError)
    assert [r.task for r in caplog.records] == ["relay"] and caplog.records[0].exc_info is not None
    assert "relay" not in tasks and isinstance(tasks.failed["relay"], KeyError)


async def test_a_job_that_returns_while_running_is_a_failure_and_one_not_critical_is_not_reported():
    reported = []
    tasks = Tasks(on_failure=lambda name, exc: reported.append((name, type(exc))))

    async def ends():
        return None

    tasks.start("follower", ends())
    tasks.start("nice-to-have", ends(), critical=False)
    for _ in range(5):
        await asyncio.sleep(0)
    assert reported == [("follower", TaskEnded)]
    assert set(tasks.failed) == {"follower", "nice-to-have"}


async def test_tasks_are_cancelled_by_name_and_stopping_is_no_failure():
    reported = []
    tasks = Tasks(on_failure=lambda name, exc: reported.append(name))
    forever = asyncio.Event()
    tasks.start("a", forever.wait())
    tasks.start("b", forever.wait())
    with pytest.raises(ValueError, match="running already"):
        tasks.start("a", forever.wait())
    await tasks.cancel("a")
    assert tasks.names() == ["b"]
    await tasks.stop(grace_s=5)
    assert tasks.names() == [] and reported == []
