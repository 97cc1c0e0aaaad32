"""Server bootstrap shared by the four services.

Start: typed settings -> logging and tracing -> pool -> gRPC server listening with health
NOT_SERVING (service calls get UNAVAILABLE) -> the login checked (never a superuser or the owner)
and the schema's migrations all applied (`anpr migrate` applies them, as the owner: until then
health stays NOT_SERVING and the log names `anpr migrate`) -> the service's own start (load state,
background tasks) -> health SERVING. While PostgreSQL is unreachable, each step is retried with
backoff.

Serving: a watch probes the database (every few seconds, and at once when a handler meets an
outage); health is NOT_SERVING while it is unreachable and SERVING again when it is back.

Stop (SIGTERM or SIGINT): health NOT_SERVING -> server.stop(grace) -> the service drains its
queues -> channels closed -> pool closed -> spans flushed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.trace import TracerProvider

from anpr.field_limits import compile_checkers
from anpr.runtime import dbroles, metrics, pg, reflection, tls, whoami
from anpr.runtime.auth import AuthInterceptor, Role, bearer_interceptors
from anpr.runtime.boundary import BoundaryInterceptor
from anpr.runtime.config import ConfigError, ServiceSettings, load, reject_unknown_variables
from anpr.runtime.failures import LOOP_POLICY, Refused, describe, is_outage
from anpr.runtime.identity import HEALTH_NAME as IDENTITY_HEALTH
from anpr.runtime.identity import Identity
from anpr.runtime.relay import OutboxRecord
from anpr.runtime.streams import StreamGuard
from anpr.runtime.tasks import Tasks
from anpr.runtime.telemetry import current_traceparent, setup_logging, setup_tracing
from anpr.v1 import types_pb2

log = logging.getLogger(__name__)
SCHEMA_POLL_S = 5.0  # longest wait between looks at a schema that is behind (anpr migrate not run yet)

# Messages up to 8 MiB (a batch of reads with plate patches); bigger ones get RESOURCE_EXHAUSTED.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.keepalive_time_ms", 30_000),
    # Reconnect to a restarted peer within seconds, not gRPC's default of up to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]

# Long-lived streams (terminals on mobile networks): the server pings idle connections and drops
# dead ones within about 30 s, and lets clients ping as often as every 5 s to notice a dead link.
SERVER_KEEPALIVE = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_pings_without_data", 0),
]


UNTRACED_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


def traced(details: grpc.HandlerCallDetails) -> bool:
    """Probes and reflection are not traced: they are noise, and the instrumentation's stream wrapper
    breaks handlers that answer with context.write(), as the health servicer's Watch does. (One
    prefix test per call: the instrumentation's own filters split the method name several times.)"""
    return not details.method.startswith(UNTRACED_PREFIXES)


class Component(Protocol):
    """What a service builds: its servicer, plus start (after migrations) and stop (drain)."""

    servicer: Any

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Runtime:
    """Dependencies handed to a service's build function."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    database_url: str
    tracer_provider: TracerProvider
    schema: str = "public"
    # The server's health servicer: a component may report a named detail of its own (firearms'
    # duty rota), beside the service's overall status that the runtime owns.
    health: Any = None
    # The process's background tasks, by name (anpr.runtime.tasks): a component starts its jobs here;
    # a critical one that fails turns the service NOT_SERVING.
    tasks: Tasks = field(default_factory=Tasks)
    # This process's name among its service's replicas, the same when it is started again in its
    # place (host name and port; see RunningService.start): outbox leases are held under it.
    instance: str = ""
    # Verifies callers, and gives this service's own token for its calls to the others.
    identity: Identity | None = None
    _channels: list[aio.Channel] = field(default_factory=list)
    _relay_channels: dict[str, aio.Channel] = field(default_factory=dict)  # by target (relay_call)
    _listeners: list[pg.Listener] = field(default_factory=list)

    async def listener(self) -> pg.Listener:
        """A dedicated, self-restoring connection for LISTEN (outside the pool; closed at stop)."""
        listener = pg.Listener(self.database_url, self.schema)
        await listener.connect()
        self._listeners.append(listener)
        return listener

    def channel(self, target: str) -> aio.Channel:
        """A traced channel to another service (closed at stop), each call carrying this service's
        own access token (client credentials); mutual TLS when this service has a certificate (the
        target is then the peer's service port)."""
        token = self.identity.service_token()
        interceptors = [*aio_client_interceptors(tracer_provider=self.tracer_provider), *bearer_interceptors(token)]
        return self._open(target, interceptors)

    def relay_call(
        self,
        target: str,
        method: str,
        response_deserializer: Callable[[bytes], Any],
        answered: Callable[[Any], int],
        deadline_s: float = 10.0,
    ) -> RelayCall:
        """An outbox relay's delivery to `method` of another service (see RelayCall), on one channel
        per target without client interceptors: grpc.aio runs a task per intercepted call, a fifth of
        a call's client-side CPU (benchmarks/call_bench.py). `answered`: how many items the answer
        accounts for; `deadline_s`: each call's."""
        if target not in self._relay_channels:
            self._relay_channels[target] = self._open(target, [])
        call = self._relay_channels[target].unary_unary(
            method, request_serializer=None, response_deserializer=response_deserializer
        )
        return RelayCall(call, self.identity.service_token(), answered, method, deadline_s)

    def _open(self, target: str, interceptors: list) -> aio.Channel:
        s = self.settings
        if s.tls:
            creds = tls.ClientTls(s.tls_ca_file, s.tls_cert_file, s.tls_key_file).credentials()
            channel = aio.secure_channel(target, creds, options=CHANNEL_OPTIONS, interceptors=interceptors)
        else:
            channel = aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)
        self._channels.append(channel)
        return channel

    async def close(self) -> None:
        await self.tasks.stop(grace_s=5)
        for ch in self._channels:
            await ch.close()
        for listener in self._listeners:
            await listener.close()
        await self.pool.close()


def freeze_start_up_objects() -> None:
    """Collect once, then move every object alive after start-up (modules, the contract's classes,
    settings, matcher's index and profiles) out of the collector's sight (gc.freeze). Without this a
    full collection walks all of them while the process serves: 36-41 ms with the loop stopped in
    matcher during a benchmark, every alert of those moments that much late (docs/performance.md).
    Objects made later are collected as before, and a frozen object is still freed when its last
    reference goes (reference counting): only a cycle of start-up objects would stay. (Checked for
    matcher's first index, which a full reload replaces: memory back to the same level after each
    reload, with and without the freeze.)"""
    gc.collect()
    gc.freeze()


class RelayCall:
    """An outbox relay's delivery (an `outbox.Deliver`): the records' payloads, each already the
    encoding of items of the request's repeated field, concatenated into one request; sent with this
    service's current token and the current span's trace context (the relay's delivery span is the
    parent of the receiver's server span, as with the tracing interceptor), waiting for the peer to
    be ready. An answer for fewer items than were sent means a record the receiver could not read:
    `Refused`, so that the relay splits the batch and sets the culprit aside."""

    __slots__ = ("_answered", "_call", "_deadline_s", "_method", "_token")

    def __init__(
        self,
        call: aio.UnaryUnaryMultiCallable,
        token: Callable[[], Awaitable[str]],
        answered: Callable[[Any], int],
        method: str,
        deadline_s: float = 10.0,
    ):
        self._call = call
        self._deadline_s = deadline_s
        self._token = token
        self._answered = answered
        self._method = method

    async def __call__(self, records: Sequence[OutboxRecord]) -> None:
        response = await self.send(b"".join(r.payload for r in records))
        sent, answered = sum(r.records for r in records), self._answered(response)
        if answered != sent:
            raise Refused(f"{self._method} answered for {answered} of {sent} records")

    async def send(self, request: bytes) -> Any:
        """The call itself: `request` encoded, the answer decoded."""
        metadata = [("authorization", f"Bearer {await self._token()}")]
        traceparent = current_traceparent()
        if traceparent:
            metadata.append(("traceparent", traceparent))
        return await self._call(request, timeout=self._deadline_s, metadata=metadata, wait_for_ready=True)


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # "ingest"
    module: str  # "services.ingest": `python -m <module>` runs the service
    grpc_service: str  # "anpr.v1.IngestService"
    schema: str
    migrations: Path
    settings_cls: type[ServiceSettings]
    method_roles: Mapping[str, frozenset[Role]]  # RPC short name -> roles allowed
    add_servicer: Callable[[Any, aio.Server], None]
    build: Callable[[Runtime], Component]  # the component's constructor

    def full_method_roles(self) -> dict[str, frozenset[Role]]:
        descriptor = types_pb2.DESCRIPTOR.pool.FindServiceByName(self.grpc_service)
        rpcs = {m.name for m in descriptor.methods}
        missing = rpcs - set(self.method_roles)
        unknown = set(self.method_roles) - rpcs
        if missing or unknown:
            raise ConfigError(
                f"{self.name}: roles must be declared for exactly the RPCs of "
                f"{self.grpc_service} (missing {sorted(missing)}, unknown {sorted(unknown)})"
            )
        return {f"/{self.grpc_service}/{k}": v for k, v in self.method_roles.items()}


class RunningService:
    """One service in this process: start() returns the bound port; stop() shuts down in order."""

    def __init__(self, spec: ServiceSpec, settings: ServiceSettings):
        self.spec = spec
        self.settings = settings
        self.port: int | None = None
        self.service_port: int | None = None  # mutual TLS, with TLS only
        self.health_port: int | None = None
        self.ready = False
        self.broken: str | None = None  # the name of a critical background task that failed
        self._health_server: aio.Server | None = None
        self._sampler: metrics.Sampler | None = None
        self._embedded = None
        self._server: aio.Server | None = None
        self._health = health_aio.HealthServicer()
        self._component: Component | None = None
        self._runtime: Runtime | None = None
        self._provider: TracerProvider | None = None
        self._watch: DatabaseWatch | None = None

    async def start(self) -> int:
        spec, settings = self.spec, self.settings
        method_roles = {**spec.full_method_roles(), **whoami.METHOD_ROLES}
        identity = Identity.of(settings, self._identity_fresh)
        self._provider = setup_tracing(f"anpr-{spec.name}")
        metrics.setup_metrics(settings.grpc_host, settings.metrics_port)
        url, self._embedded = await asyncio.to_thread(
            pg.service_database_url, settings.database_url, settings.data_dir, spec.schema
        )
        # connects once the database is reachable and its schema current (pg.warm in _start_when_reachable)
        pool = await pg.create_pool(url, spec.schema, min_size=0, max_size=settings.db_pool_size)
        self._runtime = Runtime(
            settings,
            pool,
            url,
            self._provider,
            spec.schema,
            health=self._health,
            tasks=Tasks(self._task_failed),
            identity=identity,
        )
        await self._identity_fresh(False)
        identity.start(self._runtime.tasks)  # the issuer's keys, fetched now and kept fresh
        self._component = spec.build(self._runtime)

        self._watch = DatabaseWatch(pool, self._set_health)
        boundary = BoundaryInterceptor(spec.grpc_service, compile_checkers(settings), self._watch.poke)
        server = aio.server(
            interceptors=[  # the first is the outermost: auth drives the response streams (see its doc)
                AuthInterceptor(
                    identity.verifier,
                    method_roles,
                    ready=lambda: self.ready,
                    service_needs_client_cert=settings.tls,
                    streams=StreamGuard(settings.max_streams_per_identity, settings.stream_write_timeout_s),
                ),
                aio_server_interceptor(tracer_provider=self._provider, filter_=traced),
                boundary,
            ],
            options=[*CHANNEL_OPTIONS[:2], *SERVER_KEEPALIVE, ("grpc.so_reuseport", int(settings.reuse_port))],
        )
        spec.add_servicer(self._component.servicer, server)
        whoami.add_to_server(server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        health = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        reflection.enable([spec.grpc_service, whoami.SERVICE, health], server)
        await self._set_health(False)
        self._listen(server)
        await server.start()
        self._server = server
        await self._start_health_server()
        self._runtime.instance = self._instance_name()
        log.info(
            "listening",
            extra={
                "port": self.port,
                "service_port": self.service_port,
                "health_port": self.health_port,
                "tls": settings.tls,
            },
        )

        await self._start_when_reachable(url)
        self._sampler = metrics.Sampler(pool, spec.name)
        self._sampler.start(self._runtime.tasks)
        freeze_start_up_objects()
        self.ready = True
        await self._set_health(True)
        self._runtime.tasks.start("database-watch", self._watch.run())
        log.info("serving", extra={"grpc_service": spec.grpc_service, "port": self.port})
        return self.port

    def _instance_name(self) -> str:
        """Host name and port: what a process started in the place of a killed one has too (a pod's
        container restarted by the kubelet keeps its pod's name), and no other live process has (the
        port is bound). Workers sharing a port (ANPR_WORKERS) add their process id: no two are alike,
        and none takes a killed one's leases back before they expire."""
        name = f"{socket.gethostname()}:{self.port}"
        return f"{name}:{os.getpid()}" if self.settings.reuse_port else name

    async def _task_failed(self, name: str, exc: BaseException) -> None:
        """A background job the service cannot do without has failed (logged by Tasks): from now on
        health says NOT_SERVING, so that probes see it and the orchestrator restarts the process."""
        self.broken = name
        await self._set_health(False)

    async def _identity_fresh(self, fresh: bool) -> None:
        """Health detail `anpr.identity`: whether the issuer's keys were fetched the last time we tried
        (the service goes on with the last keys it has; before the first, calls get UNAVAILABLE)."""
        status = health_pb2.HealthCheckResponse.SERVING if fresh else health_pb2.HealthCheckResponse.NOT_SERVING
        await self._health.set(IDENTITY_HEALTH, status)

    async def _set_health(self, serving: bool) -> None:
        serving = serving and self.broken is None
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", self.spec.grpc_service):
            await self._health.set(name, status)

    def _listen(self, server: aio.Server) -> None:
        """The main port (TLS when configured) and, with TLS, the service port (mutual TLS)."""
        s = self.settings
        if s.tls:
            self.port = _bind(
                server,
                s.grpc_host,
                s.grpc_port,
                "ANPR_GRPC_PORT",
                tls.server_credentials(s.tls_cert_file, s.tls_key_file),
            )
            self.service_port = _bind(
                server,
                s.grpc_host,
                s.service_port,
                "ANPR_SERVICE_PORT",
                tls.server_credentials(s.tls_cert_file, s.tls_key_file, s.tls_client_ca_file, require_client_cert=True),
            )
        else:
            self.port = _bind(server, s.grpc_host, s.grpc_port, "ANPR_GRPC_PORT")

    async def _start_health_server(self) -> None:
        """grpc.health.v1 alone on a plaintext port, for Kubernetes probes (they cannot do TLS)."""
        if self.settings.health_port is None:
            return
        server = aio.server(options=[("grpc.so_reuseport", int(self.settings.reuse_port))])
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        self.health_port = _bind(server, self.settings.grpc_host, self.settings.health_port, "ANPR_HEALTH_PORT")
        await server.start()
        self._health_server = server

    async def _start_when_reachable(self, url: str) -> None:
        """Wait until the schema is current (its migrations are `anpr migrate`'s, run by the owner),
        then run the component's start, retrying both (health NOT_SERVING) while PostgreSQL is
        unreachable: a connection lost half-way through start-up is an outage too.

        A login that may not run a service (a superuser, the owner) stops the start at once."""
        attempt = 0
        while True:
            try:
                pending = await self._pending_migrations(url)
                if not pending:
                    log.info("migrations ready", extra={"schema": self.spec.schema})
                    await pg.warm(self._runtime.pool)
                    await self._component.start()
                    return
                attempt += 1
                delay = min(SCHEMA_POLL_S, LOOP_POLICY.backoff(attempt))
                if attempt == 1 or attempt % 10 == 0:
                    log.warning(
                        "database schema is behind this version: run `anpr migrate` (as the owner)",
                        extra={"schema": self.spec.schema, "pending": pending, "retry_in_s": delay},
                    )
            except dbroles.LoginRefused as exc:
                raise ConfigError(f"ANPR_DATABASE_URL: {exc}") from None
            except Exception as exc:
                if not is_outage(exc):
                    raise  # a bug: the start fails, with its traceback
                attempt += 1
                delay = LOOP_POLICY.backoff(attempt)
                log.warning("waiting for PostgreSQL", extra={"error": describe(exc), "retry_in_s": delay})
            await asyncio.sleep(delay)

    async def _pending_migrations(self, url: str) -> list[str]:
        """Check the login, and the migrations of this version not yet applied (on a connection of
        its own, not the pool's: a pooled connection opened before the schema existed would keep
        resolving names without it)."""
        conn = await asyncio.wait_for(pg.connect(url, self.spec.schema), 10)
        try:
            await dbroles.check_service_login(conn, self.spec.schema)
            return await pg.pending_migrations(conn, self.spec.schema, self.spec.migrations)
        finally:
            await conn.close()

    async def stop(self) -> None:
        log.info("shutting down")
        await self._health.enter_graceful_shutdown()
        if self._runtime is not None:
            await self._runtime.tasks.cancel("database-watch")
            await self._runtime.tasks.cancel("metrics-sampler")
        if self._sampler is not None:
            self._sampler.stop()
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace_s)
        if self._health_server is not None:
            await self._health_server.stop(0)
        if self._component is not None:
            await self._component.stop()
        if self._runtime is not None:
            await self._runtime.close()
        if self._provider is not None:
            self._provider.force_flush()
        if self._embedded is not None:
            self._embedded.cleanup()
        log.info("stopped")


class DatabaseWatch:
    """Health follows the database: a probe every `interval_s` (faster while it is down) or at
    once when poked (a handler met an outage); `set_health(False)` while unreachable."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        set_health: Callable[[bool], Any],
        *,
        interval_s: float = 5.0,
        down_interval_s: float = 0.5,
        timeout_s: float = 2.0,
    ):
        self._pool = pool
        self._set_health = set_health
        self._interval, self._down_interval, self._timeout = interval_s, down_interval_s, timeout_s
        self._poked = asyncio.Event()
        self.reachable = True

    def poke(self) -> None:
        self._poked.set()

    async def probe(self) -> bool:
        try:
            await asyncio.wait_for(self._pool.fetchval("SELECT 1"), self._timeout)
            return True
        except Exception as exc:
            if is_outage(exc):
                return False
            raise

    async def run(self) -> None:
        """Until cancelled (a task of the runtime's)."""
        while True:
            try:
                await asyncio.wait_for(self._poked.wait(), self._interval if self.reachable else self._down_interval)
            except TimeoutError:
                pass
            self._poked.clear()
            reachable = await self.probe()
            if reachable != self.reachable:
                self.reachable = reachable
                log.warning("database reachable again" if reachable else "database unreachable: NOT_SERVING")
                await self._set_health(reachable)


def _bind(
    server: aio.Server, host: str, port: int, setting: str, credentials: grpc.ServerCredentials | None = None
) -> int:
    """Add a listening port (TLS with `credentials`); stop naming the setting when it is taken."""
    address = f"{host}:{port}"
    try:
        bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise ConfigError(f"ANPR_GRPC_HOST/{setting}: cannot listen on {address} (in use by another process?)")
    return bound


def supervise_workers(spec: ServiceSpec, settings: ServiceSettings) -> int:
    """Run `settings.workers` processes of the service on one port; SIGTERM/SIGINT go to all of
    them. If one dies the others are stopped too and the exit code says so (the orchestrator
    restarts the pod)."""
    if settings.grpc_port == 0:
        raise ConfigError("ANPR_WORKERS > 1 needs a fixed ANPR_GRPC_PORT (not 0)")
    env = dict(os.environ, ANPR_WORKERS="1", ANPR_REUSE_PORT="1")
    procs = []
    for i in range(settings.workers):  # one Prometheus endpoint per worker: metrics port + i
        if settings.metrics_port is not None:
            env["ANPR_METRICS_PORT"] = str(settings.metrics_port + i)
        procs.append(subprocess.Popen([sys.executable, "-m", spec.module], env=env))
    log.info("workers started", extra={"workers": [p.pid for p in procs], "port": settings.grpc_port})

    def forward(signum, _frame):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    while procs:
        pid, status = os.wait()
        done = next((p for p in procs if p.pid == pid), None)
        if done is None:
            continue
        procs.remove(done)
        done.returncode = os.waitstatus_to_exitcode(status)
        if done.returncode != 0 and code == 0:
            code = done.returncode if done.returncode > 0 else 1
            log.error("worker exited; stopping the others", extra={"pid": pid, "exit_code": done.returncode})
            forward(signal.SIGTERM, None)
    return code


def main(spec: ServiceSpec, suite_variables: Collection[str] = ()) -> int:
    """`anpr serve <service>`: one process, or a supervisor of ANPR_WORKERS processes. Returns the
    exit status: 2 when a setting is missing or wrong (the message names it, on stderr).

    An ANPR_* variable that neither this service nor a sibling (`suite_variables`) reads stops it: a
    misspelt setting is never ignored, while one environment may serve the whole suite."""
    try:
        reject_unknown_variables(spec.settings_cls, also_known=suite_variables)
        settings = load(spec.settings_cls)
        setup_logging(spec.name, settings.log_level)
        if settings.workers > 1:
            return supervise_workers(spec, settings)
        asyncio.run(serve(spec, settings))
    except ConfigError as exc:
        print(f"anpr {spec.name}: {exc}", file=sys.stderr)
        return 2
    return 0


async def serve(spec: ServiceSpec, settings: ServiceSettings | None = None) -> None:
    """Run one service until SIGTERM or SIGINT."""
    if settings is None:
        settings = load(spec.settings_cls)
        setup_logging(spec.name, settings.log_level)
    running = RunningService(spec, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.create_task(running.start())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a failed start raises here
            await stopping
        else:  # SIGTERM while still waiting for the database
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
    finally:
        await running.stop()
        if running._provider is not None:
            running._provider.shutdown()
        metrics.shutdown_metrics()
