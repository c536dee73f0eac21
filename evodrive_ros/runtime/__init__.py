"""Inference backends behind one planner interface (no torch here).

``load_planner(model_dir, backend)`` returns a :class:`~evodrive_ros.runtime.interface.Planner`.
"""

from evodrive_ros.runtime.interface import PlannerInput, PlanResult, Planner

__all__ = ["PlannerInput", "PlanResult", "Planner"]
