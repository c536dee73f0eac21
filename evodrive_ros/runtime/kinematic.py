"""A model-free planner: the constant speed and turn rate (CTRV) extrapolation of the ego history.

Useful as a fallback backend (``backend: kinematic``), as the floor every learned model must beat
(it is the ``ctrv`` row of the evaluation tables), and to exercise the ROS plumbing without a model.
"""

from __future__ import annotations

import time

import numpy as np

from evodrive_ros.core.kinematic_prediction import KINEMATIC_MODELS, predict_kinematic
from evodrive_ros.runtime.interface import PlannerInput, PlanResult


class KinematicPlanner:
    """``model``: one of ``KINEMATIC_MODELS`` (the closed-loop benchmark's cv and ctra floors use the others)."""

    image_spec = None

    def __init__(self, model: str = "ctrv") -> None:
        if model not in KINEMATIC_MODELS:
            raise ValueError(f"unknown kinematic model {model!r} (expected one of {', '.join(KINEMATIC_MODELS)})")
        self.model, self.model_id = model, f"kinematic-{model}"

    def plan(self, inputs: PlannerInput) -> PlanResult:
        start = time.perf_counter()
        valid = np.ones(len(inputs.history_xy), dtype=bool) if inputs.history_valid is None else inputs.history_valid
        waypoints = predict_kinematic(self.model, inputs.history_xy[None], valid[None], inputs.dynamics[None])[0]
        return PlanResult(waypoints=waypoints, timings_ms={"total": (time.perf_counter() - start) * 1e3})
