"""Bird's-eye picture of one sample: future occupancy, GT and predicted waypoints, ego footprints.

Drawn with x forward pointing up and the right side to the right (as seen from above the car).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evodrive_ros.core.openloop_metrics import (
    EGO_FORWARD_OFFSET_M,
    EGO_LENGTH_M,
    EGO_WIDTH_M,
    GRID_MIN_M,
    GRID_RESOLUTION_M,
    GRID_SIZE,
)


def plot_sample(
    path: Path,
    occupancy: np.ndarray,
    gt_ego: np.ndarray,
    pred_ego: np.ndarray,
    columns: str = "left",
    title: str = "",
    view_m: float = 40.0,
) -> Path:
    """Writes a PNG; ``occupancy`` is (T, 200, 200) in the metric grid orientation ``columns``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    occ = np.asarray(occupancy, dtype=bool)
    steps = np.arange(1, len(occ) + 1)[:, None, None]
    latest = np.where(occ, steps, 0).max(axis=0).astype(float)  # later steps drawn over earlier ones
    if columns == "left":
        latest = latest[:, ::-1]  # columns along +y (left) -> along the right side
    latest[latest == 0] = np.nan
    extent = (GRID_MIN_M, GRID_MIN_M + GRID_SIZE * GRID_RESOLUTION_M) * 2

    fig, ax = plt.subplots(figsize=(6, 6))
    image = ax.imshow(latest, origin="lower", extent=extent, cmap="viridis", vmin=1, vmax=len(occ), alpha=0.7)
    fig.colorbar(image, ax=ax, label="future step occupied (1 = +0.5 s)", shrink=0.8)
    for xy, colour, label in ((gt_ego, "tab:green", "GT"), (pred_ego, "tab:red", "prediction")):
        xy = np.asarray(xy, dtype=float)
        ax.plot(-xy[:, 1], xy[:, 0], "o-", color=colour, label=label, markersize=3, linewidth=4 if label == "GT" else 1.5)
        for x, y in xy:
            ax.add_patch(_footprint(Rectangle, x, y, colour, fill=False))
    ax.add_patch(_footprint(Rectangle, 0.0, 0.0, "black", fill=True))
    ax.set_xlim(-view_m, view_m)
    ax.set_ylim(-view_m / 2, view_m * 1.5)
    ax.set_xlabel("right (m)")
    ax.set_ylabel("forward (m)")
    ax.set_aspect("equal")
    ax.legend(loc="upper right")
    ax.set_title(title, fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _footprint(rectangle_cls, x: float, y: float, colour: str, fill: bool):
    """The metric's ego box (axis-aligned, 0.5 m ahead of the waypoint) in plot coordinates."""
    centre_forward = x + EGO_FORWARD_OFFSET_M
    return rectangle_cls(
        (-y - EGO_WIDTH_M / 2, centre_forward - EGO_LENGTH_M / 2),
        EGO_WIDTH_M,
        EGO_LENGTH_M,
        edgecolor=colour,
        facecolor=colour if fill else "none",
        linewidth=0.8,
    )
