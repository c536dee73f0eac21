"""Ego history and dynamics from an odometry stream, in the form the model was trained on.

Training reads these quantities from nuScenes ego poses and the CAN bus at 2 Hz keyframes; on a
vehicle they come from ``nav_msgs/Odometry``. This module rebuilds the same 2 s history (5 poses in
the current ego frame) and the same dynamics (speed, longitudinal and lateral acceleration, steering
wheel angle) from buffered odometry, so the prompt a vehicle builds matches the training prompt.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from evodrive_ros.core.conventions import HISTORY_TIMES_S, steering_wheel_angle
from evodrive_ros.core.frames import quaternion_yaw, rotation_2d, world_to_ego_xy

_DERIVATIVE_HALF_WINDOW_S = 0.25


@dataclass(frozen=True)
class OdomSample:
    stamp_s: float
    x: float  # odometry frame, metres
    y: float
    yaw: float  # radians, counter-clockwise
    speed: float  # longitudinal speed in the body frame, m/s
    yaw_rate: float  # rad/s


def odom_sample(
    stamp_s: float, x: float, y: float, q_wxyz: tuple[float, float, float, float], speed: float, yaw_rate: float
) -> OdomSample | None:
    """The sample of one ``nav_msgs/Odometry`` (pose.position, pose.orientation, twist.linear.x,
    twist.angular.z; twist in the child frame); None when a value is not finite. The node and the
    train/serve parity test both call this, so the mapping exists once."""
    values = (stamp_s, x, y, *q_wxyz, speed, yaw_rate)
    if not all(np.isfinite(values)):
        return None
    return OdomSample(float(stamp_s), float(x), float(y), quaternion_yaw(np.asarray(q_wxyz)), float(speed), float(yaw_rate))


@dataclass(frozen=True)
class EgoState:
    stamp_s: float
    position: np.ndarray  # (2,) odometry frame
    yaw: float
    history_xy: np.ndarray  # (5, 2) current ego frame, last is (0, 0)
    history_valid: np.ndarray  # (5,) False where the buffer did not reach back (padded with the oldest pose)
    dynamics: np.ndarray  # (5, 4) speed, acc_long, acc_lat (left +), steering wheel angle (left +)
    history_yaw: np.ndarray  # (5,) headings relative to the current one (a lidar-frame model's history needs them)

    def ego_to_odom(self, xy_ego: np.ndarray) -> np.ndarray:
        """Ego-frame points (N, 2) -> odometry frame."""
        return np.asarray(xy_ego, dtype=np.float64) @ rotation_2d(self.yaw).T + self.position


class OdometryBuffer:
    """The last few seconds of odometry; interpolates the ego state at any covered time."""

    def __init__(self, horizon_s: float = 3.0) -> None:
        self.horizon_s = horizon_s
        self._samples: deque[OdomSample] = deque()

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def latest_stamp(self) -> float | None:
        return self._samples[-1].stamp_s if self._samples else None

    def clear(self) -> None:
        self._samples.clear()

    def add(self, sample: OdomSample) -> None:
        """Append a sample; out-of-order samples are dropped, samples beyond the horizon forgotten."""
        if self._samples and sample.stamp_s <= self._samples[-1].stamp_s:
            return
        self._samples.append(sample)
        while self._samples[0].stamp_s < sample.stamp_s - self.horizon_s:
            self._samples.popleft()

    def ego_state(self, stamp_s: float) -> EgoState:
        """History and dynamics at ``stamp_s``. Needs >= 1 sample.

        Before the first sample the oldest pose stands in (flagged in ``history_valid``). After the
        last one (odometry usually lags the camera stamp by up to one period, more over DDS) the pose
        is extrapolated at constant speed and yaw rate: holding the last pose instead would put "now"
        behind the car and shorten the newest history step by speed x lag (0.16 m at 8 m/s and 50 Hz).
        The caller bounds the lag (the node's ``max_input_age_s``).
        """
        if not self._samples:
            raise ValueError("no odometry received")
        table = np.array([[s.stamp_s, s.x, s.y, s.yaw, s.speed, s.yaw_rate] for s in self._samples])
        table[:, 3] = np.unwrap(table[:, 3])
        first = table[0, 0]
        times = np.array(HISTORY_TIMES_S) + stamp_s
        valid = times >= first - 1e-3
        poses = table if stamp_s <= table[-1, 0] else np.vstack([table, _extrapolate(table[-1], stamp_s)])
        state = _interpolate(poses, np.maximum(times, first))
        now_xy, now_yaw = state[-1, 1:3], float(state[-1, 3])
        history = world_to_ego_xy(state[:, 1:3], now_xy, now_yaw)
        speed_ahead = _interpolate(table, np.maximum(times + _DERIVATIVE_HALF_WINDOW_S, first))[:, 4]
        speed_behind = _interpolate(table, np.maximum(times - _DERIVATIVE_HALF_WINDOW_S, first))[:, 4]
        span = np.maximum(
            np.minimum(times + _DERIVATIVE_HALF_WINDOW_S, table[-1, 0]) - np.maximum(times - _DERIVATIVE_HALF_WINDOW_S, first),
            1e-3,
        )
        speed, yaw_rate = state[:, 4], state[:, 5]
        dynamics = np.stack(
            [speed, (speed_ahead - speed_behind) / span, speed * yaw_rate, steering_wheel_angle(speed, yaw_rate)], axis=1
        )
        return EgoState(
            stamp_s=stamp_s,
            position=now_xy.copy(),
            yaw=now_yaw,
            history_xy=history,
            history_valid=valid,
            dynamics=dynamics,
            history_yaw=state[:, 3] - now_yaw,
        )


def _extrapolate(row: np.ndarray, stamp_s: float) -> np.ndarray:
    """Table row (t, x, y, yaw, speed, yaw_rate) moved to ``stamp_s`` on a constant-turn-rate arc."""
    t, x, y, yaw, speed, yaw_rate = row
    dt = stamp_s - t
    turn = yaw_rate * dt
    # Chord of the arc: length speed*dt*sinc(turn/2), heading yaw + turn/2 (exact, and straight at turn=0).
    chord = speed * dt * np.sinc(turn / (2 * np.pi))
    heading = yaw + turn / 2
    return np.array([stamp_s, x + chord * np.cos(heading), y + chord * np.sin(heading), yaw + turn, speed, yaw_rate])


def _interpolate(table: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Linear interpolation of every column of ``table`` (first column = time), clamped at the ends."""
    return np.stack([times] + [np.interp(times, table[:, 0], table[:, c]) for c in range(1, table.shape[1])], axis=1)
