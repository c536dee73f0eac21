"""Closed-loop driving: the planner's plans move the car (controller, PDM-style metrics)."""
