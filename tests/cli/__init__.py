"""Tests of the `anpr` command, run as a process against real services; alerts to show them (`hit`,
`publish` to notify as matcher would); `Terminal`, a screen command in a pseudo-terminal."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path

import pexpect

from anpr.runtime.auth import Role
from anpr.v1 import notify_pb2, notify_pb2_grpc
from anpr.v1 import types_pb2 as T
from cli.suite.launcher import ROOT
from tests.support import channel, make_entry, make_read

NO_SUITE = str(Path(tempfile.gettempdir()) / "anpr-tests-no-suite")  # never made: no command makes it


async def anpr(*args: str, token: str | None = None, **settings: str) -> tuple[int, str]:
    """Run `anpr ARGS` (as `python -m cli`) with ANPR_TOKEN and ANPR_<NAME> settings; its exit code and
    output (stdout and stderr together)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANPR_")}
    env["ANPR_DATA_DIR"] = NO_SUITE  # not a suite some `anpr up` left in the repository's .anpr
    env.update({f"ANPR_{k.upper()}": v for k, v in settings.items()})
    if token is not None:
        env["ANPR_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


def hit(vrm_read: str, markers: list[int], exact: bool) -> T.TracedHit:
    read = make_read(vrm_read)
    return T.TracedHit(
        hit=T.Hit(
            hit_id=str(uuid.uuid4()),
            read=read,
            entry=make_entry("AB12CDE", "l1", warning_markers=markers),
            hotlist=T.Hotlist(hotlist_id="l1", name="Force list"),
            match_kind=T.MATCH_KIND_EXACT if exact else T.MATCH_KIND_LOOKALIKE,
            differing_positions=[] if exact else [2],
            score=0.98,
            evidence=[
                T.EvidenceContribution(factor="misread", log_odds=5.0, detail="the read differs from the listed VRM"),
                T.EvidenceContribution(factor="colour", log_odds=-1.6, detail="colour disagrees (red for blue)"),
            ],
        )
    )


async def publish(suite, *hits: T.TracedHit) -> notify_pb2.PublishAlertsResponse:
    async with channel(suite.addr("notify"), suite.tokens[Role.SERVICE]) as ch:
        return await notify_pb2_grpc.NotifyServiceStub(ch).PublishAlerts(notify_pb2.PublishAlertsRequest(hits=hits))


class Terminal:
    """One `anpr` process in a pseudo-terminal; expectations run off the event loop."""

    def __init__(self, args: list[str], token: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANPR_")} | {
            "ANPR_TOKEN": token,
            "NO_COLOR": "1",
        }
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "cli", *args],
            cwd=str(ROOT),
            env=env,
            encoding="utf-8",
            timeout=20,
            dimensions=(60, 200),
        )

    async def expect(self, text: str) -> None:
        try:
            await asyncio.to_thread(self.child.expect_exact, text)
        except (pexpect.TIMEOUT, pexpect.EOF):
            raise AssertionError(f"{text!r} not shown; the screen ended with:\n{self.child.before}") from None

    async def answer(self, prompt: str, line: str) -> None:
        await self.expect(prompt)
        self.child.sendline(line)

    async def finish(self) -> int:
        self.child.sendline("quit")
        await asyncio.to_thread(self.child.expect, pexpect.EOF)
        self.child.close()
        return self.child.exitstatus

    def kill(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)
