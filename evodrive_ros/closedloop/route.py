"""The route a closed loop drives: a polyline with arc length, the car's progress along it, and the
route command the planner is given (the dataset's rule applied to the route ahead).

In a dataset the command comes from the recorded future (``conventions.command_from_future``: the
lateral offset of the 3 s waypoint); in a closed loop there is no recorded future, so the rule is
applied to the route point the car would reach in 3 s at its current speed. The synthetic world and
the CARLA client both use this class.
"""

from __future__ import annotations

import numpy as np

from evodrive_ros.core.conventions import FUTURE_TIMES_S, command_from_future
from evodrive_ros.core.frames import world_to_ego_xy

PROJECTION_WINDOW_M = (-5.0, 15.0)  # progress is searched near the last value: a route may pass a place twice


class Route:
    def __init__(self, points_xy: np.ndarray) -> None:
        self.points = np.asarray(points_xy, dtype=np.float64)
        if self.points.ndim != 2 or self.points.shape[1] != 2 or len(self.points) < 2:
            raise ValueError("a route needs at least two (x, y) points")
        self.s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(self.points, axis=0), axis=1))])

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def point_at(self, s: float) -> np.ndarray:
        """The point ``s`` metres along the route (clamped to its ends)."""
        s = float(np.clip(s, 0.0, self.length))
        return np.array([np.interp(s, self.s, self.points[:, 0]), np.interp(s, self.s, self.points[:, 1])])

    def progress(self, xy: np.ndarray, last_s: float = 0.0) -> float:
        """Arc length of the route point nearest ``xy``, searched within ``PROJECTION_WINDOW_M`` of ``last_s``."""
        window = (self.s >= last_s + PROJECTION_WINDOW_M[0]) & (self.s <= last_s + PROJECTION_WINDOW_M[1])
        index = np.flatnonzero(window) if window.any() else np.arange(len(self.s))
        return float(self.s[index[np.argmin(np.linalg.norm(self.points[index] - np.asarray(xy)[:2], axis=1))]])

    def command(self, s: float, ego_xy: np.ndarray, ego_yaw: float, speed: float, horizon_s: float = FUTURE_TIMES_S[-1]) -> str:
        """The command for a car at progress ``s``: the dataset rule on the route point ``speed × 3 s`` ahead (at least 1 m)."""
        target = self.point_at(s + max(speed * horizon_s, 1.0))
        return command_from_future(world_to_ego_xy(target[None], np.asarray(ego_xy)[:2], ego_yaw))
