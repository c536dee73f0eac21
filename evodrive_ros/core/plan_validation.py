"""Last check before a plan leaves the planner: physically plausible or not published.

Constrained decoding already guarantees 6 finite numbers; this guards against plans that parse but
make no sense for a road vehicle (a first waypoint far from the ego, jumps faster than any car).
"""

from __future__ import annotations

import numpy as np

from evodrive_ros.core.conventions import FUTURE_STEPS, STEP_S

MAX_SPEED_MPS = 45.0  # ~160 km/h: anything faster between waypoints is a model failure
MAX_FIRST_WAYPOINT_SLACK_M = 5.0


def plan_error(waypoints: np.ndarray | None, current_speed: float) -> str | None:
    """None for a plausible plan, else a short reason key."""
    if waypoints is None:
        return "no_plan"
    pts = np.asarray(waypoints, dtype=np.float64)
    if pts.shape != (FUTURE_STEPS, 2):
        return "wrong_shape"
    if not np.all(np.isfinite(pts)):
        return "non_finite"
    if np.linalg.norm(pts[0]) > abs(current_speed) * STEP_S * 2.0 + MAX_FIRST_WAYPOINT_SLACK_M:
        return "first_waypoint_far"
    steps = np.linalg.norm(np.diff(np.vstack([np.zeros(2), pts]), axis=0), axis=1)
    if np.any(steps > MAX_SPEED_MPS * STEP_S):
        return "jump"
    return None
