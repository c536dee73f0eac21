"""Kinematic extrapolation from the ego history and dynamics (no learning, no images).

The open-loop baselines (``evodrive baseline``) and the node's model-free ``kinematic`` backend both
use these, so the floor in the evaluation tables is the planner a vehicle would fall back to.

All work in the current ego frame, where the heading is the x axis:
* ``cv``: constant speed straight ahead;
* ``ca``: constant longitudinal acceleration straight ahead, stopping rather than reversing;
* ``ctrv``: constant speed and turn rate, the turn rate taken from the heading change over the
  last second of history (0 when the history is padded or the car is slow);
* ``ctra``: the same turn rate with constant longitudinal acceleration (stopping, not reversing):
  the prior the tiny preset's ``ctra-residual`` codec corrects.

``integrate_dynamics`` turns a sequence of (speed, acceleration, steering) readings into a path:
the oracle teacher's view of its privileged future ego state.
"""

from __future__ import annotations

import numpy as np

from evodrive_ros.core.conventions import FUTURE_TIMES_S, STEERING_RATIO, STEP_S, bicycle_yaw_rate
from evodrive_ros.core.frames import wrap_angle

MIN_SPEED_FOR_TURN_RATE_MPS = 1.0
KINEMATIC_MODELS: tuple[str, ...] = ("cv", "ca", "ctrv", "ctra")
_SUBSTEPS = 10  # integration steps per 0.5 s interval


def predict_kinematic(model: str, history_xy: np.ndarray, history_valid: np.ndarray, history_dynamics: np.ndarray) -> np.ndarray:
    """(N, 6, 2) ego-frame waypoints from (N, 5, 2) history, (N, 5) validity and (N, 5, 4) dynamics."""
    t = np.asarray(FUTURE_TIMES_S)[None, :]
    speed = np.maximum(history_dynamics[:, -1, 0], 0.0)[:, None]
    if model == "cv":
        return _straight(speed * t)
    if model == "ca":
        accel = history_dynamics[:, -1, 1][:, None]
        stop_time = np.where(accel < 0, speed / np.maximum(-accel, 1e-9), np.inf)
        tc = np.minimum(t, stop_time)
        return _straight(speed * tc + 0.5 * accel * tc**2)
    if model == "ctrv":
        omega = _turn_rate(history_xy, history_valid, speed[:, 0])[:, None]
        small = np.abs(omega) < 1e-6
        safe = np.where(small, 1.0, omega)
        x = np.where(small, speed * t, speed / safe * np.sin(omega * t))
        y = np.where(small, 0.0, speed / safe * (1.0 - np.cos(omega * t)))
        return np.stack([x, y], axis=-1)
    if model == "ctra":
        omega = _turn_rate(history_xy, history_valid, speed[:, 0])
        knots = np.concatenate([[0.0], t[0]])
        speeds = np.maximum(speed + history_dynamics[:, -1, 1][:, None] * knots[None], 0.0)
        return _integrate(knots, speeds, np.repeat(omega[:, None], len(knots), axis=1))
    raise ValueError(f"unknown kinematic model {model!r} (expected one of {', '.join(KINEMATIC_MODELS)})")


def _straight(distance: np.ndarray) -> np.ndarray:
    return np.stack([distance, np.zeros_like(distance)], axis=-1)


def _turn_rate(history_xy: np.ndarray, history_valid: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Yaw rate (rad/s) from the directions of the last two history displacements."""
    recent = history_xy[:, -1] - history_xy[:, -2]  # centred at -0.25 s
    earlier = history_xy[:, -2] - history_xy[:, -3]  # centred at -0.75 s
    change = np.arctan2(recent[:, 1], recent[:, 0]) - np.arctan2(earlier[:, 1], earlier[:, 0])
    change = wrap_angle(change)
    usable = history_valid[:, -3:].all(axis=1) & (speed >= MIN_SPEED_FOR_TURN_RATE_MPS)
    return np.where(usable, change / STEP_S, 0.0)


def integrate_dynamics(current: np.ndarray, future: np.ndarray) -> np.ndarray:
    """(N, 6, 2) path from the ego state now (N, 4) and at +0.5 ... +3.0 s (N, 6, 4).

    Rows are (speed, longitudinal acc, lateral acc left +, steering-wheel angle). The yaw rate is
    the lateral acceleration over the speed, or the bicycle model's from the steering angle when the
    car is slow; speed and yaw rate are interpolated linearly between the readings.
    """
    rows = np.concatenate([np.asarray(current, dtype=np.float64)[:, None], np.asarray(future, dtype=np.float64)], axis=1)
    speeds = np.maximum(rows[..., 0], 0.0)
    from_accel = rows[..., 2] / np.maximum(speeds, MIN_SPEED_FOR_TURN_RATE_MPS)
    from_steering = bicycle_yaw_rate(speeds, rows[..., 3] / STEERING_RATIO)
    yaw_rates = np.where(speeds >= MIN_SPEED_FOR_TURN_RATE_MPS, from_accel, from_steering)
    return _integrate(np.concatenate([[0.0], FUTURE_TIMES_S]), speeds, yaw_rates)


def _integrate(knots: np.ndarray, speeds: np.ndarray, yaw_rates: np.ndarray) -> np.ndarray:
    """Positions at ``knots[1:]`` of a car starting at the origin heading +x; speed and yaw rate
    (N, K) given at the knots and linear in between (midpoint rule on fine sub-steps)."""
    fine = np.linspace(knots[0], knots[-1], (len(knots) - 1) * _SUBSTEPS + 1)
    mid = 0.5 * (fine[1:] + fine[:-1])
    dt = np.diff(fine)[None]
    speed = np.stack([np.interp(mid, knots, row) for row in speeds])
    omega = np.stack([np.interp(mid, knots, row) for row in yaw_rates])
    heading = np.cumsum(omega * dt, axis=1) - 0.5 * omega * dt  # heading at each sub-step's midpoint
    x = np.cumsum(speed * np.cos(heading) * dt, axis=1)
    y = np.cumsum(speed * np.sin(heading) * dt, axis=1)
    at_knots = np.arange(1, len(knots)) * _SUBSTEPS - 1
    return np.stack([x[:, at_knots], y[:, at_knots]], axis=-1)
