"""Per-camera rate limit: a token bucket per camera, in this replica's memory."""

from __future__ import annotations

import time


class CameraRateLimiter:
    def __init__(self, rate_per_s: float, burst: int, clock=time.monotonic):
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # camera -> (tokens, last time)

    def allow(self, camera_id: str) -> bool:
        """Take one token for `camera_id`; False when the camera is over its rate."""
        now = self._clock()
        tokens, last = self._buckets.get(camera_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[camera_id] = (tokens, now)
            return False
        self._buckets[camera_id] = (tokens - 1.0, now)
        return True

    def retry_after_s(self, camera_id: str) -> float:
        tokens, _ = self._buckets.get(camera_id, (self._burst, 0.0))
        return max(0.0, (1.0 - tokens) / self._rate)
