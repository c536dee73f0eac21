"""Inference backends behind one planner interface (no torch here).

``load_planner(model_dir, backend)`` returns a :class:`~evodrive_ros.runtime.interface.Planner`.
"""

from evodrive_ros.runtime.interface import PlannerInput, PlanResult, Planner
from evodrive_ros.runtime.loader import BACKENDS, available_backends, load_planner

__all__ = ["PlannerInput", "PlanResult", "Planner", "BACKENDS", "available_backends", "load_planner"]
