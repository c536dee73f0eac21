"""The planner contract every backend implements: cameras + ego state + command -> 6 waypoints.

Inputs and outputs are in the project's ego frame (x forward, y left, metres; base_link), whatever
frame the model itself was trained in. A result always holds either 6 finite waypoints or an
explicit error, never a partial or non-finite plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from evodrive_ros.core.ego_state import EgoState
    from evodrive_ros.core.preprocessing import ImageSpec


@dataclass
class PlannerInput:
    images: dict[str, np.ndarray]  # camera name -> H x W x 3 uint8 RGB, any size (preprocessing resizes)
    history_xy: np.ndarray  # (5, 2) ego poses at -2.0 ... 0.0 s in the current ego frame
    dynamics: np.ndarray  # (5, 4) speed m/s, acc_long m/s^2, acc_lat m/s^2 (left positive), steering rad
    command: str  # LEFT | RIGHT | FORWARD
    history_valid: np.ndarray | None = None  # (5,) False where the history was padded (None: all valid)
    history_yaw: np.ndarray | None = None  # (5,) headings relative to the current one (None: the path's tangents)

    @classmethod
    def from_ego_state(cls, images: dict[str, np.ndarray], ego: EgoState, command: str) -> PlannerInput:
        """The inputs of one cycle from the odometry's ego state (node, closed loop, CARLA)."""
        return cls(images, ego.history_xy, ego.dynamics, command, ego.history_valid, ego.history_yaw)


@dataclass
class PlanResult:
    waypoints: np.ndarray | None  # (6, 2) at +0.5 ... +3.0 s, or None on failure
    text: str = ""  # the decoded model text
    error: str | None = None  # why there is no plan
    timings_ms: dict[str, float] = field(default_factory=dict)  # per stage: preprocess, vision, prefill, decode, total

    @property
    def ok(self) -> bool:
        return self.waypoints is not None and self.error is None


class Planner(Protocol):
    model_id: str  # identity reported in diagnostics (name + ONNX hash prefix)
    image_spec: ImageSpec | None  # the size the model sees (inputs may already be decoded at it), None: any

    def plan(self, inputs: PlannerInput) -> PlanResult: ...
