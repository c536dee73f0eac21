"""The ROS 2 layer: the planner node, its parameters, message conversion, signal handling.

A thin layer over ``core`` (contracts, no ROS) and ``runtime`` (inference); what a vehicle runs.
"""
