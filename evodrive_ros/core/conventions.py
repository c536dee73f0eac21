"""Project-wide conventions: cameras, timing, commands (DESIGN.md §2).

Every trajectory inside the project is in the ego frame of the current keyframe, REP-103:
x forward, y left, metres. Conversions to other conventions live in ``frames``/``trajectory_codec``.
"""

from __future__ import annotations

import numpy as np

# The six nuScenes cameras, in the order the paper feeds them to the model.
CAMERAS: tuple[str, ...] = (
    "CAM_FRONT",
    "CAM_FRONT_LEFT",
    "CAM_FRONT_RIGHT",
    "CAM_BACK",
    "CAM_BACK_LEFT",
    "CAM_BACK_RIGHT",
)

KEYFRAME_HZ = 2.0
STEP_S = 1.0 / KEYFRAME_HZ
HISTORY_STEPS = 5  # poses at -2.0, -1.5, -1.0, -0.5, 0.0 s
FUTURE_STEPS = 6  # waypoints at +0.5 ... +3.0 s
HISTORY_TIMES_S: tuple[float, ...] = tuple(-STEP_S * i for i in reversed(range(HISTORY_STEPS)))
FUTURE_TIMES_S: tuple[float, ...] = tuple(STEP_S * (i + 1) for i in range(FUTURE_STEPS))

# Commands, in the order of the community one-hot vector (right, left, forward).
COMMANDS: tuple[str, ...] = ("RIGHT", "LEFT", "FORWARD")
COMMAND_LATERAL_THRESHOLD_M = 2.0


def command_from_future(future_xy: np.ndarray) -> str:
    """Dataset label of the route command (UniAD/VAD rule).

    ``future_xy`` is (6, 2) in the ego frame (x forward, y left). The lateral offset of the 3 s
    waypoint decides: >= 2 m to the right -> RIGHT, >= 2 m to the left -> LEFT, else FORWARD.
    """
    lateral_left = float(np.asarray(future_xy, dtype=np.float64)[-1, 1])
    if lateral_left <= -COMMAND_LATERAL_THRESHOLD_M:
        return "RIGHT"
    if lateral_left >= COMMAND_LATERAL_THRESHOLD_M:
        return "LEFT"
    return "FORWARD"

# Vehicle model used to turn yaw rate into a steering-wheel angle where no CAN steering exists
# (odometry on a vehicle; the synthetic world's CAN bus uses the same model).
WHEELBASE_M = 2.588  # nuScenes' Renault Zoe
STEERING_RATIO = 15.0
MIN_SPEED_FOR_STEERING_MPS = 1.0  # below this the yaw rate says little about the steering


def bicycle_yaw_rate(speed: np.ndarray | float, road_wheel_angle: np.ndarray | float) -> np.ndarray:
    """Yaw rate (rad/s, left +) of a kinematic bicycle (rear-axle reference) at ``speed`` with the
    front wheels at ``road_wheel_angle`` (rad; a steering-wheel angle is this × ``STEERING_RATIO``)."""
    return np.asarray(speed, dtype=np.float64) * np.tan(road_wheel_angle) / WHEELBASE_M


def steering_wheel_angle(speed: np.ndarray | float, yaw_rate: np.ndarray | float) -> np.ndarray:
    """Steering-wheel angle (rad, left +) of a kinematic bicycle with the given speed and yaw rate.

    The curvature is yaw rate / signed speed (reversing with the wheel turned left turns the car
    clockwise); the speed's magnitude is floored so that a standing car reads a straight wheel.
    """
    speed = np.asarray(speed, dtype=np.float64)
    signed_floor = np.where(speed < 0, -1.0, 1.0) * np.maximum(np.abs(speed), MIN_SPEED_FOR_STEERING_MPS)
    curvature = np.asarray(yaw_rate, dtype=np.float64) / signed_floor
    return STEERING_RATIO * np.arctan(WHEELBASE_M * curvature)
