"""The vision-dependent split: samples whose future only the cameras explain (issue 15).

A sample is in it when (1) its keyframe carries a visible cause — a signal, a pedestrian, a lead
vehicle or the road's curvature set the expert's next 3 s (``keyframe_causes``) — and (2) the
expert's 3 s waypoint lies more than ``VISION_MARGIN_M`` from the constant-turn-rate-and-acceleration
extrapolation of the ego's own motion, with a full 3 s of ground truth. The reference is CTRA, not
the ego-MLP, on purpose: choosing samples where a learned model errs would rig the split against
that model. Samples of dataroots without labels (real nuScenes) are never in it.
"""

from __future__ import annotations

import numpy as np

from evodrive_ros.core.keyframe_causes import CAUSES
from evodrive_ros.core.kinematic_prediction import predict_kinematic

VISION_MARGIN_M = 1.5  # 90 % of unlabelled ("none") keyframes deviate from CTRA by less than ~2 m, half by ~1 m
VISIBLE_CAUSES: tuple[str, ...] = ("curve", "lead_vehicle", "pedestrian", "traffic_light")
SPLIT_FIELDS: tuple[str, ...] = ("history_xy", "history_valid", "history_dynamics", "future_xy", "future_valid", "cause")


def vision_dependent(arrays: dict[str, np.ndarray], margin_m: float = VISION_MARGIN_M) -> np.ndarray:
    """(N,) bool: the samples of a loaded split (``SPLIT_FIELDS``) in the vision-dependent split."""
    visible = np.isin(arrays["cause"], [CAUSES.index(c) for c in VISIBLE_CAUSES])
    complete = np.asarray(arrays["future_valid"]).all(axis=1)
    ctra = predict_kinematic("ctra", arrays["history_xy"], arrays["history_valid"], arrays["history_dynamics"])
    deviation = np.linalg.norm(ctra[:, -1] - np.asarray(arrays["future_xy"])[:, -1], axis=1)
    return visible & complete & (deviation > margin_m)


def cause_counts(arrays: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, int]:
    """How many samples of ``mask`` each cause explains."""
    return {c: int(np.sum(mask & (arrays["cause"] == CAUSES.index(c)))) for c in VISIBLE_CAUSES}
