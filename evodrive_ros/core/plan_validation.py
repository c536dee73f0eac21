"""Last check before a plan leaves the planner: physically plausible or not published.

Constrained decoding already guarantees 6 finite numbers; this guards against plans that parse but
make no sense for a road vehicle (a first waypoint far from the ego, jumps faster than any car).
"""

from __future__ import annotations

import numpy as np

from evodrive_ros.core.conventions import FUTURE_STEPS, STEP_S
from evodrive_ros.core.skip_reasons import SkipReason

MAX_SPEED_MPS = 45.0  # ~160 km/h: anything faster between waypoints is a model failure
MAX_FIRST_WAYPOINT_SLACK_M = 5.0


def plan_error(waypoints: np.ndarray, current_speed: float) -> SkipReason | None:
    """None for a plausible plan, else why it is not."""
    pts = np.asarray(waypoints, dtype=np.float64)
    if pts.shape != (FUTURE_STEPS, 2):
        return SkipReason.PLAN_WRONG_SHAPE
    if not np.all(np.isfinite(pts)):
        return SkipReason.PLAN_NON_FINITE
    if np.linalg.norm(pts[0]) > abs(current_speed) * STEP_S * 2.0 + MAX_FIRST_WAYPOINT_SLACK_M:
        return SkipReason.PLAN_FIRST_WAYPOINT_FAR
    steps = np.linalg.norm(np.diff(np.vstack([np.zeros(2), pts]), axis=0), axis=1)
    if np.any(steps > MAX_SPEED_MPS * STEP_S):
        return SkipReason.PLAN_JUMP
    return None
