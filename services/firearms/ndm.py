"""What firearms accepts: NDM log entries, closures, commanders and shifts (pure validation).

Every text field has a limit, so that no decision can make an activation or a page of its record
too large to send (the console stream carries events, the full record is paged).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from anpr.v1 import types_pb2

MAX_TEXT_BYTES = 16 * 1024  # each NDM text field, close summary, sign-off remarks
MAX_NAME_CHARS = 128  # subject, force, area
MAX_LABEL_CHARS = 256  # commander name, contact
MAX_BACKUPS = 8
MAX_SHIFT = timedelta(days=7)
# A shift starts within this window around now (years 0001 and 9999 are typing errors, not rotas).
SHIFT_PAST, SHIFT_AHEAD = timedelta(days=31), timedelta(days=366)
MAX_SHIFTS_PER_CALL = 1000

# The Code of Ethics at the centre, the five stages around it, and the rationale.
STAGES = {
    "code_of_ethics": "the Code of Ethics consideration",
    "information": "stage 1: the information and intelligence gathered",
    "threat_assessment": "stage 2: the threat and risk assessment and working strategy",
    "powers_and_policy": "stage 3: the powers and policy considered",
    "options": "stage 4: the options and contingencies identified",
    "action_and_review": "stage 5: the action taken and its review",
}
TEXT_FIELDS = (*STAGES, "rationale")


def text_problem(value: str, max_bytes: int = MAX_TEXT_BYTES, required: bool = False) -> str:
    """Why `value` is not acceptable free text ('' if it is)."""
    if "\x00" in value:
        return "must not contain NUL"
    if len(value.encode()) > max_bytes:
        return f"at most {max_bytes} bytes of UTF-8"
    if (required or value) and not value.strip():
        return "required" if not value else "must not be blank"
    return ""


def name_problem(value: str, max_chars: int = MAX_NAME_CHARS, required: bool = True) -> str:
    if required and not value.strip():
        return "required"
    if len(value) > max_chars:
        return f"at most {max_chars} characters"
    if "\x00" in value or any(c in value for c in "\r\n"):
        return "must be one line without NUL"
    return ""


def validate_decision(d: types_pb2.NdmDecision, prefix: str = "decision.") -> list[tuple[str, str]]:
    errors = [(prefix + f, p) for f in TEXT_FIELDS if (p := text_problem(getattr(d, f)))]
    if not any(getattr(d, f).strip() for f in STAGES) and not errors:
        errors.append((prefix + "information", "record at least one stage: " + ", ".join(STAGES)))
    if d.outcome not in types_pb2.NdmOutcome.values():
        errors.append((prefix + "outcome", "unknown outcome"))
    return errors


def validate_close(outcome: int, summary: str) -> list[tuple[str, str]]:
    errors = []
    if outcome == types_pb2.NDM_OUTCOME_UNSPECIFIED or outcome not in types_pb2.NdmOutcome.values():
        errors.append(("outcome", "required: the outcome of the activation"))
    if p := text_problem(summary, required=True):
        errors.append(("summary", p))
    return errors


def validate_commander(c: types_pb2.Commander) -> list[tuple[str, str]]:
    checks = [
        ("subject", name_problem(c.subject)),
        ("name", name_problem(c.name, MAX_LABEL_CHARS)),
        ("force", name_problem(c.force)),
        ("contact", name_problem(c.contact, MAX_LABEL_CHARS, False)),
    ]
    return [("commander." + f, p) for f, p in checks if p]


def validate_shift(s: types_pb2.Shift, prefix: str, now: datetime | None = None) -> list[tuple[str, str]]:
    """Field violations of a shift; with `now`, also a start outside the window around it."""
    errors = [
        (prefix + f, p)
        for f, p in (
            ("force", name_problem(s.force)),
            ("area", name_problem(s.area, required=False)),
            ("primary", name_problem(s.primary)),
            ("supervisor", name_problem(s.supervisor)),
        )
        if p
    ]
    if len(s.backups) > MAX_BACKUPS:
        errors.append((prefix + "backups", f"at most {MAX_BACKUPS}"))
    errors += [(f"{prefix}backups[{i}]", p) for i, b in enumerate(s.backups) if (p := name_problem(b))]
    chain = [s.primary, *s.backups]
    if len(set(chain)) != len(chain):
        errors.append((prefix + "backups", "each person at most once in the chain"))
    if not s.HasField("starts_at") or not s.HasField("ends_at"):
        errors.append((prefix + "ends_at" if s.HasField("starts_at") else prefix + "starts_at", "required"))
    elif not _span_ok(s):
        errors.append((prefix + "ends_at", "must be after starts_at, at most 7 days later"))
    elif now is not None and not now - SHIFT_PAST <= s.starts_at.ToDatetime(timezone.utc) <= now + SHIFT_AHEAD:
        errors.append((prefix + "starts_at", "at most 31 days ago and at most 366 days ahead"))
    return errors


def _span_ok(s: types_pb2.Shift) -> bool:
    try:
        return timedelta(0) < s.ends_at.ToDatetime() - s.starts_at.ToDatetime() <= MAX_SHIFT
    except (ValueError, OverflowError):
        return False
