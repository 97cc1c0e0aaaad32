"""A process's background tasks, kept by name.

Every long-running job of a service (an outbox relay, the log tail's follower, the escalator, the
hotlist follower) is started here under a unique name, so that it can be found, cancelled and
awaited by name, and so that its end is never silent: a task that fails is logged with its
traceback, and one the service cannot do without (`critical`) is reported to `on_failure` (the
server then answers health NOT_SERVING: the service can no longer do its job, and Kubernetes
restarts it). A task that returns while the service is running is a failure too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskEnded(RuntimeError):
    """A background job that should run until stopped returned."""


class Tasks:
    def __init__(self, on_failure: Callable[[str, BaseException], Any] | None = None):
        self._tasks: dict[str, asyncio.Task] = {}
        self._critical: set[str] = set()
        self._on_failure = on_failure
        self._stopping = False
        self._ending: set[str] = set()  # asked to stop: their end is expected
        self.failed: dict[str, BaseException] = {}

    def start(self, name: str, coro: Coroutine, *, critical: bool = True) -> asyncio.Task:
        """Run `coro` as task `name` (unique among the running ones)."""
        if name in self._tasks and not self._tasks[name].done():
            coro.close()
            raise ValueError(f"a task named {name!r} is running already")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks[name] = task
        if critical:
            self._critical.add(name)
        task.add_done_callback(self._ended)
        return task

    def __contains__(self, name: str) -> bool:
        return name in self._tasks and not self._tasks[name].done()

    def names(self) -> list[str]:
        return [n for n, t in self._tasks.items() if not t.done()]

    def _ended(self, task: asyncio.Task) -> None:
        name = task.get_name()
        if self._tasks.get(name) is task:
            del self._tasks[name]
        if task.cancelled() or self._stopping or name in self._ending:
            self._ending.discard(name)
            return
        exc = task.exception() or TaskEnded(f"background task {name} returned")
        self.failed[name] = exc
        critical = name in self._critical
        log.error("background task failed", extra={"task": name, "critical": critical}, exc_info=exc)
        if critical and self._on_failure is not None:
            result = self._on_failure(name, exc)
            if asyncio.iscoroutine(result):
                asyncio.get_running_loop().create_task(result, name=f"{name}-failure-report")

    async def cancel(self, name: str) -> None:
        """Cancel task `name` (if running) and wait for it to end."""
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def end(self, name: str, grace_s: float | None = None) -> None:
        """Wait for task `name`, which was asked to stop, to end by itself; cancel it after `grace_s`."""
        task = self._tasks.get(name)
        if task is None:
            return
        self._ending.add(name)
        done, _ = await asyncio.wait([task], timeout=grace_s)
        if not done:
            await self.cancel(name)

    async def stop(self, grace_s: float | None = None) -> None:
        """Cancel every task and wait for them (at stop: endings are no longer failures)."""
        self._stopping = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
