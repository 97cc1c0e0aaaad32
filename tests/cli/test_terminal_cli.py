"""`anpr terminal` driven in a pseudo-terminal, as an officer uses it: a unit's alert shown with its
markers and an approximate match standing out, rejected with a reason code, the stream resumed
without a gap after notify restarts, and `q` to leave."""

from __future__ import annotations

import asyncio

import asyncpg
import pexpect

from anpr.runtime.auth import Role
from anpr.v1 import notify_pb2, notify_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.cli import Terminal, anpr, hit, publish
from tests.support import channel


async def test_a_refused_subscription_names_the_flags_to_give(notify, tokens):
    code, out = await anpr(
        "terminal", "--addr", notify.addr("notify"), "--unit", "ALPHA-1", token=tokens[Role.TERMINAL]
    )
    assert code == 2 and "--lat and --lon (the unit's position): required" in out, out
    code, out = await anpr("terminal", "--unit", "ALPHA-1", "--lat", "51.5", token=tokens[Role.TERMINAL])
    assert code == 2 and "both --lat and --lon" in out, out
    # another unit than the token's: refused by the service, in the command's words
    code, out = await anpr(
        "terminal",
        *("--addr", notify.addr("notify"), "--unit", "BRAVO-9", "--lat", "51.5", "--lon", "-1.2"),
        token=tokens[Role.TERMINAL],
    )
    assert code == 2 and "PERMISSION_DENIED: --unit, --force:" in out and "subscription." not in out, out


async def test_an_officer_sees_rejects_and_resumes_alerts_in_the_terminal(notify, tokens, database_url):
    addr = notify.addr("notify")
    screen = Terminal(
        [
            "terminal",
            "--addr",
            addr,
            "--unit",
            "ALPHA-1",
            "--force",
            "Test Police",
            "--lat",
            "51.5072",
            "--lon",
            "-0.1276",
            "--radius-km",
            "20",
        ],
        tokens[Role.TERMINAL],
    )
    try:
        await screen.expect("-- live: unit ALPHA-1 within 20 km of 51.5072,-0.1276")
        [first] = (await publish(notify, hit("A812CDE", [T.WARNING_MARKER_VIOLENT], exact=False))).alerts
        await screen.expect(f"ALERT #{first.sequence}  A812CDE")
        await screen.expect("APPROXIMATE: listed as AB12CDE, character 3 differs")
        await screen.expect("warning markers: VIOLENT")
        await screen.expect(
            "why: score 0.98: the read differs from the listed VRM (+5.0); colour disagrees (red for blue) (-1.6)"
        )
        screen.child.sendline(f"r {first.sequence} misread")
        await screen.expect(f"-- #{first.sequence} rejected (misread) --")
        screen.child.sendline(f"a {first.sequence}")  # a reversal is not taken without a word
        await screen.expect("!! FAILED_PRECONDITION: outcome: you rejected this alert already (misread)")
        screen.child.sendline(f"s {first.sequence}")  # nor is "seen" shown as recorded over the decision
        await screen.expect(f"-- #{first.sequence}: you rejected it already; seen is not recorded")

        await notify.running["notify"].stop()  # notify restarts; the terminal resumes after #first
        await notify.start("notify", grpc_port=int(addr.rsplit(":", 1)[1]), heartbeat_s=0.5)
        [second] = (await publish(notify, hit("AB12CDE", [T.WARNING_MARKER_FIREARMS], exact=True))).alerts
        await screen.expect("-- live: unit ALPHA-1")
        await screen.expect(f"ALERT #{second.sequence}  AB12CDE  [EXACT]")
        await screen.expect("FIREARMS: the duty Tactical Firearms Commander has been informed")
        screen.child.sendline("help")
        await screen.expect("| q (quit)")
        screen.child.sendline("q")  # the officer leaves the screen
        await asyncio.to_thread(screen.child.expect, pexpect.EOF)
        screen.child.close()
        assert screen.child.exitstatus == 0
    finally:
        screen.kill()
    assert second.sequence == first.sequence + 1
    conn = await asyncpg.connect(database_url)
    try:
        acks = await conn.fetch("SELECT subject, outcome, reason_code FROM notify.alert_acknowledgements")
    finally:
        await conn.close()
    assert [tuple(a) for a in acks] == [("test-terminal", T.ALERT_OUTCOME_REJECTED, "misread")]
    async with channel(addr, tokens[Role.TERMINAL]) as ch:  # a client in another language is told so
        again = await notify_pb2_grpc.NotifyServiceStub(ch).AcknowledgeAlert(
            notify_pb2.AcknowledgeAlertRequest(alert_id=first.alert_id, outcome=T.ALERT_OUTCOME_SEEN)
        )
    assert again.standing == T.ALERT_OUTCOME_REJECTED
