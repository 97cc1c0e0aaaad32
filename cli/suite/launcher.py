"""One way to start the suite as separate OS processes (`anpr serve <service>`), as in production:
the port table, each process's environment, start, kill, restart, wait until SERVING, stop.

Used by `anpr up`, the end-to-end tests and the benchmarks. A process has a name ("matcher",
"matcher-2") and runs a service; the processes of one service are its replicas, and every other
service is pointed at all of them (a gRPC `ipv4:` target list; service channels balance round-robin).
With a local CA (`tls=`) every process serves TLS on its port and mutual TLS on a service port of its
own, and the services call each other there (as `anpr up` runs the demo).
Each process gets its own session (process group), so that a kill reaches its ANPR_WORKERS children
too, and Ctrl-C in a terminal reaches only the launcher, which stops the services in order. Each is
started through `cli.suite.pdeathsig`, so that the kernel sends it SIGTERM when the launcher dies,
whatever kills it, kill -9 included: no service is left running under pid 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from anpr.runtime.auth import Caller, Role
from anpr.runtime.dbroles import Logins
from anpr.runtime.tls import ClientTls, LocalCA
from cli.client import wait_serving
from cli.suite.issuer import LocalIssuer
from services import DEFAULT_PORTS, NAMES, settings_variables

ROOT = Path(__file__).resolve().parents[2]  # the repository (the processes run from it)

# Which downstream address each setting names.
ADDRESS_SETTINGS = {
    "ANPR_INGEST_ADDR": "ingest",
    "ANPR_MATCHER_ADDR": "matcher",
    "ANPR_NOTIFY_ADDR": "notify",
    "ANPR_FIREARMS_ADDR": "firearms",
}


class LaunchError(RuntimeError):
    """A process exited or did not become SERVING in time (the message ends with its log's tail)."""


def free_ports(n: int) -> list[int]:
    """n distinct ports free now (all held open while choosing, so none is handed out twice)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def port_table(base_port: int | None = None, *, free: bool = False) -> dict[str, int]:
    """The four services' ports: the defaults (50051-50054), consecutive from `base_port`, or
    (`free=True`) any free ones."""
    if free:
        return dict(zip(NAMES, free_ports(len(NAMES)), strict=True))
    if base_port:
        return {name: base_port + i for i, name in enumerate(NAMES)}
    return dict(DEFAULT_PORTS)


def issuer_port(base_port: int | None = None) -> int:
    """The local identity issuer's port for `anpr up`: base + 9 (50060 by default)."""
    return (base_port or DEFAULT_PORTS["ingest"]) + 9


SERVICE_PORT_OFFSET = 10  # `anpr up`: each service's mutual-TLS port for the others, its port + 10


def up_ports(base_port: int | None = None) -> dict[str, int]:
    """Every port `anpr up` listens on, by what it is for: the services' (base to base+3), the
    local issuer's (base+9) and the services' ports between them (base+10 to base+13)."""
    ports = port_table(base_port)
    return (
        ports
        | {f"{n} (between the services)": p + SERVICE_PORT_OFFSET for n, p in ports.items()}
        | {"the local issuer": issuer_port(base_port)}
    )


def port_free(port: int) -> bool:
    """Whether a lone listener could bind 127.0.0.1:`port` now (no SO_REUSEPORT: gRPC servers set it,
    and a probe with it would share a port another suite's server holds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def clean_env() -> dict[str, str]:
    """This process's environment without any ANPR_* or OTEL_* setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ANPR_", "OTEL_"))}


def check_settings(environ: Mapping[str, str]) -> None:
    """LaunchError naming every ANPR_* variable of `environ` that no service of the suite reads."""
    unknown = sorted(k for k in environ if k.startswith("ANPR_") and k not in settings_variables())
    if unknown:
        raise LaunchError(f"unknown setting(s) {', '.join(unknown)}: no service of the suite reads them")


def env_name(role: Role) -> str:
    """The variable of a role's token in an env file: DEMO_TERMINAL_TOKEN, ... (not ANPR_*: that prefix
    is the services' settings, and a service refuses a variable of it that no service reads)."""
    return f"DEMO_{str(role).upper()}_TOKEN"


# How long the tokens of `Tokens` are valid (a test session, a day of the demo; `anpr token issue`
# mints more).
TOKEN_TTL_S = 24 * 3600
SERVICE_CLIENT_ID = "anpr-services"

# What each role's token claims unless told otherwise (Tokens.create): the demo's and the tests'
# callers. A control room, a supervisor and an administrator see every force, covert lists included;
# a terminal is unit ALPHA-1 of Test Police; cameras and services carry no scope.
DEFAULT_FORCE = "Test Police"
DEFAULT_CLAIMS: dict[Role, dict[str, object]] = {
    Role.TERMINAL: {"force": DEFAULT_FORCE, "unit": "ALPHA-1"},
    Role.CONTROL_ROOM: {"national": True, "covert": True},
    Role.TFC: {"force": DEFAULT_FORCE},
    Role.TFC_SUPERVISOR: {"national": True, "covert": True},
    Role.HOTLIST_ADMIN: {"national": True, "covert": True},
    Role.CAMERA_ADMIN: {"national": True},
}


@dataclass
class Tokens:
    """A local issuer (its keys kept in the file `path`), serving on 127.0.0.1, with a bearer token
    for every role and for each named identity, and the services' client credentials."""

    path: Path
    issuer: LocalIssuer
    by_role: dict[Role, str]
    by_name: dict[str, str] = field(default_factory=dict)
    callers: dict[str, Caller] = field(default_factory=dict)
    service_secret: str = ""

    @classmethod
    def create(
        cls,
        path: Path,
        prefix: str = "anpr",
        subjects: Mapping[Role, str] | None = None,
        identities: Mapping[str, Caller] | None = None,
        *,
        claims: Mapping[Role, Mapping[str, object]] | None = None,
        port: int = 0,
        ttl_s: float = TOKEN_TTL_S,
    ) -> Tokens:
        """Start the issuer kept in `path` (made if new) and mint the tokens: one per role (subject
        `subjects[role]`, else "<prefix>-<role>"; claims `claims[role]`, else DEFAULT_CLAIMS'), and
        one per name of `identities` (`tokens.named(name)`)."""
        issuer = LocalIssuer(path, port=port)
        issuer.start()
        subjects, claims = subjects or {}, claims or DEFAULT_CLAIMS
        by_role = {role: Caller(role, subjects.get(role, f"{prefix}-{role}"), **claims.get(role, {})) for role in Role}
        named = dict(identities or {})
        tokens = cls(
            path,
            issuer,
            {role: issuer.mint(c, ttl_s) for role, c in by_role.items()},
            {name: issuer.mint(c, ttl_s) for name, c in named.items()},
            {**{str(r): c for r, c in by_role.items()}, **named},
            issuer.add_client(SERVICE_CLIENT_ID, f"{prefix}-services"),
        )
        return tokens

    def __getitem__(self, role: Role) -> str:
        return self.by_role[role]

    def named(self, name: str) -> str:
        """The token of identity `name` (given to `create` in `identities`)."""
        return self.by_name[name]

    def mint(self, caller: Caller, ttl_s: float = TOKEN_TTL_S, **kwargs) -> str:
        """Another token of this issuer (`LocalIssuer.mint`)."""
        return self.issuer.mint(caller, ttl_s, **kwargs)

    def service_settings(self) -> dict[str, str]:
        """What a service needs to verify these tokens and to call the others (settings' field names)."""
        return {
            "oidc_issuer": self.issuer.url,
            "oidc_audience": self.issuer.audience,
            "service_client_id": SERVICE_CLIENT_ID,
            "service_client_secret": self.service_secret,
        }

    def env(self) -> dict[str, str]:
        """The same as environment variables (ANPR_OIDC_ISSUER, ...)."""
        return {f"ANPR_{k.upper()}": v for k, v in self.service_settings().items()}

    def close(self) -> None:
        """Stop serving (the keys stay in `path`)."""
        self.issuer.stop()

    def write_env(self, path: Path, ca_file: Path | None = None) -> None:
        """The clear tokens (and the CA) as an env file, so that a developer can call the suite
        with grpcurl or the `anpr` commands (`set -a; . FILE`). Readable by its owner only."""
        lines = [f"{env_name(role)}={token}\n" for role, token in self.by_role.items()]
        if ca_file is not None:
            lines.append(f"ANPR_TLS_CA_FILE={ca_file}\n")
        path.touch(mode=0o600)
        path.write_text("".join(lines))
        path.chmod(0o600)


class Launcher:
    """The suite's processes on 127.0.0.1, one log file each in `log_dir` (<name>.log).

    `database` is the suite's logins (cli.suite.database.provision: each service gets the DSN of its
    own login role; or anything with such `logins`, as the tests' databases) or one DSN for every
    process. `base_env` is the environment every process starts from (default: this one's without
    ANPR_* and OTEL_*); `env` is added on top for every process, `start(..., env=...)` for one. With `tls`, the processes serve TLS and call each other with mutual
    TLS on their service ports (`service_ports`: each process's, else free ones).
    """

    def __init__(
        self,
        database: str | Logins,
        tokens: Tokens,
        log_dir: Path,
        *,
        ports: Mapping[str, int] | None = None,
        env: Mapping[str, str] | None = None,
        base_env: Mapping[str, str] | None = None,
        tls: LocalCA | None = None,
        service_ports: Mapping[str, int] | None = None,
    ):
        # a test database (tests.support.Database) carries its logins: each process gets its own
        self.database = getattr(database, "logins", database)
        self.tokens = tokens
        self.log_dir = log_dir
        self.ports = dict(ports or port_table(free=True))
        self.services = {name: name for name in self.ports}  # process name -> service it runs
        self.env = dict(env or {})
        self.base_env = dict(base_env if base_env is not None else clean_env())
        self.tls = tls
        self.service_ports = dict(service_ports or {})
        if tls is not None:
            for name in self.ports:
                self.service_ports.setdefault(name, free_port())
        self.procs: dict[str, subprocess.Popen] = {}

    def database_url(self, service: str) -> str:
        """The DSN `service` connects with: its own login role (`database` is the suite's Logins), or
        the one URL given."""
        return self.database.service_url(service) if isinstance(self.database, Logins) else self.database

    @property
    def client_tls(self) -> ClientTls | None:
        """What a client of the suite needs: the local CA to verify the servers by (None: plaintext)."""
        return ClientTls(self.tls.ca_file) if self.tls is not None else None

    def addr(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def service_addr(self, name: str) -> str:
        """Where the other services call process `name`: its mutual-TLS port with TLS, else its port."""
        return f"127.0.0.1:{self.service_ports[name]}" if self.tls is not None else self.addr(name)

    def names_of(self, service: str) -> list[str]:
        return [n for n, s in self.services.items() if s == service]

    def target(self, service: str) -> str:
        """The gRPC target of every process of `service` (one address, or an `ipv4:` list)."""
        names = self.names_of(service)
        if len(names) <= 1:
            return self.service_addr(names[0]) if names else ""
        return "ipv4:" + ",".join(self.service_addr(n) for n in names)

    def add_replica(self, service: str, name: str, port: int | None = None) -> None:
        """Put another process of `service` in the table (started by `start(name)`); processes
        started from now on call all replicas."""
        self.services[name] = service
        self.ports[name] = port or self.ports.get(name) or free_port()
        if self.tls is not None:
            self.service_ports.setdefault(name, free_port())

    def env_for(self, name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        service = self.services[name]
        env = dict(self.base_env)
        env.update(
            {
                "ANPR_DATABASE_URL": self.database_url(service),
                # the embedded database's logins and firearms' log key and checkpoint file live here
                "ANPR_DATA_DIR": str(self.log_dir),
                "ANPR_GRPC_HOST": "127.0.0.1",
                "ANPR_GRPC_PORT": str(self.ports[name]),
                **self.tokens.env(),
                "OTEL_SERVICE_NAME": f"anpr-{service}",
                **{key: self.target(svc) for key, svc in ADDRESS_SETTINGS.items() if self.names_of(svc)},
            }
        )
        if self.tls is not None:
            env.update(
                {
                    "ANPR_SERVICE_PORT": str(self.service_ports[name]),
                    "ANPR_TLS_CERT_FILE": str(self.tls.cert_file),
                    "ANPR_TLS_KEY_FILE": str(self.tls.key_file),
                    "ANPR_TLS_CLIENT_CA_FILE": str(self.tls.ca_file),
                    "ANPR_TLS_CA_FILE": str(self.tls.ca_file),
                }
            )
        env.update(self.env)
        env.update(extra or {})
        return env

    def check_settings(self) -> None:
        """Refuse, before starting anything, an ANPR_* variable no service of the suite reads (a
        misspelling): every service would refuse to start with it."""
        check_settings({**self.base_env, **self.env})

    def start(self, name: str, env: Mapping[str, str] | None = None) -> subprocess.Popen:
        """Start process `name` (`anpr serve <its service>`); its output is appended to its log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(name), "ab") as log:
            serve = [sys.executable, "-m", "cli", "serve", self.services[name]]
            proc = subprocess.Popen(
                [sys.executable, "-m", "cli.suite.pdeathsig", str(os.getpid()), *serve],
                cwd=ROOT,
                env=self.env_for(name, env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def start_replica(self, service: str, name: str) -> None:
        """Another process of `service`, listening on its own port."""
        self.add_replica(service, name)
        self.start(name)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log(self, name: str) -> str:
        try:
            return self.log_path(name).read_text(errors="replace")
        except OSError:
            return ""

    async def wait_serving(self, name: str, timeout: float = 60.0) -> None:  # noqa: ASYNC109 (a deadline named in the error, not a cancel scope)
        proc = self.procs[name]
        if not await wait_serving(
            self.addr(name), alive=lambda: proc.poll() is None, within_s=timeout, tls=self.client_tls
        ):
            state = (
                f"exited with code {proc.returncode}"
                if proc.poll() is not None
                else f"not SERVING after {timeout:.0f} s"
            )
            raise LaunchError(f"{name} {state}; log {self.log_path(name)}:\n{self.log(name)[-3000:]}")

    async def start_all(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109 (a deadline named in the error, not a cancel scope)
        """Start every process in the table (replicas too) and wait until all are SERVING."""
        self.check_settings()
        for name in self.services:
            self.start(name)
        for name in self.services:
            await self.wait_serving(name, timeout)

    def kill(self, name: str) -> None:
        """SIGKILL to the process and its workers: a crash, with no chance to clean up."""
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    async def restart(self, name: str) -> None:
        self.start(name)
        await self.wait_serving(name)

    def terminate(self, names: list[str] | None = None, grace: float = 20.0) -> dict[str, int]:
        """SIGTERM (as Kubernetes sends) to `names` (default all), then wait up to `grace` seconds
        for each; one that ignores it is killed (code -9). Returns the exit codes."""
        names = list(self.procs) if names is None else names
        procs = {n: self.procs.pop(n) for n in names if n in self.procs}
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {}
        for name, proc in procs.items():
            try:
                codes[name] = proc.wait(grace)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop within {grace:.0f} s of SIGTERM; killing it", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                codes[name] = proc.wait()
        return codes

    async def stop(self, name: str, timeout: float = 20.0) -> int:  # noqa: ASYNC109 (a deadline named in the error, not a cancel scope)
        """SIGTERM one process; its exit code. (Waits off the event loop, so that servers in this
        process, such as a test's OTLP collector, keep answering meanwhile.)"""
        return (await asyncio.to_thread(self.terminate, [name], timeout))[name]

    async def stop_all(self, timeout: float = 20.0) -> dict[str, int]:  # noqa: ASYNC109 (a deadline named in the error, not a cancel scope)
        return await asyncio.to_thread(self.terminate, None, timeout)
