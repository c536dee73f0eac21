"""Poses and frame changes: world (nuScenes global) -> ego frame of the current keyframe, and the
trajectory frames a model can be trained in.

Quaternions are nuScenes' ``[w, x, y, z]``. The ego frame is REP-103 (x forward, y left). The paper's
prompt convention and the community evaluation files' convention (x right, y forward) are converted
by ``trajectory_codec.ego_to_prompt`` / ``prompt_to_ego``; this module does not repeat them.

Trajectory frames (``TrajectoryFrame``; recorded in a sample cache and a model's manifest):

* ``ego``: the path of the ego pose (nuScenes: the rear axle) in the current ego frame;
* ``lidar``: the path of the LIDAR_TOP sensor in its current frame — what the community evaluation
  files (VAD lineage) and so the paper's numbers use. Axes: the sensor's turned by +90°, i.e. for
  nuScenes' LIDAR_TOP (x right, y forward) the REP-103 axes at the sensor, so that the codec's one
  axis swap maps both to the files' x right / y forward. The 0.94 m lever arm moves a turn's 3 s
  waypoint by ~0.5 m at 30° of heading change.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class SensorMount:
    """A sensor's place on the vehicle: position in the ego/base frame (x forward, y left, metres)
    and heading (radians, counter-clockwise)."""

    x: float
    y: float
    yaw: float


NUSCENES_LIDAR_MOUNT = SensorMount(0.94, 0.0, -np.pi / 2)  # nuScenes' LIDAR_TOP calibration, in the plane
TRAJECTORY_FRAMES = ("ego", "lidar")
_HEADING_ITERATIONS = 4
_MIN_STEP_M = 1e-3  # shorter steps carry no direction: the heading before them stands


@dataclass(frozen=True)
class TrajectoryFrame:
    """Which point's path a model reads and writes, and in which axes (module docstring)."""

    name: str = "ego"
    mount: SensorMount | None = None  # the sensor (``lidar``); None for ``ego``

    def __post_init__(self) -> None:
        if self.name not in TRAJECTORY_FRAMES:
            raise ValueError(f"trajectory frame must be one of {TRAJECTORY_FRAMES}, got {self.name!r}")
        if (self.mount is None) != (self.name == "ego"):
            raise ValueError(f"trajectory frame {self.name!r}: a sensor mount is needed for 'lidar' and only there")

    @property
    def offset(self) -> np.ndarray:
        return np.zeros(2) if self.mount is None else np.array([self.mount.x, self.mount.y])

    @property
    def axes_yaw(self) -> float:
        """The frame's axes relative to the vehicle's (0 for ``ego``)."""
        return 0.0 if self.mount is None else self.mount.yaw + np.pi / 2

    def world_pose(self, ego_xy: np.ndarray, ego_yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ego poses (N, 2), (N,) in any fixed frame -> the tracked point's positions and the frame's
        headings there."""
        ego_xy, ego_yaw = np.asarray(ego_xy, dtype=np.float64).reshape(-1, 2), np.asarray(ego_yaw, dtype=np.float64).reshape(-1)
        return ego_xy + _rotate(self.offset, ego_yaw), ego_yaw + self.axes_yaw

    def from_base(self, xy: np.ndarray, yaw: np.ndarray | None = None) -> np.ndarray:
        """A base path (N, 2) with its headings (N,), both relative to the current base pose, the
        last point (the node's history) -> the tracked point's path in this frame. Without headings
        they are the path's tangents (the last, the current pose's, is 0)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self.mount is None:
            return xy.copy()
        points, _ = self.world_pose(xy, _tangent_headings(xy) if yaw is None else yaw)
        return world_to_ego_xy(points, self.offset, self.axes_yaw)

    def path_from_base(self, xy: np.ndarray) -> np.ndarray:
        """A future base path from the current pose (N, 2), e.g. one integrated from the ego state ->
        the tracked point's path; the base's headings are its path's directions (see ``to_base``)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self.mount is None:
            return xy.copy()
        return self.from_base(xy, _path_headings(np.vstack([np.zeros(2), xy])))

    def to_base(self, xy: np.ndarray) -> np.ndarray:
        """A path in this frame (N, 2), e.g. a plan -> the base's path in the current base frame.

        The base's future headings are not in a plan; they are solved for: the base (rear axle)
        moves along its heading, so each heading is the direction of the base path around it,
        which depends on the headings (a few fixed-point steps; exact on arcs to < 1 cm)."""
        points = np.asarray(xy, dtype=np.float64).reshape(-1, 2) @ rotation_2d(self.axes_yaw).T + self.offset
        if self.mount is None:
            return points
        base, current = points - self.offset, np.zeros(2)
        for _ in range(_HEADING_ITERATIONS):
            base = points - _rotate(self.offset, _path_headings(np.vstack([current, base])))
        return base


def _rotate(vector: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """One 2-vector rotated by each of (N,) headings -> (N, 2)."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * vector[0] - s * vector[1], s * vector[0] + c * vector[1]], axis=-1)


def _tangent_headings(path: np.ndarray) -> np.ndarray:
    """Headings along a path that ends at the current pose (heading 0 there), from its tangents."""
    if len(path) < 2:
        return np.zeros(len(path))
    step = np.gradient(path, axis=0)
    headings = np.arctan2(step[:, 1], step[:, 0])
    headings[np.linalg.norm(step, axis=1) < _MIN_STEP_M] = 0.0
    headings[-1] = 0.0
    return headings


def _path_headings(path: np.ndarray) -> np.ndarray:
    """Headings at path[1:] of a path whose first point is the current pose: the direction from the
    point before to the point after (the tangent, on an arc); at the last point, the last chord's
    direction turned on by as much as it turned from the heading before (exact on an arc)."""
    chords = np.diff(path, axis=0)
    chord_yaw = np.unwrap(np.arctan2(chords[:, 1], chords[:, 0]))
    moving = np.linalg.norm(chords, axis=1) >= _MIN_STEP_M
    spans = path[2:] - path[:-2]
    headings = np.append(np.arctan2(spans[:, 1], spans[:, 0]), 0.0)
    if len(headings) > 1:
        headings[-1] = 2 * chord_yaw[-1] - headings[-2]
    else:
        headings[-1] = chord_yaw[-1]
    headings = np.unwrap(headings)
    for i in np.flatnonzero(~(moving | np.append(moving[1:], False))):  # no motion around it: no direction
        headings[i] = headings[i - 1] if i else 0.0
    return headings
