"""Limits of every string, bytes and repeated field of the contracts: the one source of truth.

`LIMITS` maps each message's full name to its limited fields. Strings are limited in characters
(Unicode code points), bytes in bytes, repeated fields in items (a repeated string also per item).
A limit may be a `Setting`: its value comes from the service's settings at start (the default
when the service has no such setting). The .proto comment of every field states its limit
(tests/contracts/test_limits.py checks both that every field has one and that the comment says so).

Besides lengths, `compile_checkers` checks what PostgreSQL or a client would refuse in any message:
NUL characters in strings, enum values the contract does not define, timestamps outside years
1-9999 and non-finite floats. Each message type gets a checker compiled to Python once (walking the
descriptors per field at read rate would cost tens of microseconds a read; benchmarks/limits_bench.py).

A `Limit(..., handler=True)` field is not checked at the edge: the handler checks its count and each
item itself, so that one bad read of a batch is rejected alone (ingest's reads).
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from anpr.v1 import firearms_pb2, identity_pb2, ingest_pb2, matcher_pb2, notify_pb2, types_pb2

CONTRACT_FILES = (types_pb2, ingest_pb2, matcher_pb2, notify_pb2, firearms_pb2, identity_pb2)


@dataclass(frozen=True)
class Setting:
    """A limit read from the service's settings (attribute `name`), documented as `env`."""

    name: str
    default: int
    env: str


@dataclass(frozen=True)
class Limit:
    max: int | Setting
    each: int | None = None  # repeated strings: characters per item
    handler: bool = False  # checked by the handler, item by item, not at the edge


MAX_IMAGE_BYTES = Setting("max_image_bytes", 1024 * 1024, "ANPR_MAX_IMAGE_BYTES")
MAX_BATCH_READS = Setting("max_batch_reads", 500, "ANPR_MAX_BATCH_READS")

ID = 128  # ids made by callers or services (read_id, camera_id, entry_id, ...)
VRM = 32  # a VRM as read or listed (1-10 characters after normalisation)
SHORT = 64  # make, model, colour, PNC id
NAME = 256  # names, source references
NOTE = 1024  # a reason given with a call
TEXT = 4096  # free text of an entry (reason, information, CAD, instructions)
NDM_TEXT = 16384  # each NDM stage and the rationale
HITS_PER_CALL = 5000  # an outbox row of matcher holds a partition's hits (up to 1 MiB)
SUBMIT_READS_PER_CALL = 10_000
SCAN_PAGE_MAX = 5000  # reads per ScanReadsResponse (about 1 MiB without images)
SCAN_PAGE_DEFAULT = 1000
IMPORT_COLUMNS_BYTES = 6 * 1024 * 1024  # an import message's entries as columns (about 30,000 entries)

LIMITS: dict[str, dict[str, int | Setting | Limit]] = {
    "anpr.v1.VehicleDescription": {"make": SHORT, "model": SHORT, "colour": SHORT},
    "anpr.v1.Read": {
        "read_id": ID,
        "vrm": VRM,
        "camera_id": ID,
        "source_id": ID,
        "plate_image": MAX_IMAGE_BYTES,
        "overview_image": MAX_IMAGE_BYTES,
        "plate_country": 8,
        "alternatives": 10,
    },
    "anpr.v1.AlternativeReading": {"vrm": VRM},
    "anpr.v1.Camera": {"camera_id": ID, "name": NAME, "force": ID},
    "anpr.v1.FieldViolation": {"field": NAME, "description": NOTE},
    "anpr.v1.IntelligenceGrading": {"source_evaluation": 8, "intelligence_assessment": 8, "handling_code": 8},
    "anpr.v1.Hotlist": {"hotlist_id": ID, "name": NAME},
    "anpr.v1.VoiEntry": {
        "entry_id": ID,
        "hotlist_id": ID,
        "vrm": VRM,
        "warning_markers": 16,
        "reason": TEXT,
        "information": TEXT,
        "force": ID,
        "area": ID,
        "pnc_id": SHORT,
        "cad_information": TEXT,
        "operational_instructions": TEXT,
        "source_reference": NAME,
    },
    "anpr.v1.Hit": {
        "hit_id": ID,
        "differing_positions": 16,
        "vehicle_mismatches": Limit(3, each=16),
        "force": ID,
        "evidence": 24,
    },
    "anpr.v1.EvidenceContribution": {"factor": 32, "detail": NAME, "key": 32},
    "anpr.v1.TracedHit": {"traceparent": ID},
    "anpr.v1.Alert": {"alert_id": ID},
    "anpr.v1.NdmDecision": {
        "decision_id": ID,
        "activation_id": ID,
        "decided_by": ID,
        "information": NDM_TEXT,
        "threat_assessment": NDM_TEXT,
        "powers_and_policy": NDM_TEXT,
        "options": NDM_TEXT,
        "action_and_review": NDM_TEXT,
        "rationale": NDM_TEXT,
        "code_of_ethics": NDM_TEXT,
    },
    "anpr.v1.Activation": {
        "activation_id": ID,
        "acknowledged_by": ID,
        "decisions": 20,
        "sightings": 20,
        "force": ID,
        "area": ID,
        "chain": Limit(10, each=ID),
        "assigned_to": ID,
        "close_summary": NDM_TEXT,
        "close_requested_by": ID,
        "signed_off_by": ID,
    },
    "anpr.v1.ReadResult": {"read_id": ID, "violations": 32},
    "anpr.v1.SubmitReadsRequest": {"reads": Limit(MAX_BATCH_READS, handler=True)},
    "anpr.v1.SubmitReadsResponse": {"results": SUBMIT_READS_PER_CALL},
    "anpr.v1.StreamReadsRequest": {"batch_id": ID, "reads": Limit(MAX_BATCH_READS, handler=True)},
    "anpr.v1.StreamReadsResponse": {"batch_id": ID, "results": MAX_BATCH_READS},
    "anpr.v1.GetReadRequest": {"read_id": ID, "reason": NOTE},
    "anpr.v1.SearchReadsRequest": {"vrm": VRM, "vrms": Limit(256, each=VRM)},
    "anpr.v1.SearchReadsResponse": {"reads": 1000, "places": 1000},
    "anpr.v1.ScanReadsResponse": {"reads": SCAN_PAGE_MAX, "places": SCAN_PAGE_MAX},
    "anpr.v1.ReadPlace": {"force": ID},
    "anpr.v1.WhoAmIResponse": {"subject": NAME, "role": SHORT, "force": ID, "unit": ID},
    "anpr.v1.ListCamerasResponse": {"cameras": 10_000},
    "anpr.v1.MatchRead": {"traceparent": ID, "force": ID},
    "anpr.v1.GetReadPlatePatchRequest": {"read_id": ID, "viewer": ID, "reason": NOTE},
    "anpr.v1.GetReadPlatePatchResponse": {"plate_image": MAX_IMAGE_BYTES},
    "anpr.v1.Subscription": {"unit_id": SHORT, "force": ID},
    "anpr.v1.Polygon": {"vertices": 200},
    "anpr.v1.GetPlatePatchRequest": {"alert_id": ID, "reason": NOTE},
    "anpr.v1.PublishHotlistsRequest": {"hotlists": 1000},
    "anpr.v1.GetPlatePatchResponse": {"plate_image": MAX_IMAGE_BYTES},
    "anpr.v1.GetAlertStatsResponse": {"by_hotlist": 1000, "by_reason_code": 100, "possible_by_force": 1000},
    "anpr.v1.PossibleBudgetStats": {"force": ID},
    "anpr.v1.AlertStats": {"key": NAME, "name": NAME},
    "anpr.v1.MatchReadsRequest": {"reads": 10_000},  # an outbox row of ingest holds a flush's reads
    "anpr.v1.ListHotlistsResponse": {"hotlists": 1000},
    "anpr.v1.DeleteEntryRequest": {"entry_id": ID},
    "anpr.v1.GetEntryRequest": {"entry_id": ID, "reason": NOTE},
    "anpr.v1.ImportEntriesRequest": {"hotlist_id": ID, "entries": 5000, "entry_columns": IMPORT_COLUMNS_BYTES},
    "anpr.v1.ImportEntriesResponse": {"violations": 201, "hotlist_id": ID},
    "anpr.v1.AlertOutcomeRecord": {"alert_id": ID, "reason_code": SHORT},
    "anpr.v1.RecordOutcomesRequest": {"outcomes": HITS_PER_CALL},
    "anpr.v1.GetCalibrationRequest": {"scope_id": ID},
    "anpr.v1.CalibrationEntry": {"key": 32, "label": SHORT},
    "anpr.v1.GetCalibrationResponse": {"entries": 1000},
    "anpr.v1.ResetCalibrationRequest": {"scope_id": ID},
    "anpr.v1.WithheldCount": {"key": ID},
    "anpr.v1.GetMatchStatsResponse": {"withheld_by_hotlist": 1000, "withheld_by_camera": 1000},
    "anpr.v1.PublishAlertResponse": {"alert_id": ID},
    "anpr.v1.PublishAlertsRequest": {"hits": HITS_PER_CALL},
    "anpr.v1.PublishAlertsResponse": {"alerts": HITS_PER_CALL},
    "anpr.v1.AcknowledgeAlertRequest": {"alert_id": ID, "reason": NOTE, "reason_code": SHORT},
    "anpr.v1.RaiseActivationResponse": {"activation_id": ID},
    "anpr.v1.RaiseActivationsRequest": {"hits": HITS_PER_CALL},
    "anpr.v1.RaiseActivationsResponse": {"activations": HITS_PER_CALL},
    "anpr.v1.AcknowledgeActivationRequest": {"activation_id": ID},
    "anpr.v1.GetActivationRequest": {"activation_id": ID},
    "anpr.v1.ActivationEvent": {
        "activation_id": ID,
        "actor": ID,
        "from_subject": ID,
        "to_subject": ID,
        "summary": NDM_TEXT,
        "remarks": NDM_TEXT,
        "previous_hash": 64,
        "hash": 64,
    },
    "anpr.v1.Commander": {"subject": ID, "name": NAME, "force": ID, "contact": NAME},
    "anpr.v1.Shift": {
        "shift_id": ID,
        "force": ID,
        "area": ID,
        "primary": ID,
        "backups": Limit(8, each=ID),
        "supervisor": ID,
    },
    "anpr.v1.DutyStatus": {"force": ID, "area": ID, "chain": Limit(10, each=ID), "shift_id": ID},
    "anpr.v1.ListActivationEventsRequest": {"activation_id": ID},
    "anpr.v1.ListActivationEventsResponse": {"events": 50},
    "anpr.v1.CloseActivationRequest": {"activation_id": ID, "summary": NDM_TEXT},
    "anpr.v1.SignOffActivationRequest": {"activation_id": ID, "remarks": NDM_TEXT},
    "anpr.v1.VerifyLogRequest": {"checkpoints": 20_000},
    "anpr.v1.LogCheckpoint": {"head_hash": 64, "key_id": SHORT, "replica": NAME, "signature": NAME},
    "anpr.v1.VerifyLogResponse": {"problem": NOTE, "head_hash": 64, "activation_id": ID},
    "anpr.v1.ListCommandersRequest": {"force": ID},
    "anpr.v1.ListCommandersResponse": {"commanders": 10_000},
    "anpr.v1.AddShiftsRequest": {"shifts": 1000},
    "anpr.v1.AddShiftsResponse": {"shifts": 1000},
    "anpr.v1.ImportShiftsRequest": {"shifts": 1000},
    "anpr.v1.ListShiftsRequest": {"force": ID},
    "anpr.v1.ListShiftsResponse": {"shifts": 1000},
    "anpr.v1.GetDutyStatusRequest": {"page_token": 512},
    "anpr.v1.GetDutyStatusResponse": {"forces": 10_000, "next_page_token": 512},
    "anpr.v1.GetActivationPlatePatchRequest": {"activation_id": ID, "hit_id": ID, "reason": NOTE},
    "anpr.v1.GetActivationPlatePatchResponse": {"plate_image": MAX_IMAGE_BYTES},
}

# Timestamps PostgreSQL (and every protobuf runtime) can hold: 0001-01-01 to 9999-12-31 UTC.
MIN_TIMESTAMP_S = -62135596800
MAX_TIMESTAMP_S = 253402300799

Violations = list[tuple[str, str]]
Checker = Callable[[object, str, Violations], None]


def limit_of(message: str, field: str) -> Limit | None:
    value = LIMITS.get(message, {}).get(field)
    if value is None or isinstance(value, Limit):
        return value
    return Limit(value)


def describe(limit: Limit, field: FieldDescriptor) -> str:
    """The phrase the .proto comment of the field must contain, e.g. 'At most 128 characters'."""
    m = limit.max
    amount = m.env if isinstance(m, Setting) else f"{m:,}"
    if field.is_repeated:
        unit = "items"
    elif field.type == FieldDescriptor.TYPE_BYTES:
        unit = "bytes"
    else:
        unit = "characters"
    return f"At most {amount} {unit}"


def _attr(name: str) -> str:
    """The field of `m` in the compiled code (a field named like a Python keyword, e.g. `from`)."""
    return f"getattr(m, {name!r})" if keyword.iskeyword(name) else f"m.{name}"


def _resolve(value: int | Setting, settings: object | None) -> int:
    if isinstance(value, Setting):
        return int(getattr(settings, value.name, value.default))
    return value


def contract_messages() -> list[Descriptor]:
    return [m for f in CONTRACT_FILES for m in f.DESCRIPTOR.message_types_by_name.values()]


class _Compiler:
    """Writes one Python function per message type; each appends (path, description) pairs."""

    def __init__(self, settings: object | None):
        self.settings = settings
        self.env: dict[str, object] = {"MIN_TS": MIN_TIMESTAMP_S, "MAX_TS": MAX_TIMESTAMP_S, "isfinite": math.isfinite}
        self.done: set[str] = set()
        self.source: list[str] = []

    @staticmethod
    def fn(desc: Descriptor) -> str:
        return "check_" + desc.full_name.replace(".", "_")

    def compile(self, desc: Descriptor) -> None:
        if desc.full_name in self.done:
            return
        self.done.add(desc.full_name)
        lines = [f"def {self.fn(desc)}(m, p, out):"]
        for field in desc.fields:
            lines += ["    " + s for s in self.field_code(desc, field)]
        if len(lines) == 1:
            lines.append("    pass")
        self.source.append("\n".join(lines))

    def field_code(self, desc: Descriptor, f: FieldDescriptor) -> list[str]:
        limit = limit_of(desc.full_name, f.name)
        if limit is not None and limit.handler:
            return []
        name, path = f.name, repr(f.name)
        if f.is_repeated:
            return self.repeated_code(limit, f, name, path)
        return self.value_code(limit, f, _attr(name), path, f.message_type is not None)

    def repeated_code(self, limit: Limit | None, f: FieldDescriptor, name: str, path: str) -> list[str]:
        n = _resolve(limit.max, self.settings) if limit else 0
        code = [
            f"items = {_attr(name)}",
            f"if len(items) > {n}: out.append((p + {path}, 'at most {n} items'))",
            "else:",
        ]
        each = Limit(limit.each) if limit and limit.each else None
        inner = self.value_code(each, f, "x", f"{path} + '[' + str(i) + ']'", False)
        if f.message_type is not None:
            self.compile(f.message_type)
            inner = [f"{self.fn(f.message_type)}(x, p + {path} + '[' + str(i) + '].', out)"]
        if not inner:
            return code[:2]
        return [*code, "    for i, x in enumerate(items):", *("        " + s for s in inner)]

    def value_code(self, limit: Limit | None, f: FieldDescriptor, v: str, path: str, singular_msg: bool) -> list[str]:
        t = f.type
        if t == FieldDescriptor.TYPE_STRING:  # the value read once (each read of a field makes a new str)
            n = _resolve(limit.max, self.settings) if limit else 0
            return [
                f"s = {v}",
                f"if len(s) > {n}: out.append((p + {path}, 'at most {n} characters'))",
                f"elif '\\x00' in s: out.append((p + {path}, 'must not contain NUL characters'))",
            ]
        if t == FieldDescriptor.TYPE_BYTES:
            n = _resolve(limit.max, self.settings) if limit else 0
            return [f"if len({v}) > {n}: out.append((p + {path}, 'at most {n} bytes'))"]
        if t == FieldDescriptor.TYPE_ENUM:
            known = frozenset(e.number for e in f.enum_type.values)
            key = f"ENUM_{f.enum_type.full_name.replace('.', '_')}"
            self.env[key] = known
            return [f"if {v} not in {key}: out.append((p + {path}, 'not a value of {f.enum_type.name}'))"]
        if t in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            return [f"if not isfinite({v}): out.append((p + {path}, 'must be a finite number'))"]
        if t == FieldDescriptor.TYPE_MESSAGE:
            if f.message_type.full_name == "google.protobuf.Timestamp":
                return [
                    f"t = {v}",
                    "if not (MIN_TS <= t.seconds <= MAX_TS and 0 <= t.nanos < 1000000000):",
                    f"    out.append((p + {path}, 'must be a time between years 1 and 9999'))",
                ]
            self.compile(f.message_type)
            call = f"{self.fn(f.message_type)}({v}, p + {f.name + '.'!r}, out)"
            return [f"if m.HasField({f.name!r}): {call}"] if singular_msg else [call]
        return []


def compile_checkers(settings: object | None = None) -> dict[str, Checker]:
    """A checker per contract message type: `check(message, path_prefix, violations)`; settings
    supply the `Setting` limits (their defaults when None)."""
    c = _Compiler(settings)
    for desc in contract_messages():
        c.compile(desc)
    namespace = dict(c.env)
    exec(compile("\n\n".join(c.source), "<anpr.field_limits>", "exec"), namespace)
    return {name: namespace[_Compiler.fn(d)] for d in contract_messages() for name in [d.full_name]}


def violations_of(message, checkers: Mapping[str, Checker], prefix: str = "") -> Violations:
    out: Violations = []
    checkers[message.DESCRIPTOR.full_name](message, prefix, out)
    return out
