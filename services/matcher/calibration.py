"""What officers' and operators' outcomes teach the matcher, per camera and per list.

Every alert accepted, or rejected as a misread or the wrong vehicle (notify's AcknowledgeAlert,
sent on by notify's outbox to matcher's RecordOutcomes), counts for each key of its hit's
evidence, together with what the model predicted for it before any calibration (the probability
of its other contributions): a confusion ("confusion:T7": a listed T read as 7) or a dropped or
extra character for the read's camera (how a camera's OCR errs is the camera's own); a make, model
or colour that disagreed for the camera (its classifier) and for the entry's list (its records).

A key's adjustment is how far the outcomes put its hits' log-odds from the prediction, shrunk
towards none by ``prior`` outcomes' worth of the prediction itself and bounded by ``most``:

    p = mean prediction;  observed = (accepted + prior p) / (accepted + rejected + prior)
    adjustment = clamp(logit(observed) - logit(p), -most, +most)

So a camera that keeps misreading T as 7 (its T/7 hits accepted more often than predicted) gets
that confusion cheaper there; a list whose records' colours are often wrong gets colour
disagreements cheaper on it. Explainable (each hit carries the calibration it got, with the
counts), bounded (``ANPR_CALIBRATION_MAX_LOG_ODDS``) and reversible (``anpr calibration reset``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from anpr.v1 import types_pb2
from services.matcher.evidence import Contribution
from services.matcher.scoring import logit

CAMERA, LIST = "camera", "list"
# rejections that say the alert was not the listed vehicle (notify's ANPR_OUTCOME_REASONS)
WRONG = frozenset({"misread", "wrong_vehicle"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """One alert's outcome as calibration counts it: true (accepted) or false (rejected as a misread
    or the wrong vehicle), the keys of its hit's evidence, and the prediction before calibration."""

    alert_id: str
    truth: bool
    camera_id: str
    hotlist_id: str
    keys: tuple[str, ...]
    predicted: float
    camera_force: str = ""  # the reading camera's (whose calibration it is)

    @classmethod
    def of(cls, alert_id: str, outcome: int, reason_code: str, hit: types_pb2.Hit) -> Outcome | None:
        """The outcome of an acknowledgement, or None when it says nothing about the match (seen;
        rejected for another reason, such as no action needed)."""
        if outcome == types_pb2.ALERT_OUTCOME_ACCEPTED:
            truth = True
        elif outcome == types_pb2.ALERT_OUTCOME_REJECTED and reason_code in WRONG:
            truth = False
        else:
            return None
        keys = tuple(dict.fromkeys(c.key for c in hit.evidence if c.key and c.factor != "calibration"))
        return cls(
            alert_id,
            truth,
            hit.read.camera_id,
            hit.hotlist.hotlist_id or hit.entry.hotlist_id,
            keys,
            predicted((c.factor, c.log_odds) for c in hit.evidence),
            hit.force,
        )


@dataclass(frozen=True, slots=True)
class Tally:
    """The outcomes of one key in one scope (a camera or a list)."""

    scope: str
    scope_id: str
    key: str
    accepted: int
    rejected: int
    predicted: float  # sum over the outcomes of the predicted probability

    @property
    def outcomes(self) -> int:
        return self.accepted + self.rejected

    def adjustment(self, prior: float, most: float) -> float:
        n = self.outcomes
        if n <= 0 or most <= 0:
            return 0.0
        p = min(0.98, max(0.02, self.predicted / n))
        observed = (self.accepted + prior * p) / (n + prior)
        return max(-most, min(most, logit(observed) - logit(p)))

    def describe(self) -> str:
        p = self.predicted / self.outcomes if self.outcomes else 0.0
        return f"{label(self.key)}: accepted {self.accepted} of {self.outcomes} (predicted {100 * p:.0f}%)"


DESCRIPTION_KEYS = frozenset({"make", "model", "colour"})


def scopes(key: str, camera_id: str, hotlist_id: str) -> tuple[tuple[str, str], ...]:
    """Where outcomes through `key` are counted (and adjustments looked up)."""
    if key in DESCRIPTION_KEYS:
        return ((CAMERA, camera_id), (LIST, hotlist_id))
    return ((CAMERA, camera_id),)


def label(key: str) -> str:
    """A key for people: "confusion:T7" -> "T read as 7"."""
    kind, _, chars = key.partition(":")
    if kind == "confusion" and len(chars) == 2:
        return f"{chars[0]} read as {chars[1]}"
    return {"dropped": "a dropped character", "extra": "an extra character"}.get(kind, f"{kind} disagreeing")


def predicted(contributions: Iterable[tuple[str, float]]) -> float:
    """The probability the model gave a hit before calibration, from its (factor, log-odds)."""
    total = sum(v for factor, v in contributions if factor != "calibration")
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, total))))


class CalibrationTable:
    """The adjustments in force, by (scope, scope id, key): what ``evidence.weigh`` asks for each
    hit. Replaced whole when the table in PostgreSQL changes (any replica may have applied
    outcomes): ``replace``."""

    def __init__(self, prior: float = 4.0, most: float = 2.0):
        self.prior, self.most = prior, most
        self.version = -1
        self._by: dict[tuple[str, str, str], tuple[float, Tally]] = {}

    def replace(self, tallies: Iterable[Tally], version: int) -> None:
        by = {}
        for t in tallies:
            adjustment = t.adjustment(self.prior, self.most)
            if adjustment:
                by[t.scope, t.scope_id, t.key] = (adjustment, t)
        self._by, self.version = by, version

    def __len__(self) -> int:
        return len(self._by)

    def adjustments(self, camera_id: str, hotlist_id: str, keys: Sequence[str]) -> list[Contribution]:
        if not self._by:
            return []
        out = []
        for key in dict.fromkeys(keys):
            for scope, scope_id in scopes(key, camera_id, hotlist_id):
                found = self._by.get((scope, scope_id, key))
                if found is not None:
                    adjustment, tally = found
                    out.append(Contribution("calibration", adjustment, f"{scope} {scope_id}: {tally.describe()}"))
        return out
