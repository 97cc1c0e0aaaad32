"""`anpr tfc`: the Tactical Firearms Commander's console, in a plain terminal.

It follows the firearms event stream (a commander sees the activations they have been told of; a
supervisor sees all), prints each event as it comes, with the firearms markers and acknowledgement
deadlines standing out, and reads one command a line. Free text (a stage of the NDM, a summary) is
asked for on its own prompt, so nothing needs quoting. Plain input and output only: it works over
ssh, in a pipe and under `script`; colour only on a terminal, and never with NO_COLOR set.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from datetime import datetime, timezone

import grpc

from anpr.runtime.auth import Role
from anpr.runtime.errors import field_violations_of
from anpr.runtime.tls import ClientTls
from anpr.v1 import firearms_pb2 as F
from anpr.v1 import firearms_pb2_grpc, identity_pb2, identity_pb2_grpc
from anpr.v1 import types_pb2 as T
from cli.client import channel, save_file, target_of

K = T.ActivationEventKind
PATCH_REASON = "confirm the read of the activation (NDM stage 1)"  # in the log entry of every view
HELP = """commands (ID: the first characters of an activation id are enough):
  list                 open activations you have been told of, deadlines first
  show ID              the activation, then its whole record page by page
  ack ID               acknowledge: you own it and the escalation stops
  decide ID STAGE      record one NDM stage (asks for the text, then the rationale)
                       STAGE: ethics, information, threat, powers, options, action
  close ID OUTCOME     ask to close (asks for a summary); OUTCOME: nfa, monitor, unarmed, armed
                       (unarmed and armed: with every stage and the ethics recorded)
  signoff ID           supervisors: sign off a closure asked for by someone else (asks for remarks)
  patch ID [HIT]       save the plate patch of the read (or of the sighting HIT) to plate-ID.jpg (logged)
  help | quit"""
STAGES = {
    "ethics": "code_of_ethics",
    "information": "information",
    "threat": "threat_assessment",
    "powers": "powers_and_policy",
    "options": "options",
    "action": "action_and_review",
}
OUTCOMES = {
    "nfa": T.NDM_OUTCOME_NO_FURTHER_ACTION,
    "monitor": T.NDM_OUTCOME_MONITOR,
    "unarmed": T.NDM_OUTCOME_UNARMED_INTERCEPT,
    "armed": T.NDM_OUTCOME_ARMED_DEPLOYMENT,
}
DEPLOYMENTS = (T.NDM_OUTCOME_ARMED_DEPLOYMENT, T.NDM_OUTCOME_UNARMED_INTERCEPT)
WAITING = (T.ACTIVATION_STATE_RAISED, T.ACTIVATION_STATE_ESCALATED, T.ACTIVATION_STATE_UNASSIGNED)
URGENT = {
    K.ACTIVATION_EVENT_KIND_RAISED,
    K.ACTIVATION_EVENT_KIND_ESCALATED,
    K.ACTIVATION_EVENT_KIND_ASSIGNED,
    K.ACTIVATION_EVENT_KIND_UNASSIGNED,
    K.ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED,
}


def name(enum, value: int, prefix: str) -> str:
    """An enum value as people read it: ACTION_DO_NOT_STOP_REPORT_SIGHTING -> DO NOT STOP REPORT SIGHTING."""
    return enum.Name(value).removeprefix(prefix).replace("_", " ") if value in enum.values() else str(value)


def hhmmss(ts) -> str:
    return ts.ToDatetime().strftime("%H:%M:%SZ")


def deadline(a: T.Activation) -> str:
    if not a.HasField("acknowledge_by"):
        return ""
    left = (a.acknowledge_by.ToDatetime(timezone.utc) - datetime.now(timezone.utc)).total_seconds()
    return f"ACKNOWLEDGE BY {hhmmss(a.acknowledge_by)} " + (f"(in {left:.0f} s)" if left >= 0 else "(OVERDUE)")


class Style:
    def __init__(self, out):
        self.on = out.isatty() and not os.environ.get("NO_COLOR")

    def alarm(self, text: str) -> str:
        return f"\x1b[1;31m{text}\x1b[0m" if self.on else text


def activation_block(a: T.Activation, style: Style) -> list[str]:
    hit, entry, read = a.hit, a.hit.entry, a.hit.read
    markers = ", ".join(name(T.WarningMarker, m, "WARNING_MARKER_") for m in entry.warning_markers) or "none"
    g = entry.grading
    match = "exact" if hit.match_kind == T.MATCH_KIND_EXACT else "LOOK-ALIKE (approximate)"
    lines = [
        f"    {read.vrm} ({match}) read by {read.camera_id} at {hhmmss(read.captured_at)}"
        f"  {read.location.latitude:.5f},{read.location.longitude:.5f}  {name(T.Direction, read.direction, 'DIRECTION_')}",
        "    " + style.alarm(f"MARKERS: {markers}") + f"   ACTION: {name(T.Action, entry.action, 'ACTION_')}",
        f"    reason: {entry.reason}",
        f"    vehicle: {entry.vehicle.colour} {entry.vehicle.make} {entry.vehicle.model}"
        + (f"  (read differs: {', '.join(hit.vehicle_mismatches)})" if hit.vehicle_mismatches else ""),
        f"    grading: {g.source_evaluation or '-'}/{g.intelligence_assessment or '-'}/{g.handling_code or '-'}"
        f"   PNC: {entry.pnc_id or '-'}   source ref: {entry.source_reference or '-'}",
        f"    force: {a.force}{' / ' + a.area if a.area else ''}   chain: {' > '.join(a.chain) or 'NOBODY ON DUTY'}"
        f"   read id (plate patch): {read.read_id}",
    ]
    lines += [
        f"    {label}: {text}"
        for label, text in (
            ("information", entry.information),
            ("instructions", entry.operational_instructions),
            ("CAD", entry.cad_information),
        )
        if text
    ]
    return lines


def format_event(a: T.Activation, e: T.ActivationEvent, style: Style) -> str:
    short, at = e.activation_id[:8], hhmmss(e.at)
    state = name(T.ActivationState, a.state, "ACTIVATION_STATE_")
    kind = e.kind
    if kind in (K.ACTIVATION_EVENT_KIND_RAISED, K.ACTIVATION_EVENT_KIND_ASSIGNED):
        head = f"!!! FIREARMS ACTIVATION {short} [{at}] -> {e.to_subject}   {deadline(a)}"
    elif kind == K.ACTIVATION_EVENT_KIND_ESCALATED:
        head = (
            f"!!! ESCALATED {short} [{at}] {e.from_subject} did not acknowledge by {hhmmss(e.deadline_missed)}"
            f" -> {e.to_subject} (level {e.level})   {deadline(a)}"
        )
    elif kind == K.ACTIVATION_EVENT_KIND_UNASSIGNED:
        head = f"!!! NOBODY ON DUTY for {a.force}: FIREARMS ACTIVATION {short} [{at}] is unassigned"
    elif kind == K.ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED:
        return style.alarm(f"!!! NOT ACKNOWLEDGED BY ANYONE {short} [{at}]: the chain is exhausted ({e.from_subject})")
    else:
        return plain_event(e, state)
    return "\n".join([style.alarm(head), *activation_block(a, style)])


def plain_event(e: T.ActivationEvent, state: str = "") -> str:
    short, at, kind = e.activation_id[:8], hhmmss(e.at), e.kind
    if kind == K.ACTIVATION_EVENT_KIND_ACKNOWLEDGED:
        return f"ACKNOWLEDGED {short} [{at}] by {e.actor}"
    if kind == K.ACTIVATION_EVENT_KIND_SIGHTING:
        r = e.sighting.read
        return (
            f"SIGHTING {short} [{at}] hit {e.sighting.hit_id[:8]} read by {r.camera_id} at {hhmmss(r.captured_at)}"
            f"  {r.location.latitude:.5f},{r.location.longitude:.5f}"
        )
    if kind == K.ACTIVATION_EVENT_KIND_DECISION_RECORDED:
        d = e.decision
        parts = [f"{label}: {getattr(d, field)}" for label, field in STAGES.items() if getattr(d, field)]
        parts += [f"rationale: {d.rationale}"] if d.rationale else []
        parts += [f"outcome: {name(T.NdmOutcome, d.outcome, 'NDM_OUTCOME_')}"] if d.outcome else []
        return f"DECISION {short} [{at}] by {e.actor}\n" + "\n".join(f"    {p}" for p in parts)
    if kind == K.ACTIVATION_EVENT_KIND_CLOSE_REQUESTED:
        return (
            f"AWAITING SIGN-OFF {short} [{at}] {e.actor} asks to close:"
            f" {name(T.NdmOutcome, e.outcome, 'NDM_OUTCOME_')}\n    summary: {e.summary}"
        )
    if kind == K.ACTIVATION_EVENT_KIND_PLATE_PATCH_VIEWED:
        return f"PLATE PATCH VIEWED {short} [{at}] by {e.actor}"
    if kind == K.ACTIVATION_EVENT_KIND_SIGNED_OFF:
        return f"CLOSED {short} [{at}] signed off by {e.actor}" + (f"\n    remarks: {e.remarks}" if e.remarks else "")
    return f"{name(K, kind, 'ACTIVATION_EVENT_KIND_')} {short} [{at}] {state}"


def _one_by_prefix(prefix: str, ids, what: str, missing: str) -> str:
    """The one id of `ids` that starts with `prefix`; ValueError when none (`missing`) or several."""
    found = [i for i in ids if i.startswith(prefix)] if prefix else []
    if len(found) > 1:
        raise ValueError(f"{prefix!r} matches {len(found)} {what}; give more characters")
    if not found:
        raise ValueError(missing)
    return found[0]


def refused(err: grpc.aio.AioRpcError) -> str:
    fields = field_violations_of(err)
    detail = "; ".join(f"{f}: {d}" for f, d in fields) if fields else err.details()
    return f"refused: {err.code().name}: {detail}"


def start_reader(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue) -> None:
    """Read stdin lines in a daemon thread (stdin stays blocking, so output never fails)."""

    def run() -> None:
        while line := sys.stdin.readline():
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\r\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=run, name="console-stdin", daemon=True).start()


class Console:
    def __init__(
        self,
        stub: firearms_pb2_grpc.FirearmsServiceStub,
        out,
        lines: asyncio.Queue,
        me: identity_pb2.WhoAmIResponse | None = None,
    ):
        self.stub = stub
        self.me = me or identity_pb2.WhoAmIResponse()  # who this console is (IdentityService.WhoAmI)
        self.out = out
        self.lines = lines
        self.style = Style(out)
        self.activations: dict[str, T.Activation] = {}
        self.prompt = ""
        self.started = datetime.now(timezone.utc)
        self._replayed: list[T.ActivationEvent] = []  # events from before it started, not shown yet
        self._replaying = True  # until the first stream's caught_up marker (or a live event)

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def ask(self, prompt: str) -> str:
        self.prompt = prompt
        self.out.write(prompt)
        self.out.flush()
        line = await self.lines.get()
        self.prompt = ""
        if line is None:
            raise EOFError
        return line.strip()

    def _show(self, a: T.Activation, e: T.ActivationEvent) -> None:
        self.say(("\n" if self.prompt else "") + format_event(a, e, self.style))
        if self.prompt:
            self.out.write(self.prompt)
            self.out.flush()

    def _show_replayed(self) -> None:
        """The events from before this console started, of the activations that still wait for
        someone (raised or escalated and not acknowledged, or unassigned), each with its
        activation as it stands now: a replayed RAISED of one acknowledged since is not shown
        (it was shown as overdue, with its deadline long past)."""
        self._replaying = False
        replayed, self._replayed = self._replayed, []
        for e in replayed:
            now = self.activations[e.activation_id]
            if now.state in WAITING:
                self._show(now, e)

    async def follow(self) -> None:
        """Apply and print every event; resume after the last one when the connection drops."""
        after = 0
        while True:
            try:
                call = self.stub.StreamActivations(
                    F.StreamActivationsRequest(after_sequence=after, from_start=True, mark_caught_up=True)
                )
                async for resp in call:
                    if resp.caught_up:  # the replay is over (on a resumed stream: nothing to do)
                        self._show_replayed()
                        continue
                    after = resp.event.sequence
                    self.activations[resp.activation.activation_id] = resp.activation
                    if self._replaying and resp.event.at.ToDatetime(timezone.utc) < self.started:
                        self._replayed.append(resp.event)  # shown at the marker, if it still waits for someone
                    else:  # live (a server without the marker: the first live event ends the replay)
                        self._show_replayed()
                        self._show(resp.activation, resp.event)
            except grpc.aio.AioRpcError as err:
                if err.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    self.say(refused(err))
                    raise SystemExit(1) from None
                self.say("connection lost; reconnecting ...")
                await asyncio.sleep(1.0)

    def resolve(self, prefix: str) -> str:
        if len(prefix) == 36 and not any(a.startswith(prefix) for a in self.activations):
            return prefix  # a whole id, of an activation this console has not seen
        return _one_by_prefix(prefix, self.activations, "activations", f"no activation {prefix!r} on this console")

    async def _events(self, aid: str):
        """The activation's whole record, event by event (ListActivationEvents, page by page)."""
        after = 0
        while True:
            page = await self.stub.ListActivationEvents(
                F.ListActivationEventsRequest(activation_id=aid, after_sequence=after, page_size=50)
            )
            for e in page.events:
                yield e
            if not (after := page.next_after_sequence):
                return

    async def run_commands(self) -> None:
        self.say("TFC console: activations appear as they are raised. Type `help` for commands.")
        while True:
            try:
                words = (await self.ask("tfc> ")).split()
            except EOFError:
                return
            if not words:
                continue
            if words[0] in ("quit", "exit"):
                return
            try:
                await self.dispatch(words[0], words[1:])
            except ValueError as err:
                self.say(str(err))
            except grpc.aio.AioRpcError as err:
                self.say(refused(err))

    async def dispatch(self, command: str, args: list[str]) -> None:
        handlers = {
            "help": self.help,
            "list": self.list,
            "show": self.show,
            "ack": self.ack,
            "decide": self.decide,
            "close": self.close,
            "signoff": self.signoff,
            "patch": self.patch,
        }
        if command not in handlers:
            raise ValueError(f"unknown command {command!r}; type `help`")
        await handlers[command](args)

    async def help(self, _args) -> None:
        self.say(HELP)

    async def list(self, _args) -> None:
        open_ = [a for a in self.activations.values() if a.state != T.ACTIVATION_STATE_CLOSED]
        open_.sort(key=lambda a: (not a.HasField("acknowledge_by"), a.acknowledge_by.ToNanoseconds()))
        for a in open_:
            state = name(T.ActivationState, a.state, "ACTIVATION_STATE_")
            line = f"{a.activation_id[:8]}  {state:<18} {a.hit.read.vrm:<9} {a.assigned_to or '-':<12} {deadline(a)}"
            self.say(self.style.alarm(line) if a.HasField("acknowledge_by") else line)
        self.say(f"{len(open_)} open activation(s)")

    def _one(self, args: list[str], usage: str) -> str:
        if not args:
            raise ValueError(f"usage: {usage}")
        return self.resolve(args[0])

    async def show(self, args) -> None:
        aid = self._one(args, "show ID")
        a = (await self.stub.GetActivation(F.GetActivationRequest(activation_id=aid))).activation
        self.activations[aid] = a
        self.say(
            f"ACTIVATION {aid}  {name(T.ActivationState, a.state, 'ACTIVATION_STATE_')}"
            f"  assigned to {a.assigned_to or 'nobody'}   {deadline(a)}"
        )
        self.say("\n".join(activation_block(a, self.style)))
        async for e in self._events(aid):
            self.say(f"  #{e.sequence} " + plain_event(e))

    async def patch(self, args) -> None:
        if not args or len(args) > 2:
            raise ValueError("usage: patch ID [HIT]   (HIT: a sighting's, as its SIGHTING line shows it)")
        aid = self.resolve(args[0])
        hit = await self._sighting_hit(aid, args[1]) if len(args) > 1 else ""
        request = F.GetActivationPlatePatchRequest(activation_id=aid, hit_id=hit, reason=PATCH_REASON)
        image = (await self.stub.GetActivationPlatePatch(request)).plate_image
        if not image:
            self.say("the camera sent no plate patch for this read")
            return
        path = await save_file(f"plate-{aid[:8]}" + (f"-{hit[:8]}" if hit else "") + ".jpg", image)
        self.say(f"plate patch saved: {path} ({len(image)} bytes)")

    async def _sighting_hit(self, aid: str, prefix: str) -> str:
        """The hit id of the activation's sighting that starts with `prefix`."""
        hits = {e.sighting.hit_id async for e in self._events(aid) if e.kind == K.ACTIVATION_EVENT_KIND_SIGHTING}
        missing = f"no sighting {prefix!r} of {aid[:8]} (its SIGHTING lines show each one's hit)"
        return _one_by_prefix(prefix, hits, f"sightings of {aid[:8]}", missing)

    async def ack(self, args) -> None:
        a = (
            await self.stub.AcknowledgeActivation(
                F.AcknowledgeActivationRequest(activation_id=self._one(args, "ack ID"))
            )
        ).activation
        self.activations[a.activation_id] = a
        self.say(f"acknowledged {a.activation_id[:8]}: owner {a.acknowledged_by}")

    def _owned(self, aid: str) -> None:
        """Before asking for text: a state the service would refuse (it checks again)."""
        a = self.activations.get(aid)
        if a is not None and a.state in (
            T.ACTIVATION_STATE_RAISED,
            T.ACTIVATION_STATE_ESCALATED,
            T.ACTIVATION_STATE_UNASSIGNED,
        ):
            raise ValueError(f"acknowledge {aid[:8]} first: ack {aid[:8]}")

    async def decide(self, args) -> None:
        if len(args) != 2 or args[1] not in STAGES:
            raise ValueError("usage: decide ID STAGE   (STAGE: " + ", ".join(STAGES) + ")")
        aid = self.resolve(args[0])
        self._owned(aid)
        text = await self.ask(f"{args[1]} text> ")
        rationale = await self.ask("rationale (Enter to skip)> ")
        d = (
            await self.stub.RecordDecision(
                F.RecordDecisionRequest(
                    decision=T.NdmDecision(activation_id=aid, rationale=rationale, **{STAGES[args[1]]: text})
                )
            )
        ).decision
        self.say(f"recorded {args[1]} for {aid[:8]} at {hhmmss(d.decided_at)}")

    async def close(self, args) -> None:
        if len(args) != 2 or args[1] not in OUTCOMES:
            raise ValueError("usage: close ID OUTCOME   (OUTCOME: " + ", ".join(OUTCOMES) + ")")
        aid = self.resolve(args[0])
        self._owned(aid)
        if OUTCOMES[args[1]] in DEPLOYMENTS and (missing := [s for s in STAGES if s not in await self._recorded(aid)]):
            raise ValueError(f"a deployment is closed with the whole NDM recorded; record first: {', '.join(missing)}")
        summary = await self.ask("summary> ")
        a = (
            await self.stub.CloseActivation(
                F.CloseActivationRequest(activation_id=aid, outcome=OUTCOMES[args[1]], summary=summary)
            )
        ).activation
        self.say(f"{aid[:8]} awaits a supervisor's sign-off")
        self.activations[aid] = a

    async def _recorded(self, aid: str) -> set[str]:
        """The console's names of the NDM stages recorded on the activation (its whole record)."""
        return {s async for e in self._events(aid) for s, f in STAGES.items() if getattr(e.decision, f).strip()}

    async def signoff(self, args) -> None:
        aid = self._one(args, "signoff ID")
        if self.me.role and self.me.role != Role.TFC_SUPERVISOR:
            raise ValueError(f"sign-off needs a supervisor (role tfc_supervisor); you are {self.me.role}")
        a = self.activations.get(aid)
        if a is not None and self.me.subject in (a.close_requested_by, a.acknowledged_by):
            raise ValueError("sign-off must be by a different person from the one who closed or owns it")
        remarks = await self.ask("remarks (Enter to skip)> ")
        a = (
            await self.stub.SignOffActivation(F.SignOffActivationRequest(activation_id=aid, remarks=remarks))
        ).activation
        self.activations[aid] = a
        self.say(f"signed off: {aid[:8]} is closed")


async def tfc_console(target: str, token: str, out, tls: ClientTls | None = None) -> None:
    """Run the console until `quit` or end of input (TLS when `tls` is given: ANPR_TLS_CA_FILE)."""
    lines: asyncio.Queue = asyncio.Queue()
    start_reader(asyncio.get_running_loop(), lines)
    async with channel(target, token, tls) as ch:
        me = await identity_pb2_grpc.IdentityServiceStub(ch).WhoAmI(identity_pb2.WhoAmIRequest(), timeout=30)
        console = Console(firearms_pb2_grpc.FirearmsServiceStub(ch), out, lines, me)
        follower = asyncio.create_task(console.follow(), name="console-stream")
        commands = asyncio.create_task(console.run_commands(), name="console-commands")
        done, _ = await asyncio.wait({follower, commands}, return_when=asyncio.FIRST_COMPLETED)
        for task in (follower, commands):
            task.cancel()
        await asyncio.gather(follower, commands, return_exceptions=True)
        for task in done:
            if not task.cancelled() and isinstance(task.exception(), SystemExit):
                raise task.exception()


def command(args) -> int:
    """`anpr tfc`: the console until Ctrl-C or `quit`."""
    try:
        to = target_of(args, "firearms", Role.TFC)
        asyncio.run(tfc_console(to.address, to.token, sys.stdout, tls=to.tls))
    except KeyboardInterrupt:
        pass
    return 0
