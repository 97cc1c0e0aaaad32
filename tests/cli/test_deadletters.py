"""`anpr deadletters`: list a service's dead letters and re-drive them to their topic; and a database
that the database commands (and `anpr up`) cannot reach or log in to, named without a traceback."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

from anpr.runtime import pg
from services import spec
from tests.cli import NO_SUITE, anpr
from tests.support import free_base_port, free_port

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_dead_letters_are_listed_without_payloads_and_redriven_to_their_topic(database_url):
    conn = await pg.connect(database_url, "matcher")
    try:
        await pg.migrate(conn, "matcher", spec("matcher").migrations)
        await conn.execute(
            "INSERT INTO outbox (topic, payload, traceparent) VALUES "
            "('dead-letter:alert', 'KX19ZTB', $1), ('dead-letter:activation', 'x', ''), ('alert', 'y', '')",
            TRACEPARENT,
        )
        woken = asyncio.Queue()
        await conn.add_listener("matcher_outbox", lambda *a: woken.put_nowait(a[3]))

        code, out = await anpr("deadletters", "list", "matcher", database_url=database_url)
        assert code == 0, out
        assert "2 dead letter(s)" in out and "\talert\t" in out and "\tactivation\t" in out
        assert "trace 0af7651916cd43dd8448eb211c80319c" in out and "KX19ZTB" not in out

        code, out = await anpr("deadletters", "redrive", "matcher", "--topic", "alerts", database_url=database_url)
        assert code == 2 and "--topic: matcher has no topic 'alerts' (its topics: activation, alert)" in out, out
        code, out = await anpr("deadletters", "redrive", "matcher", "--topic", "alert", database_url=database_url)
        assert code == 0 and "re-driven 1 to alert" in out, out
        assert await asyncio.wait_for(woken.get(), 10) == "alert"
        topics = sorted(r["topic"] for r in await conn.fetch("SELECT topic FROM outbox"))
        assert topics == ["alert", "alert", "dead-letter:activation"]
    finally:
        await conn.close()


async def test_without_a_database_url_or_an_embedded_database_the_command_says_so():
    code, out = await anpr("deadletters", "list", "ingest")
    assert code != 0 and f"ANPR_DATABASE_URL is not set and {NO_SUITE} holds no embedded database" in out


async def test_a_database_the_commands_cannot_reach_or_log_in_to_is_named_without_a_traceback(database_url, tmp_path):
    closed = free_port()  # nothing listens there
    wrong = urlunsplit(urlsplit(database_url)._replace(netloc=f"nobody:hunter2@127.0.0.1:{closed}"))
    parts = urlsplit(database_url)
    refused_login = urlunsplit(parts._replace(netloc="nobody:hunter2@" + parts.netloc.rsplit("@", 1)[-1]))
    cases = [(("deadletters", "list", "ingest"), wrong), (("migrate",), wrong), (("retention",), wrong)]
    cases.append((("deadletters", "list", "ingest"), refused_login))
    cases.append((("up", "--data-dir", str(tmp_path / "up"), "--base-port", str(free_base_port())), wrong))
    for args, url in cases:
        code, out = await anpr(*args, database_url=url)
        assert code == 2 and "cannot connect to the database (ANPR_DATABASE_URL:" in out, (args, out)
        assert "Traceback" not in out and "hunter2" not in out, out
    code, out = await anpr("deadletters", "list", "ingest", database_url=wrong)
    assert f"127.0.0.1:{closed}" in out and "Connection refused" in out, out
