"""The notify benchmark's own judge can fail: a delivery outside a terminal's circle counts as wrong,
an expected one not received as missed, and an alert placed away from its camera as a mismatch."""

from __future__ import annotations

import time

from benchmarks.notify_bench import Truth, judge

NEAR, FAR = (51.45, -0.97), (51.65, -0.97)  # 22 km apart
CAMERA = "BENCH-CAM-000"


def read_id(sent: float) -> str:
    return f"nb.0.0.0.{int(sent * 1e6)}.0"


def test_an_alert_on_the_far_terminal_is_wrong_and_the_near_one_missed():
    truth = Truth([NEAR, FAR], [NEAR], radius_km=5.0)
    sent = time.time()
    rid = read_id(sent)
    got = judge(truth, [(rid, CAMERA)], [(1, rid, sent + 0.02, True, *NEAR)], sent - 1, sent + 1)
    assert (got["expected"], got["delivered"], got["missed"], got["wrong"]) == (1, 0, 1, 1)
    assert got["lat_ms"] == []


def test_the_right_terminal_once_is_one_timed_delivery_and_a_misplaced_alert_is_a_mismatch():
    truth = Truth([NEAR, FAR], [NEAR], radius_km=5.0)
    sent = time.time()
    rid = read_id(sent)
    got = judge(
        truth,
        [(rid, CAMERA)],
        [(0, rid, sent + 0.02, True, *NEAR), (0, rid, sent + 0.03, True, *NEAR)],
        sent - 1,
        sent + 1,
    )
    assert (got["delivered"], got["missed"], got["wrong"], got["duplicates"], got["location_mismatch"]) == (
        1,
        0,
        0,
        1,
        0,
    )
    assert len(got["lat_ms"]) == 1 and 19 < got["lat_ms"][0][1] < 21
    misplaced = judge(truth, [(rid, CAMERA)], [(0, rid, sent + 0.02, False, 0.0, 0.0)], sent - 1, sent + 1)
    assert misplaced["location_mismatch"] == 1 and misplaced["wrong"] == 0
