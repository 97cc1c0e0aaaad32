"""`anpr terminal`: an in-car terminal or control-room screen in a plain terminal window.

It subscribes as a unit (or a control room's force or area), prints each alert with its warning
markers and any approximate match standing out, notices a dead link through the heartbeats, and
resumes after a drop from the last sequence it saw (nothing is missed). While it runs, commands
on standard input act on an alert by its number (the sequence shown after ALERT #):

    a N                  accept alert N (acted on)
    r N CODE [text]      reject alert N with a reason code (stopped, not_found, wrong_vehicle, ...)
    s N                  seen
    p N [reason]         save alert N's plate patch as plate-N.jpg (the reason is audited)
    help                 these commands
    q                    quit (as Ctrl-C does; the end of standard input does not stop the screen)
"""

from __future__ import annotations

import asyncio
import os
import sys

import grpc

from anpr.runtime.auth import Role
from anpr.runtime.tls import ClientTls
from anpr.v1 import notify_pb2, notify_pb2_grpc, types_pb2
from cli.client import CommandError, channel, rpc_error, save_file, target_of

T = types_pb2
DEFAULT_PATCH_REASON = "confirm the read before acting on the alert"  # `p N` without a reason of its own
OUTCOMES = {"a": T.ALERT_OUTCOME_ACCEPTED, "r": T.ALERT_OUTCOME_REJECTED, "s": T.ALERT_OUTCOME_SEEN}
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
}
BOLD, RED, YELLOW, RESET = "\033[1m", "\033[31m", "\033[33m", "\033[0m"
QUIT = {"q", "quit", "exit"}
HELP = (
    "?? commands: a N (accept) | r N CODE [text] (reject: stopped, not_found, wrong_vehicle, misread ...)"
    " | s N (seen) | p N [reason] (save the plate patch) | q (quit)"
)


def style(text: str, *codes: str, colour: bool) -> str:
    return "".join(codes) + text + RESET if colour else text


def format_alert(alert: T.Alert, colour: bool = False) -> str:
    hit, entry, read = alert.hit, alert.hit.entry, alert.hit.read
    if hit.match_kind == T.MATCH_KIND_EXACT:
        kind = "EXACT"
    else:
        positions = ", ".join(str(p + 1) for p in hit.differing_positions)
        kind = style(
            f"APPROXIMATE: listed as {entry.vrm}, character {positions} differs, score {hit.score:.2f}"
            " - confirm the plate",
            BOLD,
            YELLOW,
            colour=colour,
        )
    if hit.tier == T.MATCH_TIER_POSSIBLE:
        kind = style("POSSIBLE MATCH (control room): ", BOLD, YELLOW, colour=colour) + kind
    markers = ", ".join(T.WarningMarker.Name(m).removeprefix("WARNING_MARKER_") for m in entry.warning_markers)
    where = hit.location if hit.HasField("location") else read.location
    lines = [
        style(f"ALERT #{alert.sequence}  {read.vrm}", BOLD, colour=colour)
        + f"  [{kind}]"
        + ("  [HISTORICAL]" if hit.historical else "")
        + f"  action: {T.Action.Name(entry.action).removeprefix('ACTION_').replace('_', ' ')}",
        "    warning markers: " + (style(markers, BOLD, RED, colour=colour) if markers else "none"),
        f"    reason: {entry.reason}",
        f"    vehicle: {entry.vehicle.colour} {entry.vehicle.make} {entry.vehicle.model}"
        + (f"  (read says different {', '.join(hit.vehicle_mismatches)})" if hit.vehicle_mismatches else ""),
        f"    PNC {entry.pnc_id or '-'}  source {entry.source_reference or '-'}  list: {hit.hotlist.name}",
        f"    read by {read.camera_id} at {read.captured_at.ToDatetime():%H:%M:%S} UTC"
        f"  {where.latitude:.4f},{where.longitude:.4f}" + ("  (camera position)" if hit.location_from_camera else ""),
    ]
    if hit.evidence:
        lines.append(f"    why: {why(hit)}")
    if entry.operational_instructions:
        lines.append(f"    instructions: {entry.operational_instructions}")
    if entry.information:
        lines.append(f"    information: {entry.information}")
    if alert.firearms_commander_informed:
        lines.append(
            style("    FIREARMS: the duty Tactical Firearms Commander has been informed", BOLD, RED, colour=colour)
        )
    return "\n".join(lines)


def why(hit: T.Hit, most: int = 5) -> str:
    """The evidence behind a hit's score, strongest first ("score 0.97: the read is the listed VRM
    (+6.0); colour agrees (blue, 14.0% of cars) (+1.7)"), at most `most` of them."""
    shown = sorted(hit.evidence, key=lambda c: -abs(c.log_odds))
    parts = [f"{c.detail} ({c.log_odds:+.1f})" for c in shown[:most]]
    if len(shown) > most:
        parts.append(f"{len(shown) - most} more ({sum(c.log_odds for c in shown[most:]):+.1f})")
    return f"score {hit.score:.2f}: " + "; ".join(parts)


class Terminal:
    def __init__(
        self,
        target: str,
        token: str,
        subscription: notify_pb2.Subscription,
        out=sys.stdout,
        colour: bool = False,
        tls: ClientTls | None = None,
    ):
        self._target = target
        self._tls = tls
        self._token = token
        self._subscription = subscription
        self._out = out
        self._colour = colour
        self.after = 0
        self._alerts: dict[int, str] = {}  # sequence -> alert id

    def say(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    async def run(self, commands=None) -> None:
        """Follow the alerts, acting on `commands` (lines) meanwhile, until `q` or an error."""
        async with channel(self._target, self._token, self._tls) as ch:
            stub = notify_pb2_grpc.NotifyServiceStub(ch)
            follow = asyncio.create_task(self._follow(stub))
            worker = asyncio.create_task(self._commands(stub, commands)) if commands is not None else None
            try:
                await asyncio.wait({t for t in (follow, worker) if t}, return_when=asyncio.FIRST_COMPLETED)
                if follow.done():
                    return follow.result()  # raises a refusal
                if worker.result():  # quit
                    return
                await follow  # the end of the commands (standard input closed): go on following
            finally:
                for task in (follow, worker):
                    if task is not None:
                        task.cancel()

    async def _follow(self, stub) -> None:
        delay = 0.5
        while True:
            try:
                await self._stream(stub)
            except grpc.aio.AioRpcError as err:
                if err.code() not in RETRYABLE:
                    raise refusal(err) from None
                self.say(f"-- link lost ({err.code().name}); resuming after alert #{self.after} --")
            except TimeoutError:
                self.say(f"-- no heartbeat; resuming after alert #{self.after} --")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _stream(self, stub) -> None:
        request = notify_pb2.SubscribeRequest(subscription=self._subscription, after_sequence=self.after)
        call = stub.Subscribe(iter([request]), wait_for_ready=True)
        heartbeat = 30.0
        try:
            while True:
                resp = await asyncio.wait_for(call.read(), heartbeat * 3)
                if resp is grpc.aio.EOF:
                    return
                kind = resp.WhichOneof("event")
                if kind == "opened":
                    heartbeat = resp.opened.heartbeat_seconds or heartbeat
                    self.after = resp.opened.after_sequence
                    self.say(f"-- live: {self._describe()} (log at #{resp.opened.sequence}) --")
                elif kind == "heartbeat":
                    self.after = max(self.after, resp.heartbeat.sequence)
                elif kind == "alert":
                    self.after = resp.alert.sequence
                    self._alerts[resp.alert.sequence] = resp.alert.alert_id
                    self.say(format_alert(resp.alert, self._colour))
        finally:
            call.cancel()

    def _describe(self) -> str:
        sub = self._subscription
        area = sub.WhichOneof("area")
        where = (
            f"within {sub.circle.radius_km:g} km of {sub.circle.center.latitude:.4f},{sub.circle.center.longitude:.4f}"
            if area == "circle"
            else "inside the drawn area"
            if area == "polygon"
            else f"force {sub.force}"
            if sub.force
            else "every force this token may see"  # the server scopes it (docs/scope.md)
        )
        return f"unit {sub.unit_id or '-'} {where}"

    async def _commands(self, stub, lines) -> bool:
        """Act on each line; True once told to quit, False at the end of the lines."""
        async for line in lines:
            words = line.split()
            if words and words[0].lower() in QUIT:
                return True
            try:
                await self._command(stub, words)
            except grpc.aio.AioRpcError as err:
                self.say(f"!! {err.code().name}: {err.details()}")
        return False

    async def _command(self, stub, words: list[str]) -> None:
        if len(words) < 2 or words[0] not in {*OUTCOMES, "p"} or not words[1].isdigit():
            if words:  # (an empty line says nothing)
                self.say(HELP)
            return
        alert_id = self._alerts.get(int(words[1]))
        if alert_id is None:
            self.say(f"?? no alert #{words[1]} on this screen")
            return
        if words[0] == "p":
            reason = " ".join(words[2:]) or DEFAULT_PATCH_REASON  # audited with the officer
            resp = await stub.GetPlatePatch(
                notify_pb2.GetPlatePatchRequest(alert_id=alert_id, reason=reason), timeout=10
            )
            if not resp.plate_image:
                self.say(f"-- #{words[1]}: the camera sent no plate patch --")
                return
            path = await save_file(f"plate-{words[1]}.jpg", resp.plate_image)
            self.say(f"-- plate patch of #{words[1]} saved to {path} ({len(resp.plate_image)} bytes) --")
            return
        code = words[2] if words[0] == "r" and len(words) > 2 else ""
        resp = await stub.AcknowledgeAlert(
            notify_pb2.AcknowledgeAlertRequest(
                alert_id=alert_id, outcome=OUTCOMES[words[0]], reason_code=code, reason=" ".join(words[3:])
            ),
            timeout=10,
        )
        if resp.standing not in (OUTCOMES[words[0]], T.ALERT_OUTCOME_UNSPECIFIED):  # (a service before `standing`)
            self.say(
                f"-- #{words[1]}: you {_said(resp.standing)} it already; seen is not recorded (a decision stands) --"
            )
            return
        self.say(f"-- #{words[1]} {_said(OUTCOMES[words[0]])}" + (f" ({code})" if code else "") + " --")


def _said(outcome: int) -> str:
    """ALERT_OUTCOME_ACCEPTED as the screen says it: accepted."""
    return T.AlertOutcome.Name(outcome).removeprefix("ALERT_OUTCOME_").lower()


# The subscription's fields as this command's flags, for the service's refusals.
FLAGS = {
    "subscription.unit_id": "--unit",
    "subscription.force": "--force",
    "subscription.circle": "--lat and --lon (the unit's position)",
    "subscription.circle.center": "--lat and --lon",
    "subscription.circle.center.latitude": "--lat",
    "subscription.circle.center.longitude": "--lon",
    "subscription.circle.radius_km": "--radius-km",
}


def refusal(err: grpc.aio.AioRpcError) -> CommandError:
    """The service's refusal in the command's words: the flags, not the contract's field names."""
    return rpc_error(err, FLAGS)


async def stdin_lines():
    """Lines typed on standard input, without blocking the event loop."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line


def command(args) -> int:
    """`anpr terminal`: follow alerts until Ctrl-C."""
    sub = notify_pb2.Subscription(unit_id=args.unit or "", force=args.force or "")
    if (args.lat is None) != (args.lon is None):
        raise CommandError("give the unit's position as both --lat and --lon")
    if args.lat is not None and args.lon is not None:
        sub.circle.center.CopyFrom(types_pb2.GeoPoint(latitude=args.lat, longitude=args.lon))
        sub.circle.radius_km = args.radius_km
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    to = target_of(args, "notify", Role.TERMINAL if args.unit else Role.CONTROL_ROOM)
    screen = Terminal(to.address, to.token, sub, sys.stdout, colour=colour, tls=to.tls)
    try:
        asyncio.run(screen.run(stdin_lines()))
    except KeyboardInterrupt:
        pass
    return 0
