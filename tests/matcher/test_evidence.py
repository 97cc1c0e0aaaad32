"""Unit tests of the evidence model (services/matcher/evidence.py, vehicles.py, calibration.py):
description fields as likelihood ratios, the explanation of a hit, support for a POSSIBLE, and
calibration from outcomes."""

from __future__ import annotations

import math

import pytest

from anpr.v1 import types_pb2 as T
from services.matcher import vehicles
from services.matcher.calibration import CalibrationTable, Outcome, Tally, label
from services.matcher.evidence import description_contributions, field_log_odds
from services.matcher.matching import final
from services.matcher.scoring import CONFIRMED, POSSIBLE, MatchProfile, differences

P = MatchProfile()
LISTED = T.VehicleDescription(make="FORD", model="FOCUS ZETEC", colour="BLUE")


def weight(**read) -> float:
    return sum(c.log_odds for c in description_contributions(T.VehicleDescription(**read), LISTED, P))


def test_spellings_of_one_make_model_or_colour_agree():
    assert vehicles.canonical("make", "VW") == vehicles.canonical("make", "Volkswagen") == "volkswagen"
    assert vehicles.canonical("make", "MERCEDES-BENZ") == vehicles.canonical("make", "Mercedes") == "mercedesbenz"
    assert vehicles.canonical("colour", "Dark Grey") == vehicles.canonical("colour", "GRAY") == "grey"
    assert vehicles.same_model("focus", "focus") and vehicles.same_model("3", "320d")
    assert not vehicles.same_model("c", "cla") and vehicles.canonical("model", " ") == ""


def test_a_rare_colour_agreeing_tells_more_than_a_common_one():
    common = field_log_odds("colour", "blue", "BLUE", P)[0]
    rare = field_log_odds("colour", "yellow", "YELLOW", P)[0]
    assert 0 < common < rare <= P.description_cap


def test_one_disagreement_among_agreements_is_a_small_step_two_a_large_one_a_missing_field_none():
    agree = weight(make="Ford", colour="blue")
    one = weight(make="Ford", colour="red")
    two = weight(make="BMW", colour="red")
    assert weight() == 0 and weight(make="Ford") > 0
    assert agree > one > -1 > two  # one disagreement among agreements: about even
    assert two < -3  # two independent disagreements: a large step against
    neighbour = field_log_odds("colour", "navy", "BLUE", P)[0]  # navy is blue
    near = field_log_odds("colour", "grey", "BLUE", P)[0]
    far = field_log_odds("colour", "red", "BLUE", P)[0]
    assert neighbour > 0 > near > far  # a neighbouring colour is a smaller step than any other
    assert field_log_odds("make", "Skoda", "VOLKSWAGEN", P)[0] > field_log_odds("make", "BMW", "VOLKSWAGEN", P)[0]


def test_a_different_make_makes_the_model_say_nothing_more():
    factors = [c.factor for c in description_contributions(T.VehicleDescription(make="BMW", model="X5"), LISTED, P)]
    assert factors == ["make"]
    factors = [
        c.factor for c in description_contributions(T.VehicleDescription(make="Ford", model="Fiesta"), LISTED, P)
    ]
    assert factors == ["make", "model"]


@pytest.mark.parametrize(
    "read, entry",
    [
        ("A812CDE", "AB12CDE"),
        ("AB2CDE", "AB12CDE"),
        ("AB12CDEE", "AB12CDE"),
        ("A8I2CDE", "AB12CDE"),
        ("4B1ZCD", "AB12CDE"),
    ],
)
def test_the_contributions_add_up_to_the_hits_log_odds_and_score(read, entry):
    r = T.Read(vrm=read, confidence=70, camera_id="C1", vehicle=T.VehicleDescription(make="Ford", colour="red"))
    w = final(r, entry, LISTED, P)
    assert math.isclose(sum(c.log_odds for c in w.contributions), w.log_odds)
    assert w.score == pytest.approx(1 / (1 + math.exp(-w.log_odds)), abs=1e-4)
    cost, _ = differences(read, entry, P, "GB")
    vrm = [c for c in w.contributions if c.factor not in ("confidence", "make", "model", "colour")]
    assert math.isclose(sum(c.log_odds for c in vrm), P.misread_log_odds - cost)
    assert all(c.detail for c in w.contributions)


def test_a_rarer_confusion_on_a_valid_plate_needs_support_beyond_the_vrm():
    bare = final(T.Read(vrm="AB12CDF"), "AB12CDE", LISTED, P)  # E read as F: AB12CDF is a plate too
    assert bare.withheld
    described = final(
        T.Read(vrm="AB12CDF", vehicle=T.VehicleDescription(make="Ford", colour="blue")), "AB12CDE", LISTED, P
    )
    assert not described.withheld and described.tier in (CONFIRMED, POSSIBLE)
    malformed = final(T.Read(vrm="4B12CDE"), "AB12CDE", LISTED, P)  # 4 is no plate's first character
    assert not malformed.withheld and malformed.tier == CONFIRMED


def test_outcomes_recalibrate_a_confusion_at_one_camera_bounded_and_explained():
    hit = T.Hit(
        read=T.Read(camera_id="CAM-7"),
        hotlist=T.Hotlist(hotlist_id="pnc"),
        evidence=[
            T.EvidenceContribution(factor="misread", log_odds=5.0),
            T.EvidenceContribution(factor="well_formed_read", log_odds=-5.0),
            T.EvidenceContribution(factor="confusion", log_odds=-2.0, key="confusion:T7"),
        ],
    )
    accepted = Outcome.of("a1", T.ALERT_OUTCOME_ACCEPTED, "", hit)
    assert accepted.keys == ("confusion:T7",) and accepted.predicted == pytest.approx(1 / (1 + math.e**2))
    assert Outcome.of("a1", T.ALERT_OUTCOME_REJECTED, "no_action_needed", hit) is None
    assert Outcome.of("a1", T.ALERT_OUTCOME_REJECTED, "misread", hit).truth is False
    table = CalibrationTable(prior=4, most=2.0)
    p = accepted.predicted
    table.replace(
        [Tally("camera", "CAM-7", "confusion:T7", 14, 1, 15 * p), Tally("camera", "CAM-9", "colour", 0, 9, 9 * 0.5)], 1
    )
    (cam7,) = table.adjustments("CAM-7", "pnc", ["confusion:T7", "colour"])
    assert 0 < cam7.log_odds <= 2.0 and "CAM-7" in cam7.detail and "T read as 7" in cam7.detail
    assert table.adjustments("CAM-9", "pnc", ["colour"])[0].log_odds < 0  # a camera whose colours mislead
    assert table.adjustments("CAM-1", "pnc", ["confusion:T7"]) == []
    assert Tally("camera", "x", "k", 1000, 0, 10.0).adjustment(4, 2.0) == 2.0  # bounded
    assert label("confusion:T7") == "T read as 7" and label("dropped") == "a dropped character"
