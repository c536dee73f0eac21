"""nuScenes open-loop planning metrics: per-step L2 and box collision, ST-P3 and UniAD protocols.

Reproduces the community implementation (ST-P3 / UniAD ``PlanningMetric`` as used by Agent-Driver and
EvoDriveVLA, METHOD.md §6) so that numbers match published tables digit for digit:

* Grid: 200 x 200 cells of 0.5 m covering [-50, 50) m; cell ``i`` covers [-50 + 0.5 i, -49.5 + 0.5 i).
  Rows index the forward axis. Columns index the lateral axis, pointing ``left`` (our ego frame and
  the ST-P3 file after its double flip) or ``right`` (the UniAD file as stored).
* Ego footprint: 4.084 m x 1.85 m, centre 0.5 m ahead of the waypoint, never rotated; its cells are
  those whose centres lie inside the rectangle placed at the origin (rows 97..104, columns 98..101).
  It is moved to a waypoint by adding ``coordinate / 0.5`` to those cell indices and truncating, then
  clipped to the grid (a far-away waypoint therefore tests the border cells, as the original does).
* A step collides when any footprint cell is occupied. Steps where the GT trajectory's own footprint
  collides are not counted, but every sample stays in the denominator.
* L2 per step: sqrt(sum over x, y of (pred - gt)^2 * mask); masked steps add 0, the sample still counts.
* ST-P3 reports the mean over all steps up to 1/2/3 s; UniAD the value at the 1/2/3 s step. "avg" is the
  mean of the three horizons. Collision is reported in percent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from evodrive_ros.core.conventions import FUTURE_STEPS, KEYFRAME_HZ

EGO_LENGTH_M = 4.084
EGO_WIDTH_M = 1.85
EGO_FORWARD_OFFSET_M = 0.5
GRID_RESOLUTION_M = 0.5
GRID_MIN_M = -50.0
GRID_SIZE = 200
PROTOCOLS: tuple[str, ...] = ("stp3", "uniad")
HORIZONS_S: tuple[int, ...] = (1, 2, 3)
COLUMNS = ("left", "right")


def cell_centres() -> np.ndarray:
    """Metric coordinate of each cell centre along one grid axis (200,)."""
    return GRID_MIN_M + GRID_RESOLUTION_M * (np.arange(GRID_SIZE) + 0.5)


@lru_cache(maxsize=1)
def ego_footprint_cells() -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the cells covered by the ego box when the waypoint is at the origin."""
    centres = cell_centres()
    half_l, half_w = EGO_LENGTH_M / 2.0, EGO_WIDTH_M / 2.0
    rows = np.flatnonzero((centres >= EGO_FORWARD_OFFSET_M - half_l) & (centres <= EGO_FORWARD_OFFSET_M + half_l))
    cols = np.flatnonzero((centres >= -half_w) & (centres <= half_w))
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return rr.ravel(), cc.ravel()


def box_collisions(traj_ego: np.ndarray, occupancy: np.ndarray, columns: str = "left") -> np.ndarray:
    """Per-step collision (T,) bool of the ego footprint at each waypoint of ``traj_ego``.

    ``traj_ego`` is (T, 2) in the ego frame (x forward, y left); ``occupancy`` is (T, 200, 200) with
    rows along x and columns along y (``columns="left"``) or along -y (``columns="right"``).
    """
    if columns not in COLUMNS:
        raise ValueError(f"columns must be one of {COLUMNS}, got {columns!r}")
    traj = np.asarray(traj_ego, dtype=np.float64)
    forward = traj[:, 0]
    lateral = traj[:, 1] if columns == "left" else -traj[:, 1]
    rows0, cols0 = ego_footprint_cells()
    rows = _to_cells(forward[:, None] / GRID_RESOLUTION_M + rows0[None, :])
    cols = _to_cells(lateral[:, None] / GRID_RESOLUTION_M + cols0[None, :])
    steps = np.arange(len(traj))[:, None]
    return np.asarray(occupancy)[steps, rows, cols].astype(bool).any(axis=1)


def _to_cells(index: np.ndarray) -> np.ndarray:
    """Float cell index -> int by truncation toward zero, clipped to the grid (the original's rule)."""
    return np.clip(np.clip(index, -1.0, GRID_SIZE).astype(np.int64), 0, GRID_SIZE - 1)


def l2_per_step(pred_ego: np.ndarray, gt_ego: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(T,) L2 distance per step; ``mask`` is (T,) or (T, 2), 0 where the GT step is invalid."""
    diff2 = (np.asarray(pred_ego, dtype=np.float64) - np.asarray(gt_ego, dtype=np.float64)) ** 2
    if mask is not None:
        mask = np.asarray(mask, dtype=np.float64)
        diff2 = diff2 * (mask[:, None] if mask.ndim == 1 else mask)
    return np.sqrt(diff2.sum(axis=-1))


@dataclass
class OpenLoopAccumulator:
    """Sums per-step L2 and counted box collisions over samples (one grid orientation per sample)."""

    steps: int = FUTURE_STEPS
    l2_sum: np.ndarray = field(init=False)
    collision_sum: np.ndarray = field(init=False)
    n_samples: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.l2_sum = np.zeros(self.steps)
        self.collision_sum = np.zeros(self.steps)

    def add(
        self,
        pred_ego: np.ndarray,
        gt_ego: np.ndarray,
        occupancy: np.ndarray,
        mask: np.ndarray | None = None,
        columns: str = "left",
    ) -> np.ndarray:
        """Adds one sample; returns its counted per-step collisions (T,) bool."""
        pred, gt = np.asarray(pred_ego)[: self.steps], np.asarray(gt_ego)[: self.steps]
        occ = np.asarray(occupancy)[: self.steps]
        counted = box_collisions(pred, occ, columns) & ~box_collisions(gt, occ, columns)
        self.l2_sum += l2_per_step(pred, gt, None if mask is None else np.asarray(mask)[: self.steps])
        self.collision_sum += counted
        self.n_samples += 1
        return counted

    def per_step(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean L2 (m) and collision rate (fraction) per step, over all added samples."""
        n = max(self.n_samples, 1)
        return self.l2_sum / n, self.collision_sum / n


def protocol_values(per_step: np.ndarray, protocol: str) -> list[float]:
    """[1 s, 2 s, 3 s, avg] of a per-step metric under ``protocol`` ("stp3" or "uniad")."""
    per_step = np.asarray(per_step, dtype=np.float64)
    steps_per_s = int(KEYFRAME_HZ)
    if protocol == "stp3":
        values = [float(per_step[: h * steps_per_s].mean()) for h in HORIZONS_S]
    elif protocol == "uniad":
        values = [float(per_step[h * steps_per_s - 1]) for h in HORIZONS_S]
    else:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return values + [float(np.mean(values))]


def protocol_summary(l2_per_step_mean: np.ndarray, collision_per_step_rate: np.ndarray, protocol: str) -> dict:
    """``{"L2": [1s, 2s, 3s, avg] metres, "collision": [...] percent}`` for one protocol."""
    return {
        "L2": protocol_values(l2_per_step_mean, protocol),
        "collision": [100.0 * v for v in protocol_values(collision_per_step_rate, protocol)],
    }
