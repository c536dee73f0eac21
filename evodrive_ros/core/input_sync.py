"""Choosing the inputs of one planning cycle: the freshest synchronised camera set.

The anchor camera's newest frame defines the planning time. Every other camera contributes its
frame closest to that time; the set is rejected if any camera is missing, the cameras are further
apart than the allowed skew, the anchor is too old, or that anchor frame was already planned
(a plan is never re-stamped). These are plain functions so tests can drive them without DDS.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from evodrive_ros.core.skip_reasons import Skip, SkipReason

Frame = TypeVar("Frame")


@dataclass(frozen=True)
class FrameSet(Generic[Frame]):
    stamp_s: float  # the anchor camera's stamp: the time the plan is for
    frames: dict[str, Frame]  # camera name -> frame (whatever the caller buffers, e.g. a message and its decoding)
    stamps: dict[str, float]


class CameraBuffers(Generic[Frame]):
    """The last few frames of each camera, keyed by stamp."""

    def __init__(self, cameras: list[str], depth: int = 4) -> None:
        self.cameras = list(cameras)
        self._frames: dict[str, deque[tuple[float, Frame]]] = {c: deque(maxlen=depth) for c in self.cameras}

    def add(self, camera: str, stamp_s: float, frame: Frame) -> list[Frame]:
        """Keep ``frame``; returns the frames it pushed out (or ``[frame]`` for a repeated stamp)."""
        buffer = self._frames[camera]
        dropped: list[Frame] = []
        if buffer and stamp_s <= buffer[-1][0]:
            if stamp_s == buffer[-1][0]:
                return [frame]
            dropped = [f for _, f in buffer]  # time went backwards (bag loop, sim reset): start over
            buffer.clear()
        if len(buffer) == buffer.maxlen:
            dropped.append(buffer[0][1])
        buffer.append((stamp_s, frame))
        return dropped

    def latest_stamp(self, camera: str) -> float | None:
        buffer = self._frames[camera]
        return buffer[-1][0] if buffer else None

    def clear(self) -> None:
        for buffer in self._frames.values():
            buffer.clear()

    def complete(self, anchor: str, max_skew_s: float, last_planned_s: float | None) -> bool:
        """True when the anchor has an unplanned newest frame and every camera has one close to it."""
        if not self._frames[anchor]:
            return False
        anchor_stamp = self._frames[anchor][-1][0]
        if last_planned_s is not None and anchor_stamp <= last_planned_s:
            return False
        return all(
            buffer and abs(buffer[-1][0] - anchor_stamp) <= max_skew_s and buffer[-1][0] >= anchor_stamp
            for buffer in self._frames.values()
        )

    def select(
        self, anchor: str, now_s: float, max_age_s: float, max_skew_s: float, last_planned_s: float | None
    ) -> FrameSet[Frame] | Skip:
        """The cycle's frame set, or why there is none."""
        for camera in self.cameras:
            if not self._frames[camera]:
                return Skip(SkipReason.MISSING_CAMERA, camera)
        anchor_stamp, _ = self._frames[anchor][-1]
        if last_planned_s is not None and anchor_stamp <= last_planned_s:
            return Skip(SkipReason.NO_NEW_FRAME)
        if now_s - anchor_stamp > max_age_s:
            return Skip(SkipReason.STALE_CAMERA, f"{now_s - anchor_stamp:.3f} s old")
        frames, stamps = {}, {}
        for camera in self.cameras:
            stamp, frame = min(self._frames[camera], key=lambda item: abs(item[0] - anchor_stamp))
            if abs(stamp - anchor_stamp) > max_skew_s:
                return Skip(SkipReason.CAMERA_SKEW, camera)
            frames[camera], stamps[camera] = frame, stamp
        return FrameSet(stamp_s=anchor_stamp, frames=frames, stamps=stamps)


class RateLimiter:
    """Token bucket: on average at most ``rate_hz`` cycles, bursts of ``burst`` allowed.

    A bucket (not a minimum interval) lets a 10 Hz planner follow 12 Hz cameras at a full 10 Hz:
    a minimum interval of 0.1 s would skip every other 83 ms frame and plan at 6 Hz.
    """

    def __init__(self, rate_hz: float, burst: float = 2.0) -> None:
        self.rate_hz, self.burst = rate_hz, burst
        self._tokens, self._last = burst, None

    def try_acquire(self, now_s: float) -> bool:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now_s - self._last) * self.rate_hz)
        self._last = now_s
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
