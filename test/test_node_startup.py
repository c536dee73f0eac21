"""The planner node as a separate process on real DDS: on the graph, parameters declared, clean exit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from evodrive_ros.ros.planner_params import PARAMS

PROBE = r"""
import json, sys, time
import rclpy
from rcl_interfaces.srv import DescribeParameters, GetParameters
rclpy.init()
node = rclpy.create_node("probe")
deadline = time.monotonic() + 20
while time.monotonic() < deadline and ("evodrive_planner", "/") not in node.get_node_names_and_namespaces():
    rclpy.spin_once(node, timeout_sec=0.2)
names = [n for n, _ in node.get_node_names_and_namespaces()]
def call(srv_type, name, request):
    client = node.create_client(srv_type, name)
    if not client.wait_for_service(timeout_sec=10):
        return None
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=10)
    return future.result()
wanted = sys.argv[1].split(",")
desc = call(DescribeParameters, "/evodrive_planner/describe_parameters", DescribeParameters.Request(names=wanted))
vals = call(GetParameters, "/evodrive_planner/get_parameters", GetParameters.Request(names=["planning_rate_hz"]))
print(json.dumps({
    "nodes": names,
    "descriptions": {d.name: d.description for d in desc.descriptors} if desc else {},
    "ranges": {d.name: [r.from_value, r.to_value] for d in desc.descriptors for r in d.floating_point_range} if desc else {},
    "planning_rate_hz": vals.values[0].double_value if vals else None,
}))
"""


def _start_planner(env: dict[str, str], *ros_args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "evodrive_ros.ros.node", "--ros-args", *ros_args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_node_is_on_the_graph_with_declared_parameters_and_exits_cleanly(ros_env: dict[str, str]) -> None:
    planner = _start_planner(ros_env, "-p", "planning_rate_hz:=20.0")
    try:
        names = ",".join(spec.name for spec in PARAMS)
        probe = subprocess.run([sys.executable, "-c", PROBE, names], env=ros_env, capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr
        seen = json.loads(probe.stdout.strip().splitlines()[-1])
        assert "evodrive_planner" in seen["nodes"]
        assert seen["planning_rate_hz"] == 20.0
        for spec in PARAMS:
            assert spec.description in seen["descriptions"][spec.name]
        assert seen["ranges"]["planning_rate_hz"] == [0.5, 50.0]
    finally:
        planner.send_signal(signal.SIGTERM)
        try:
            _, err = planner.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            planner.kill()
            pytest.fail("planner did not exit within 15 s of SIGTERM")
    assert planner.returncode == 0, err


@pytest.mark.parametrize(
    "arg, message",
    [("backend:=cuda", "backend: expected one of"), ("planning_rate_hz:=500.0", "planning_rate_hz"),
     ("planing_rate_hz:=5.0", "planing_rate_hz: unknown parameter (did you mean planning_rate_hz?)")],
)
def test_invalid_parameter_is_one_clear_error(ros_env: dict[str, str], arg: str, message: str) -> None:
    planner = _start_planner(ros_env, "-p", arg)
    try:
        _, err = planner.communicate(timeout=30)
    finally:
        planner.kill()
    assert planner.returncode == 2
    assert message in err


def test_sigint_exits_cleanly(ros_env: dict[str, str]) -> None:
    planner = _start_planner(ros_env)
    time.sleep(3)
    planner.send_signal(signal.SIGINT)
    _, err = planner.communicate(timeout=15)
    assert planner.returncode == 0, err
