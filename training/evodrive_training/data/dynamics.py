"""Ego dynamics per keyframe: CAN bus values where present, else a kinematic estimate from poses.

Values are (speed m/s, longitudinal acc m/s^2, lateral acc m/s^2 left +, steering-wheel angle rad left +),
the quantities of the paper's "historical ego" prompt line. CAN "pose" gives the first three
(``vel[0]``, ``accel[0]``, ``accel[1]``), ``steeranglefeedback`` the last. Where a value is missing
(no CAN expansion, blacklisted scene, gap in the log) it is estimated from the keyframe poses (or,
as the authors' cached data has it, set to 0):
velocity and acceleration by finite differences projected on the heading, steering from the yaw
rate through ``conventions.steering_wheel_angle``, the bicycle model the node applies to odometry.
The source of every value is kept.
"""

from __future__ import annotations

import numpy as np

from evodrive_ros.core.conventions import steering_wheel_angle
from evodrive_ros.core.driving_samples import SOURCE_CAN, SOURCE_KINEMATIC, SOURCE_ZERO


def kinematic_dynamics(timestamps_us: np.ndarray, ego_xy: np.ndarray, ego_yaw: np.ndarray) -> np.ndarray:
    """(N, 4) dynamics estimated from keyframe poses alone (zeros for a single keyframe)."""
    n = len(timestamps_us)
    if n < 2:
        return np.zeros((n, 4))
    t = (np.asarray(timestamps_us, dtype=np.float64) - timestamps_us[0]) * 1e-6
    velocity = np.gradient(np.asarray(ego_xy, dtype=np.float64), t, axis=0)
    accel = np.gradient(velocity, t, axis=0)
    yaw = np.unwrap(np.asarray(ego_yaw, dtype=np.float64))
    heading = np.stack([np.cos(yaw), np.sin(yaw)], axis=1)
    left = np.stack([-np.sin(yaw), np.cos(yaw)], axis=1)
    speed = np.sum(velocity * heading, axis=1)
    yaw_rate = np.gradient(yaw, t)
    return np.stack(
        [speed, np.sum(accel * heading, axis=1), np.sum(accel * left, axis=1), steering_wheel_angle(speed, yaw_rate)],
        axis=1,
    )


def scene_dynamics(
    timestamps_us: np.ndarray, ego_xy: np.ndarray, ego_yaw: np.ndarray, can_motion: np.ndarray, can_steering: np.ndarray,
    missing: str = "kinematic",
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) values and (N, 4) uint8 sources. A missing CAN value is estimated from the poses
    (``missing="kinematic"``, ``SOURCE_KINEMATIC``) or is 0 as in the authors' cached data
    (``"zero"``, ``SOURCE_ZERO``)."""
    can = np.concatenate([np.asarray(can_motion, dtype=np.float64), np.asarray(can_steering, dtype=np.float64)[:, None]], axis=1)
    from_can = np.isfinite(can)
    if missing == "zero":
        return np.where(from_can, can, 0.0), np.where(from_can, SOURCE_CAN, SOURCE_ZERO).astype(np.uint8)
    values = np.where(from_can, can, kinematic_dynamics(timestamps_us, ego_xy, ego_yaw))
    sources = np.where(from_can, SOURCE_CAN, SOURCE_KINEMATIC).astype(np.uint8)
    return values, sources
