"""A fatal backend fault takes the managed node out of active into error processing, then
unconfigured, with the reason on /diagnostics (the node in this process, the input driver in another)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor

import evodrive_ros.ros.node as node_module
from evodrive_ros.runtime.interface import PlannerInput, PlanResult
from evodrive_ros.runtime.kinematic import KinematicPlanner

DRIVER = Path(__file__).with_name("ros_input_driver.py")


class LostBackend(KinematicPlanner):
    model_id = "lost-backend"

    def plan(self, inputs: PlannerInput) -> PlanResult:
        raise RuntimeError("CUDA error: device lost")


def test_a_backend_failing_every_cycle_ends_unconfigured_with_the_fault_on_diagnostics(
    ros_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "RMW_IMPLEMENTATION"):
        monkeypatch.setenv(key, ros_env[key])
    monkeypatch.setattr(node_module, "load_configured_planner", lambda config: LostBackend())
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = node_module.PlannerNode(context=context)
        assert node.start()
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        driver = subprocess.Popen([sys.executable, str(DRIVER), "nominal", "4"], env=ros_env, stdout=subprocess.PIPE, text=True)
        while driver.poll() is None:
            executor.spin_once(timeout_sec=0.05)
        result = json.loads(driver.stdout.read().strip().splitlines()[-1])
        assert node._state_machine.current_state[1] == "unconfigured"
        assert node.fault.startswith("backend lost: 10 inference failures in a row, last: CUDA error: device lost")
        assert result["paths"] == []
        assert result["diagnostics"]["lifecycle_state"] == "unconfigured"
        assert result["diagnostics"]["fault"] == node.fault
        assert int(result["diagnostics"]["skipped/inference_error"]) == 10  # no cycle after the fault
        # configure again (a lifecycle manager's retry): the fault clears
        monkeypatch.setattr(node_module, "load_configured_planner", lambda config: KinematicPlanner())
        assert node.start() and node.fault is None
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
