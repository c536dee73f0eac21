"""Last check before a plan leaves the planner: physically plausible or not published.

Constrained decoding already guarantees 6 finite numbers; this guards against plans that parse but
make no sense for a road vehicle (a first waypoint far from the ego, jumps faster than any car).
A plausible plan may still be faster than this vehicle may drive: ``limit_speed`` slows it to a limit.
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


def limit_speed(waypoints: np.ndarray, max_speed_mps: float) -> np.ndarray:
    """The plan re-timed so that no 0.5 s step covers more than ``max_speed_mps`` · 0.5 s: the same
    path, driven no faster than the limit (a vehicle's or a road's speed limit, applied after the
    model as a velocity limiter is after a planner). Waypoints within the limit, or a limit ≤ 0 (none),
    return the plan as it is.

    Each waypoint moves back along the planned polyline (from the ego at the origin) to the arc
    length ``min(its own, the previous one's + limit · 0.5 s)``.
    """
    pts = np.asarray(waypoints, dtype=np.float64)
    if max_speed_mps <= 0:
        return pts
    polyline = np.vstack([np.zeros(2), pts])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(polyline, axis=0), axis=1))])
    allowed = max_speed_mps * STEP_S
    limited = arc.copy()
    for i in range(1, len(arc)):
        limited[i] = min(arc[i], limited[i - 1] + allowed)
    if np.array_equal(limited, arc):
        return pts
    return np.stack([np.interp(limited[1:], arc, polyline[:, axis]) for axis in (0, 1)], axis=1)
