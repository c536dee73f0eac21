"""Poses and frame changes: world (nuScenes global) -> ego frame of the current keyframe.

Quaternions are nuScenes' ``[w, x, y, z]``. The ego frame is REP-103 (x forward, y left). The paper's
prompt convention and the community evaluation files' convention (x right, y forward) are converted
by ``trajectory_codec.ego_to_prompt`` / ``prompt_to_ego``; this module does not repeat them.
"""

from __future__ import annotations

import numpy as np


def quaternion_yaw(q_wxyz: np.ndarray) -> float:
    """Heading (rotation about z, counter-clockwise, radians) of a ``[w, x, y, z]`` quaternion."""
    w, x, y, z = (float(v) for v in q_wxyz)
    return float(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))


def rotation_2d(yaw: float) -> np.ndarray:
    """2x2 matrix rotating by ``yaw`` (counter-clockwise)."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s], [s, c]])


def world_to_ego_xy(points_xy: np.ndarray, ego_xy: np.ndarray, ego_yaw: float) -> np.ndarray:
    """World (N, 2) points -> the 2-D ego frame at ``ego_xy`` with heading ``ego_yaw``.

    Planar on purpose: nuScenes ego poses are almost level and the BEV metrics are 2-D.
    """
    rel = np.asarray(points_xy, dtype=np.float64) - np.asarray(ego_xy, dtype=np.float64)[:2]
    return rel @ rotation_2d(ego_yaw)  # row vectors: (R^T p^T)^T = p R


def wrap_angle(angle: np.ndarray | float) -> np.ndarray | float:
    """Angle(s) wrapped to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2.0 * np.pi) - np.pi
