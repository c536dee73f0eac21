"""CARLA's frames and ours, converted here and nowhere else.

CARLA (Unreal Engine) is left-handed: x forward, y right, z up, lengths in metres, angles in
degrees, yaw clockwise seen from above and pitch positive nose-up. Ours (ROS REP 103, the nuScenes
ego frame): right-handed, x forward, y left, z up, radians, yaw counter-clockwise. Mirroring y maps
one onto the other: (x, y, z) -> (x, -y, z), roll -> roll, pitch -> -pitch, yaw -> -yaw (the
carla-ros-bridge convention, so the ``carla`` launch preset's topics agree with this module).
Cameras: ours are described by ``ego_from_camera`` in the OpenCV optical frame (x right, y down,
z forward); a CARLA camera looks along its own x axis.
"""

from __future__ import annotations

import numpy as np


def location_to_ros(x: float, y: float, z: float) -> np.ndarray:
    return np.array([x, -y, z], dtype=np.float64)


def location_from_ros(x: float, y: float, z: float) -> tuple[float, float, float]:
    return float(x), float(-y), float(z)


def rotation_to_ros(roll_deg: float, pitch_deg: float, yaw_deg: float) -> np.ndarray:
    """CARLA (roll, pitch, yaw) degrees -> ours (roll, pitch, yaw) radians."""
    return np.array([np.radians(roll_deg), -np.radians(pitch_deg), -np.radians(yaw_deg)])


def rotation_from_ros(roll: float, pitch: float, yaw: float) -> tuple[float, float, float]:
    """Ours (roll, pitch, yaw) radians -> CARLA (roll, pitch, yaw) degrees."""
    return float(np.degrees(roll)), float(-np.degrees(pitch)), float(-np.degrees(yaw))


def camera_mount(translation: np.ndarray, ego_from_optical: np.ndarray, origin_offset_x: float = 0.0
                 ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """A camera of our rig as a CARLA sensor transform relative to the vehicle: (location x, y, z),
    (roll, pitch, yaw) degrees. ``origin_offset_x``: where the CARLA vehicle origin sits along our x
    axis (our origin is the rear axle; CARLA's is near the vehicle's centre)."""
    rotation = np.asarray(ego_from_optical, dtype=np.float64)
    forward, left, up = rotation[:, 2], -rotation[:, 0], -rotation[:, 1]  # the camera body frame, REP 103 style
    body = np.stack([forward, left, up], axis=1)
    yaw = np.arctan2(body[1, 0], body[0, 0])
    pitch = -np.arcsin(np.clip(body[2, 0], -1.0, 1.0))
    roll = np.arctan2(body[2, 1], body[2, 2])
    x, y, z = np.asarray(translation, dtype=np.float64)
    return location_from_ros(x - origin_offset_x, y, z), rotation_from_ros(roll, pitch, yaw)


def horizontal_fov_deg(width: int, focal_px: float) -> float:
    """CARLA cameras take a horizontal field of view; ours a focal length (square pixels)."""
    return float(np.degrees(2.0 * np.arctan(width / (2.0 * focal_px))))
