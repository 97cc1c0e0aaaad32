"""An activation as its log entries make it: the log is the record, the `activations` table its
projection.

`apply` folds one entry into the activation's state; `replay` folds them all. The store writes
each row from the state its new entry makes (so the row is the fold by construction), and what the
console and GetActivation show is folded from the entries themselves, whose seals are checked on the
way (an entry that does not verify is never shown as the record). `differences` names the fields of
a row that no longer match its entries (an edit outside the log: VerifyLog reports it), and the
stored hit is checked against the SHA-256 digest its RAISED entry logged.

The one field of a row the log does not decide is the retry time of an activation waiting for a
duty commander (UNASSIGNED): the escalator's own schedule, never shown.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta

import asyncpg

from anpr.v1 import types_pb2 as T
from services.firearms import eventlog
from services.firearms.keys import Keyring
from services.firearms.ndm import STAGES

K = T.ActivationEventKind


@dataclass
class Seals:
    """How the entries' seals are checked: the log's keys, and the first sequence sealed (entries
    before it were made before seals; read once at start from event_log_seals)."""

    keyring: Keyring
    sealed_from: int = 1

    def ok(self, row) -> bool:
        return row["sequence"] < self.sealed_from or self.keyring.seal_ok(eventlog.canonical_of(row), row["seal"])


@dataclass(frozen=True)
class State:
    """An activation's fields as its entries make them: the columns of its `activations` row (by the
    same names, so that `state["told"]` reads as `row["told"]` does), and what the log knows beside."""

    activation_id: uuid.UUID
    hit_id: str
    entry_id: str
    state: int
    raised_at: datetime
    force: str
    area: str
    chain: tuple[str, ...] = ()
    level: int = 0
    assigned_to: str | None = None
    told: tuple[str, ...] = ()
    deadline_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    outcome: int = 0
    close_summary: str = ""
    close_requested_by: str | None = None
    signed_off_by: str | None = None
    signed_off_at: datetime | None = None
    decision_count: int = 0
    sighting_count: int = 0
    # beside the row: the logged digest of the hit, the last entry's sequence, the stored hit once
    # checked against the digest
    hit_sha256: str = ""
    sequence: int = 0
    raised_sequence: int = 0
    hit: bytes = field(default=b"", repr=False)
    # the NDM stages (ndm.STAGES' names) some decision recorded: a deployment closes only with all
    stages: frozenset[str] = frozenset()

    def __getitem__(self, name: str):
        return getattr(self, name)


# The columns of an activations row the log decides (all but the hit, checked by its digest).
PROJECTED = tuple(
    f.name for f in fields(State) if f.name not in ("hit_sha256", "sequence", "raised_sequence", "hit", "stages")
)
UPDATABLE = tuple(
    c for c in PROJECTED if c not in ("activation_id", "hit_id", "entry_id", "raised_at", "force", "area")
)


def _due(payload: dict) -> datetime | None:
    return datetime.fromisoformat(payload["due_at"]) if payload.get("due_at") else None


def _raised(e: eventlog.Entry, at: datetime) -> State:
    p = e.payload
    return State(
        activation_id=e.activation_id,
        hit_id=p["hit_id"],
        entry_id=p["entry_id"],
        state=T.ACTIVATION_STATE_RAISED if e.kind == K.ACTIVATION_EVENT_KIND_RAISED else T.ACTIVATION_STATE_UNASSIGNED,
        raised_at=at,
        force=p.get("force", ""),
        area=p.get("area", ""),
        chain=tuple(p.get("chain", ())),
        level=p.get("level", 0),
        assigned_to=p.get("to"),
        told=tuple(e.audience),
        deadline_at=_due(p),
        hit_sha256=p["hit_sha256"],
    )


def _change(s: State, e: eventlog.Entry, at: datetime) -> dict:
    """The fields entry `e` (at `at`) changes."""
    p, kind, told = e.payload, e.kind, tuple(e.audience)
    if kind == K.ACTIVATION_EVENT_KIND_SIGHTING:
        return {"sighting_count": s.sighting_count + 1}
    if kind == K.ACTIVATION_EVENT_KIND_ASSIGNED:
        return dict(state=T.ACTIVATION_STATE_RAISED, chain=tuple(p["chain"]), level=0, assigned_to=p["to"], told=told)
    if kind == K.ACTIVATION_EVENT_KIND_ACKNOWLEDGED:
        return dict(state=T.ACTIVATION_STATE_ACKNOWLEDGED, acknowledged_by=e.actor, acknowledged_at=at)
    if kind == K.ACTIVATION_EVENT_KIND_ESCALATED:
        return dict(state=T.ACTIVATION_STATE_ESCALATED, level=p["level"], assigned_to=p["to"], told=told)
    if kind == K.ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED:
        return {"told": told}
    if kind == K.ACTIVATION_EVENT_KIND_DECISION_RECORDED:
        recorded = {f for f, text in p.items() if f in STAGES and str(text).strip()}
        return {
            "state": T.ACTIVATION_STATE_DECIDED,
            "decision_count": s.decision_count + 1,
            "stages": s.stages | recorded,
        }
    if kind == K.ACTIVATION_EVENT_KIND_CLOSE_REQUESTED:
        return dict(
            state=T.ACTIVATION_STATE_AWAITING_SIGN_OFF,
            outcome=p["outcome"],
            close_summary=p["summary"],
            close_requested_by=e.actor,
        )
    if kind == K.ACTIVATION_EVENT_KIND_SIGNED_OFF:
        return dict(state=T.ACTIVATION_STATE_CLOSED, signed_off_by=e.actor, signed_off_at=at)
    return {}


# What else each kind of entry decides: who owns it after an acknowledgement, the deadline.
_ACKNOWLEDGED = (K.ACTIVATION_EVENT_KIND_ACKNOWLEDGED,)
_DEADLINE_SET = (K.ACTIVATION_EVENT_KIND_ASSIGNED, K.ACTIVATION_EVENT_KIND_ESCALATED)
_DEADLINE_CLEARED = (
    K.ACTIVATION_EVENT_KIND_ACKNOWLEDGED,
    K.ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED,
    K.ACTIVATION_EVENT_KIND_SIGNED_OFF,
)


RAISING = (K.ACTIVATION_EVENT_KIND_RAISED, K.ACTIVATION_EVENT_KIND_UNASSIGNED)


def applies(s: State | None, row) -> bool:
    """Whether a stored entry can be folded into `s`: an activation starts with the entry raising it."""
    return (s is None) == (row["kind"] in RAISING)


def apply(s: State | None, e: eventlog.Entry, at: datetime) -> State:
    """The activation after entry `e`, made at `at` (`s` None: the entry raises it)."""
    if e.kind in RAISING:
        return _raised(e, at)
    if s is None:
        raise ValueError(f"an entry of kind {e.kind} cannot start an activation")
    change = _change(s, e, at)
    if e.kind in _ACKNOWLEDGED:
        change |= {"assigned_to": e.actor, "told": tuple(e.audience)}
    if e.kind in _DEADLINE_SET:
        change["deadline_at"] = _due(e.payload)
    elif e.kind in _DEADLINE_CLEARED:
        change["deadline_at"] = None
    return replace(s, **change)


def entry_of(row) -> eventlog.Entry:
    return eventlog.Entry(
        row["activation_id"], row["kind"], row["actor"], tuple(row["audience"]), json.loads(row["payload"])
    )


def apply_row(s: State | None, row) -> State:
    """`apply` for a stored entry (a row of event_log)."""
    made = replace(apply(s, entry_of(row), row["at"]), sequence=row["sequence"])
    return made if s is not None else replace(made, raised_sequence=row["sequence"])


@dataclass
class Record:
    """One activation read back from its log: its state, its entries (those that verify), and the
    sequences of those that did not (an entry whose seal fails is never folded in)."""

    state: State | None
    entries: list = field(default_factory=list)
    bad: list[int] = field(default_factory=list)


def replay(rows, seals: Seals) -> Record:
    record = Record(None)
    for row in rows:
        if not (seals.ok(row) and applies(record.state, row)):
            record.bad.append(row["sequence"])
            continue
        record.state = apply_row(record.state, row)
        record.entries.append(row)
    return record


async def load(conn: asyncpg.Connection, ids: list[uuid.UUID], seals: Seals, upto: int | None = None) -> dict:
    """The records of activations `ids` folded from their entries (up to sequence `upto`)."""
    rows = await conn.fetch(
        f"SELECT {eventlog.COLUMNS} FROM event_log WHERE activation_id = ANY($1::uuid[])"
        " AND ($2::bigint IS NULL OR sequence <= $2) ORDER BY activation_id, sequence",
        ids,
        upto,
    )
    by_id: dict[uuid.UUID, list] = {i: [] for i in ids}
    for row in rows:
        by_id[row["activation_id"]].append(row)
    return {i: replay(entries, seals) for i, entries in by_id.items()}


def hit_matches(data: bytes | None, sha256: str) -> bool:
    return data is not None and hashlib.sha256(data).hexdigest() == sha256


def row_values(s: State, columns: tuple[str, ...] = PROJECTED) -> list:
    return [list(v) if isinstance(v, tuple) else v for v in (s[c] for c in columns)]


# Rows written before the record was folded from the log (entries before sealed_from) took these
# times from the database's clock a moment before or after their entry's: a few seconds apart is
# the same event.
_EARLIER_TIMES = ("raised_at", "acknowledged_at", "signed_off_at")
_EARLIER_SLACK = timedelta(seconds=5)


def differences(row, s: State, sealed_from: int = 1) -> list[str]:
    """The columns of the activations `row` that differ from what its entries make (and `hit` when
    the stored hit does not match the logged digest)."""
    earlier = s.raised_sequence < sealed_from
    out = [c for c in PROJECTED if not _same(c, row[c], s[c], s, earlier)]
    if not hit_matches(row["hit"], s.hit_sha256):
        out.append("hit")
    return out


def _same(column: str, stored, folded, s: State, earlier: bool) -> bool:
    if column == "deadline_at" and s.state == T.ACTIVATION_STATE_UNASSIGNED:
        return True  # the escalator's retry time, not the log's
    if earlier and column in _EARLIER_TIMES and stored is not None and folded is not None:
        return abs(stored - folded) <= _EARLIER_SLACK
    return _norm(stored) == _norm(folded)


def _norm(value):
    return tuple(value) if isinstance(value, list | tuple) else value
