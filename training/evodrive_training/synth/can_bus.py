"""CAN bus expansion files (``<dataroot>/can_bus/scene-XXXX_<message>.json``) from a simulated scene.

Written: ``pose`` (50 Hz), ``ms_imu`` (100 Hz), ``steeranglefeedback`` (100 Hz), ``vehicle_monitor``
(2 Hz), ``route`` and ``meta``. Conventions as in nuScenes: ``pose.vel``/``accel``/``rotation_rate``
are in the ego frame (x forward, y left; accel without gravity, ``ms_imu.linear_accel`` with it),
orientation [w, x, y, z]; the steering value is the steering-wheel angle in radians, positive left
(road-wheel angle times ``STEERING_RATIO``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from evodrive_ros.core.conventions import STEERING_RATIO, bicycle_yaw_rate

from .camera_rig import yaw_quaternion
from .world import SceneLog

POSE_HZ, IMU_HZ, STEER_HZ, MONITOR_HZ = 50, 100, 100, 2
GRAVITY = 9.81


def _samples(log: SceneLog, hz: int, end_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Times and interpolated ego states (x, y, yaw, speed, accel, steer) at ``hz`` up to ``end_s``."""
    times = np.arange(int(round(end_s * hz)) + 1) / hz
    return times, np.array([log.ego_at(t) for t in times])


def write_can_bus(can_dir: Path, scene_name: str, log: SceneLog, start_utime: int, end_s: float) -> None:
    def utimes(times: np.ndarray) -> list[int]:
        return [int(start_utime + round(t * 1e6)) for t in times]

    def dump(message: str, data) -> None:
        (can_dir / f"{scene_name}_{message}.json").write_text(json.dumps(data))

    messages: dict[str, list[dict]] = {}
    times, ego = _samples(log, POSE_HZ, end_s)
    yaw_rate = bicycle_yaw_rate(ego[:, 3], ego[:, 5])
    messages["pose"] = [
        {"utime": u, "pos": [float(e[0]), float(e[1]), 0.0], "orientation": yaw_quaternion(float(e[2])),
         "vel": [float(e[3]), 0.0, 0.0], "accel": [float(e[4]), float(e[3] * r), 0.0], "rotation_rate": [0.0, 0.0, float(r)]}
        for u, e, r in zip(utimes(times), ego, yaw_rate)
    ]
    times, ego = _samples(log, IMU_HZ, end_s)
    yaw_rate = bicycle_yaw_rate(ego[:, 3], ego[:, 5])
    messages["ms_imu"] = [
        {"utime": u, "linear_accel": [float(e[4]), float(e[3] * r), GRAVITY], "q": yaw_quaternion(float(e[2])),
         "rotation_rate": [0.0, 0.0, float(r)]}
        for u, e, r in zip(utimes(times), ego, yaw_rate)
    ]
    times, ego = _samples(log, STEER_HZ, end_s)
    messages["steeranglefeedback"] = [{"utime": u, "value": float(e[5] * STEERING_RATIO)} for u, e in zip(utimes(times), ego)]
    times, ego = _samples(log, MONITOR_HZ, end_s)
    messages["vehicle_monitor"] = [
        {"utime": u, "vehicle_speed": float(e[3] * 3.6), "steering": float(np.rad2deg(e[5] * STEERING_RATIO)),
         "yaw_rate": float(np.rad2deg(bicycle_yaw_rate(e[3], e[5]))),
         "throttle": float(max(e[4], 0.0) * 100), "brake": float(max(-e[4], 0.0) * 10), "gear_position": 7,
         "left_signal": 0, "right_signal": 0, "brake_switch": int(e[4] < -0.3)}
        for u, e in zip(utimes(times), ego)
    ]
    for message, data in messages.items():
        dump(message, data)
    dump("route", [[float(x), float(y)] for x, y in log.layout.route[::4]])
    dump("meta", {
        message: {"message_count": len(data), "message_freq": hz, "first_utime": data[0]["utime"], "last_utime": data[-1]["utime"]}
        for (message, data), hz in zip(messages.items(), (POSE_HZ, IMU_HZ, STEER_HZ, MONITOR_HZ))
    })
