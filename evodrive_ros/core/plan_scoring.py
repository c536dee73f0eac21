"""Scoring published plans against what the ego actually did next (replay of a recorded drive).

Both the plan and the actual path are in the odometry frame; the actual position at each waypoint
time is interpolated from the recorded odometry. Plans whose horizon runs past the end of the
recording are scored only on the steps that are covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evodrive_ros.core.conventions import FUTURE_TIMES_S


@dataclass(frozen=True)
class ReplayScore:
    n_plans: int
    l2_at_m: dict[str, float]  # "1s", "2s", "3s": mean L2 of the waypoint at that horizon (UniAD style)
    l2_avg_up_to_m: dict[str, float]  # "1s", "2s", "3s": mean over the steps up to that horizon (ST-P3 style)
    n_invalid: int  # plans that were not 6 finite waypoints (must be 0)


def actual_positions(odom_times: np.ndarray, odom_xy: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Odometry positions interpolated at ``times``; NaN outside the recording."""
    xy = np.stack([np.interp(times, odom_times, odom_xy[:, i]) for i in range(2)], axis=-1)
    outside = (times < odom_times[0]) | (times > odom_times[-1])
    xy[outside] = np.nan
    return xy


def score_plans(
    plan_times: np.ndarray, plans_xy: np.ndarray, odom_times: np.ndarray, odom_xy: np.ndarray
) -> ReplayScore:
    """``plans_xy`` (P, 6, 2) stamped ``plan_times`` (P,) vs odometry (M,) / (M, 2), same frame."""
    plans_xy = np.asarray(plans_xy, dtype=np.float64).reshape(-1, len(FUTURE_TIMES_S), 2)
    valid_plan = np.all(np.isfinite(plans_xy), axis=(1, 2))
    times = np.asarray(plan_times)[:, None] + np.asarray(FUTURE_TIMES_S)[None, :]
    actual = actual_positions(np.asarray(odom_times), np.asarray(odom_xy), times)
    errors = np.linalg.norm(plans_xy - actual, axis=-1)[valid_plan]  # (P', 6), NaN where not covered
    at, upto = {}, {}
    for label, steps in (("1s", 2), ("2s", 4), ("3s", 6)):
        column = errors[:, steps - 1] if len(errors) else np.array([])
        at[label] = float(np.nanmean(column)) if np.isfinite(column).any() else float("nan")
        block = errors[:, :steps] if len(errors) else np.empty((0, steps))
        upto[label] = float(np.nanmean(block)) if np.isfinite(block).any() else float("nan")
    return ReplayScore(n_plans=len(plans_xy), l2_at_m=at, l2_avg_up_to_m=upto, n_invalid=int((~valid_plan).sum()))
