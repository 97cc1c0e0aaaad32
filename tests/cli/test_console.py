"""`anpr tfc` driven in a real terminal (a pseudo-terminal through pexpect), and `anpr rota` and
`anpr ndm verify` from the command line, against a real firearms service."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg

from anpr.v1 import firearms_pb2 as F
from anpr.v1.firearms_pb2_grpc import FirearmsServiceStub as F_stub
from tests.cli import Terminal, anpr
from tests.firearms_support import FORCE, firearms_hit, raise_hits, set_rota
from tests.support import channel


async def test_a_commander_works_an_activation_from_the_console(firearms, people):
    addr = firearms.addr("firearms")
    await set_rota(addr, people, chain=("tfc-a",), supervisor="sup-1")
    commander = Terminal(["tfc", "--addr", addr], people["tfc-a"])
    supervisor = Terminal(["tfc", "--addr", addr], people["sup-1"])
    try:
        await commander.expect("tfc> ")
        [raised] = (await raise_hits(addr, people, [firearms_hit()])).activations
        aid = raised.activation_id
        await commander.expect(f"!!! FIREARMS ACTIVATION {aid[:8]}")
        await commander.expect("ACKNOWLEDGE BY")
        await commander.expect("MARKERS: FIREARMS, VIOLENT   ACTION: DO NOT STOP REPORT SIGHTING")
        await commander.expect("reason: Linked to a firearms discharge")
        commander.child.sendline(f"decide {aid[:8]} threat")
        await commander.expect(f"acknowledge {aid[:8]} first")
        await commander.answer("tfc> ", f"ack {aid[:8]}")
        await commander.expect(f"ACKNOWLEDGED {aid[:8]}")
        await commander.answer("tfc> ", f"decide {aid[:8]} threat")
        await commander.answer("threat text> ", "Credible intelligence of a handgun in the vehicle")
        await commander.answer("rationale (Enter to skip)> ", "Threat to life cannot be excluded")
        await commander.expect(f"DECISION {aid[:8]}")
        await commander.expect("threat: Credible intelligence of a handgun in the vehicle")
        await commander.answer("tfc> ", f"decide {aid[:8]} ethics")
        await commander.answer("ethics text> ", "Proportionate and necessary; public safety first")
        await commander.answer("rationale (Enter to skip)> ", "")
        await commander.expect("recorded ethics")
        await commander.answer("tfc> ", f"close {aid[:8]} armed")  # 2 of the 6 parts of the NDM
        await commander.expect("record first: information, powers, options, action")
        await commander.answer("tfc> ", f"close {aid[:8]} monitor")
        await commander.answer("summary> ", "Vehicle not found; intelligence kept under review")
        await commander.expect(f"AWAITING SIGN-OFF {aid[:8]}")
        await commander.answer("tfc> ", f"signoff {aid}")  # refused before any remarks are asked for
        await commander.expect("sign-off needs a supervisor (role tfc_supervisor); you are tfc")

        await supervisor.answer("tfc> ", f"signoff {aid}")
        await supervisor.answer("remarks (Enter to skip)> ", "Reviewed and agreed")
        await supervisor.expect(f"signed off: {aid[:8]} is closed")
        await commander.expect(f"CLOSED {aid[:8]} [")
        await commander.expect("signed off by sup-1")
        await commander.answer("tfc> ", f"show {aid[:8]}")
        await commander.expect("ACTIVATION " + aid + "  CLOSED")
        await commander.expect("#6 CLOSED")
        assert await commander.finish() == 0
        assert await supervisor.finish() == 0
    finally:
        commander.kill()
        supervisor.kill()


async def test_a_console_opened_later_shows_what_still_waits_not_what_was_acknowledged(firearms, people):
    """The stream replays the log from the start: an activation acknowledged before the console
    opened is not shown as one waiting (overdue), one still waiting is, with its time left."""
    addr = firearms.addr("firearms")
    await set_rota(addr, people, chain=("tfc-a",), supervisor="sup-1")
    first, second = (await raise_hits(addr, people, [firearms_hit(), firearms_hit()])).activations
    async with channel(addr, people["tfc-a"]) as ch:
        await F_stub(ch).AcknowledgeActivation(F.AcknowledgeActivationRequest(activation_id=first.activation_id))
    supervisor = Terminal(["tfc", "--addr", addr], people["sup-1"])
    try:
        await supervisor.expect(f"!!! FIREARMS ACTIVATION {second.activation_id[:8]}")
        assert f"FIREARMS ACTIVATION {first.activation_id[:8]}" not in supervisor.child.before
        await supervisor.expect("ACKNOWLEDGE BY")
        await supervisor.expect(" s)")  # "(in N s)", not OVERDUE
        await supervisor.answer("tfc> ", "list")
        await supervisor.expect("2 open activation(s)")  # the acknowledged one is still open
        assert await supervisor.finish() == 0
    finally:
        supervisor.kill()


async def test_rota_from_the_command_line(firearms, people, tmp_path):
    addr, sup = firearms.addr("firearms"), people["sup-1"]
    for subject in ("tfc-a", "tfc-b", "sup-1"):
        supervisor = ["--as-supervisor"] if subject.startswith("sup") else []
        code, out = await anpr(
            "rota",
            "commander",
            subject,
            "--name",
            f"Insp {subject}",
            "--force",
            FORCE,
            *supervisor,
            "--addr",
            addr,
            token=sup,
        )
        assert code == 0, out
    code, out = await anpr("rota", "on-duty", "--addr", addr, token=people["tfc-a"])
    assert code == 1 and f"{FORCE}\tNOBODY ON DUTY" in out

    now = datetime.now(timezone.utc).replace(microsecond=0)
    week = tmp_path / "week.csv"
    week.write_text(
        "force,area,starts_at,ends_at,primary,backups,supervisor\n"
        + "".join(
            f"{FORCE},,{(now + timedelta(hours=12 * i - 1)).isoformat()},{(now + timedelta(hours=12 * i + 11)).isoformat()},"
            f"{'tfc-a' if i % 2 == 0 else 'tfc-b'},{'tfc-b' if i % 2 == 0 else 'tfc-a'},sup-1\n"
            for i in range(14)
        )
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "force,area,starts_at,ends_at,primary,backups,supervisor\n"
        f"{FORCE},,2026-11-30T07:00:00,2026-11-30T19:00:00Z,tfc-a,,sup-1\n"
    )
    code, out = await anpr("rota", "import", str(bad), "--addr", addr, token=sup)
    assert code == 1 and "line 2: starts_at: needs a UTC offset" in out and "nothing imported" in out
    headless = tmp_path / "headless.csv"  # another header (from, to: the flags' names)
    headless.write_text(f"force,area,from,to,primary,backups,supervisor\n{FORCE},,x,y,tfc-a,,sup-1\n")
    code, out = await anpr("rota", "import", str(headless), "--addr", addr, token=sup)
    assert code == 1 and "line 1: the header must be force,area,starts_at,ends_at," in out, out
    assert "nothing imported" in out, out
    unknown = tmp_path / "unknown.csv"  # every line the service refuses is named, by its line
    unknown.write_text(
        "force,area,starts_at,ends_at,primary,backups,supervisor\n"
        f"{FORCE},,2026-11-30T07:00:00Z,2026-11-30T19:00:00Z,nobody-1,,sup-1\n"
        f"{FORCE},,2026-11-30T19:00:00Z,2026-12-01T07:00:00Z,tfc-a,,sup-1\n"
        f"{FORCE},,2026-12-01T07:00:00Z,2026-12-01T19:00:00Z,nobody-2,,sup-1\n"
    )
    code, out = await anpr("rota", "import", str(unknown), "--addr", addr, token=sup)
    assert code == 1 and "line 2: primary:" in out and "line 4: primary:" in out and "line 3" not in out, out
    code, out = await anpr(
        "rota", "add", "--force", FORCE, "--from", "yesterday", "--to", "today", "--primary", "tfc-a",
        "--supervisor", "sup-1", "--addr", addr, token=sup,
    )  # fmt: skip
    assert code == 2 and "--from: 'yesterday' is not an ISO 8601 time" in out, out
    code, out = await anpr(  # refused by the service: in the command's words too
        "rota", "add", "--force", FORCE, "--from", now.isoformat(), "--to", (now - timedelta(hours=1)).isoformat(),
        "--primary", "nobody-1", "--backups", "tfc-b;nobody-2", "--supervisor", "sup-1", "--addr", addr, token=sup,
    )  # fmt: skip
    assert code == 2 and "--to: must be after starts_at" in out and "shifts[0]" not in out, out
    code, out = await anpr(
        "rota", "add", "--force", FORCE, "--from", now.isoformat(), "--to", (now + timedelta(hours=1)).isoformat(),
        "--primary", "nobody-1", "--backups", "tfc-b;nobody-2", "--supervisor", "sup-1", "--addr", addr, token=sup,
    )  # fmt: skip
    assert code == 2 and "--primary: not a registered commander" in out, out
    assert "--backups (the second): not a registered commander" in out, out
    code, out = await anpr("rota", "commander", "tfc-c", "--force", FORCE, "--addr", addr, token=sup)
    assert code == 2 and "--name: " in out and "commander." not in out, out
    code, out = await anpr("rota", "import", str(week), "--addr", addr, token=people["tfc-a"])
    assert code != 0 and "PERMISSION_DENIED" in out
    code, out = await anpr("rota", "import", str(week), "--addr", addr, token=sup)
    assert code == 0 and "imported 14 shift(s)" in out, out
    code, out = await anpr("rota", "list", "--addr", addr, token=sup)
    assert out.count(FORCE) == 14 and "tfc-a > tfc-b > sup-1" in out
    code, out = await anpr("rota", "on-duty", "--addr", addr, token=people["tfc-b"])
    assert code == 0 and f"{FORCE}\ttfc-a > tfc-b > sup-1\tuntil" in out
    code, out = await anpr(
        "rota",
        "add",
        "--force",
        FORCE,
        "--area",
        "North",
        "--from",
        now.isoformat(),
        "--to",
        (now + timedelta(hours=2)).isoformat(),
        "--primary",
        "tfc-b",
        "--supervisor",
        "sup-1",
        "--addr",
        addr,
        token=sup,
    )
    assert code == 0 and "tfc-b > sup-1" in out, out
    code, out = await anpr("rota", "on-duty", "--addr", addr, token=people["tfc-b"])
    assert f"{FORCE} / North\ttfc-b > sup-1" in out and f"{FORCE}\ttfc-a > tfc-b > sup-1" in out
    year = tmp_path / "year.csv"  # more lines than one call takes: sent in batches, stored all or none
    year.write_text(
        "force,area,starts_at,ends_at,primary,backups,supervisor\n"
        + "".join(
            f"{FORCE},Area {i % 20},{(now + timedelta(hours=i)).isoformat()},{(now + timedelta(hours=i + 1)).isoformat()},"
            "tfc-a,tfc-b,sup-1\n"
            for i in range(5000)
        )
    )
    code, out = await anpr("rota", "import", str(year), "--addr", addr, token=sup)
    assert code == 0 and "imported 5000 shift(s)" in out, out


async def test_ndm_verify_from_the_command_line(firearms, people, database_url):

    addr = firearms.addr("firearms")
    await set_rota(addr, people)
    await raise_hits(addr, people, [firearms_hit(), firearms_hit()])
    code, out = await anpr("ndm", "verify", "--addr", addr, token=people["sup-2"])
    assert code == 0 and "NDM log verifies: 2 entries" in out and "2 activation(s) match their log entries" in out
    code, out = await anpr("ndm", "verify", "--checkpoints", "kept.jsonl", "--addr", addr, token=people["sup-2"])
    assert code == 2 and "--checkpoints: no such file: kept.jsonl" in out and "Errno" not in out, out
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "firearms"})  # a tampering DBA
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("UPDATE event_log SET actor = 'someone' WHERE sequence = 2")
    finally:
        await conn.close()
    code, out = await anpr("ndm", "verify", "--addr", addr, token=people["sup-2"])
    assert code == 1 and "does NOT verify: entry 2: its content does not match its hash (edited)" in out
