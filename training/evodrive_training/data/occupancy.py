"""Rasterises other road users' boxes into the 200 x 200, 0.5 m BEV grid of the open-loop metrics.

A cell is occupied when its centre lies inside a (rotated) box; the cell holding the box centre is
always occupied, so a small pedestrian between cell centres is never lost.
"""

from __future__ import annotations

import numpy as np

from evodrive_ros.core.openloop_metrics import GRID_MIN_M, GRID_RESOLUTION_M, GRID_SIZE


def rasterise_boxes(boxes_ego: np.ndarray) -> np.ndarray:
    """(M, 5) boxes (centre x, centre y, yaw, length, width) in the ego frame -> (200, 200) bool.

    Rows index x (forward), columns index y (left); cell i covers [-50 + 0.5 i, -49.5 + 0.5 i).
    """
    grid = np.zeros((GRID_SIZE, GRID_SIZE), dtype=bool)
    boxes = np.asarray(boxes_ego, dtype=np.float64).reshape(-1, 5)
    if not len(boxes):
        return grid
    cx, cy, yaw, length, width = boxes.T
    reach = 0.5 * np.hypot(length, width)
    window = int(np.ceil(2 * reach.max() / GRID_RESOLUTION_M)) + 2  # cells per axis around each box
    offsets = np.arange(window)
    rows = _cell_index(cx - reach)[:, None, None] + offsets[None, :, None]  # (M, W, 1)
    cols = _cell_index(cy - reach)[:, None, None] + offsets[None, None, :]  # (M, 1, W)
    dx = _cell_centre(rows) - cx[:, None, None]
    dy = _cell_centre(cols) - cy[:, None, None]
    c, s = np.cos(yaw)[:, None, None], np.sin(yaw)[:, None, None]
    inside = (np.abs(c * dx + s * dy) <= length[:, None, None] / 2) & (np.abs(-s * dx + c * dy) <= width[:, None, None] / 2)
    rows, cols = np.broadcast_arrays(rows, cols)
    _mark(grid, rows[inside], cols[inside])
    _mark(grid, _cell_index(cx), _cell_index(cy))
    return grid


def _cell_index(coordinate: np.ndarray) -> np.ndarray:
    return np.floor((coordinate - GRID_MIN_M) / GRID_RESOLUTION_M).astype(np.int64)


def _cell_centre(index: np.ndarray) -> np.ndarray:
    return GRID_MIN_M + GRID_RESOLUTION_M * (index + 0.5)


def _mark(grid: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    on_grid = (rows >= 0) & (rows < GRID_SIZE) & (cols >= 0) & (cols < GRID_SIZE)
    grid[rows[on_grid], cols[on_grid]] = True
