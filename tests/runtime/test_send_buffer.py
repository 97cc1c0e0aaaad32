"""A bulk COPY's connection lets the kernel queue a whole import message for PostgreSQL
(pg.widen_send_buffer): the import's connection gets a send buffer of IMPORT_SEND_BUFFER (within
the kernel's cap) instead of the default 208 KiB, on a plain connection and on a pool's, when it
is a local socket; a TCP connection's buffer is left to grow by itself."""

from __future__ import annotations

import socket
from pathlib import Path

from anpr.runtime import pg
from services.matcher import store


def kernel_cap() -> int:
    """What the kernel grants a socket asking for more than it allows (Linux doubles the request)."""
    return 2 * int(Path("/proc/sys/net/core/wmem_max").read_text())


def sock(conn) -> socket.socket:
    raw = getattr(conn, "_con", None) or conn
    return raw._transport.get_extra_info("socket")


def send_buffer(conn) -> int:
    return sock(conn).getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)


def widened(conn, asked: int, before: int) -> int:
    """What the buffer should be now: doubled within the cap on a local socket, untouched on TCP."""
    return min(2 * asked, kernel_cap()) if sock(conn).family == socket.AF_UNIX else before


async def test_an_import_widens_its_connections_send_buffer(database_url):
    conn = await pg.connect(database_url.service_url("matcher"), "matcher")
    try:
        before = send_buffer(conn)
        await conn.execute("INSERT INTO hotlists (hotlist_id, name, source, match_policy) VALUES ('L', 'L', 1, 1)")
        async with conn.transaction():
            await store.HotlistImport(conn, "L", max_added_ids=10).begin()
        assert send_buffer(conn) == widened(conn, store.IMPORT_SEND_BUFFER, before)
    finally:
        await conn.close()


async def test_a_pools_connection_is_widened_through_its_proxy(database_url):
    pool = await pg.create_pool(database_url.service_url("matcher"), "matcher", max_size=1)
    try:
        async with pool.acquire() as conn:
            before = send_buffer(conn)
            assert pg.widen_send_buffer(conn, 1 << 20) == send_buffer(conn) == widened(conn, 1 << 20, before)
    finally:
        await pool.close()
