"""The six-camera rig: nuScenes-like mounting and intrinsics, scaled to the output resolution.

Values follow the nuScenes calibration (Renault Zoe rig, 1600x900 images), idealised to level
cameras at the nominal yaw angles so the horizon is a row of the image. Camera frame: x right,
y down, z forward (OpenCV / nuScenes). Ego frame: x forward, y left, z up, origin at the rear axle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyquaternion import Quaternion

from evodrive_ros.core.conventions import CAMERAS

NUSCENES_SIZE = (1600, 900)

# channel: (x, y, z in the ego frame [m], yaw [deg], focal length [px at 1600x900])
_NUSCENES_RIG = {
    "CAM_FRONT": (1.70, 0.016, 1.51, 0.0, 1266.4),
    "CAM_FRONT_LEFT": (1.52, 0.495, 1.51, 55.0, 1272.6),
    "CAM_FRONT_RIGHT": (1.55, -0.493, 1.50, -55.0, 1260.8),
    "CAM_BACK": (0.03, 0.003, 1.58, 180.0, 809.2),
    "CAM_BACK_LEFT": (1.04, 0.485, 1.59, 110.0, 1256.7),
    "CAM_BACK_RIGHT": (1.01, -0.481, 1.56, -110.0, 1259.5),
}
LIDAR_TOP = ("LIDAR_TOP", np.array([0.94, 0.0, 1.84]), -90.0)  # nuScenes lidar: x right, y forward


@dataclass(frozen=True)
class Camera:
    channel: str
    width: int
    height: int
    intrinsic: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,) camera origin in the ego frame
    rotation: np.ndarray  # (3, 3) ego_from_camera

    @property
    def quaternion(self) -> list[float]:
        """Rotation ego_from_camera as [w, x, y, z] (nuScenes order)."""
        return list(Quaternion(matrix=self.rotation).elements)

    @property
    def frame_id(self) -> str:
        return self.channel.lower()


def camera_rotation(yaw_deg: float) -> np.ndarray:
    """ego_from_camera for a level camera looking along ``yaw_deg`` (0 = forward, positive left)."""
    yaw = np.deg2rad(yaw_deg)
    forward = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.array([0.0, 0.0, -1.0])
    return np.stack([right, down, forward], axis=1)


def build_rig(width: int, height: int) -> list[Camera]:
    """The six cameras in ``CAMERAS`` order with intrinsics scaled from 1600x900 to ``width``x``height``."""
    sx, sy = width / NUSCENES_SIZE[0], height / NUSCENES_SIZE[1]
    rig = []
    for channel in CAMERAS:
        x, y, z, yaw, focal = _NUSCENES_RIG[channel]
        intrinsic = np.array([[focal * sx, 0.0, width / 2], [0.0, focal * sy, height / 2], [0.0, 0.0, 1.0]])
        rig.append(Camera(channel, width, height, intrinsic, np.array([x, y, z]), camera_rotation(yaw)))
    return rig


def yaw_quaternion(yaw: float) -> list[float]:
    """Rotation about z as [w, x, y, z]."""
    return [float(np.cos(yaw / 2)), 0.0, 0.0, float(np.sin(yaw / 2))]
