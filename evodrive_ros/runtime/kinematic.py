"""A model-free planner: constant velocity and turn rate from the odometry history.

Useful as a fallback backend (``backend: kinematic``), as the floor every learned model must beat,
and to exercise the ROS plumbing without a model.
"""

from __future__ import annotations

import time

import numpy as np

from evodrive_ros.core.conventions import FUTURE_TIMES_S
from evodrive_ros.runtime.interface import PlannerInput, PlanResult


def constant_turn_rate(speed: float, yaw_rate: float) -> np.ndarray:
    """(6, 2) ego-frame waypoints of an arc at constant speed and yaw rate."""
    t = np.asarray(FUTURE_TIMES_S)
    if abs(yaw_rate) < 1e-4:
        return np.stack([speed * t, np.zeros_like(t)], axis=1)
    radius = speed / yaw_rate
    return np.stack([radius * np.sin(yaw_rate * t), radius * (1.0 - np.cos(yaw_rate * t))], axis=1)


class KinematicPlanner:
    model_id = "kinematic-ctrv"

    def plan(self, inputs: PlannerInput) -> PlanResult:
        start = time.perf_counter()
        speed = float(inputs.dynamics[-1, 0])
        yaw_rate = float(inputs.dynamics[-1, 2]) / max(abs(speed), 0.1)  # acc_lat = v * yaw_rate
        waypoints = constant_turn_rate(speed, yaw_rate)
        return PlanResult(waypoints=waypoints, timings_ms={"total": (time.perf_counter() - start) * 1e3})
