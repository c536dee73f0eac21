"""Test probe (separate process): what the planner node looks like on the ROS graph.

Usage: python ros_graph_probe.py PARAM,PARAM,... [TRANSITION ...]  -> prints one JSON line with the
node's parameters, subscriptions and lifecycle state, then (each TRANSITION a lifecycle transition
label: configure, activate, deactivate, cleanup) requests each transition and records the state after it.
"""

from __future__ import annotations

import json
import sys
import time

import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import GetParameters

from evodrive_ros.ros.planner_params import NODE_NAME

TRANSITIONS = {
    "configure": Transition.TRANSITION_CONFIGURE,
    "activate": Transition.TRANSITION_ACTIVATE,
    "deactivate": Transition.TRANSITION_DEACTIVATE,
    "cleanup": Transition.TRANSITION_CLEANUP,
}


def main() -> None:
    names, transitions = sys.argv[1].split(","), sys.argv[2:]
    rclpy.init()
    node = rclpy.create_node("graph_probe")

    def call(srv_type, service: str, request):
        client = node.create_client(srv_type, f"/{NODE_NAME}/{service}")
        if not client.wait_for_service(timeout_sec=20):
            raise SystemExit(f"service /{NODE_NAME}/{service} never appeared")
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, timeout_sec=20)
        return future.result()

    def state() -> str:
        return call(GetState, "get_state", GetState.Request()).current_state.label

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (NODE_NAME, "/") not in node.get_node_names_and_namespaces():
        rclpy.spin_once(node, timeout_sec=0.2)
    values = call(GetParameters, "get_parameters", GetParameters.Request(names=names)).values
    params = {name: rclpy.parameter.parameter_value_to_python(value) for name, value in zip(names, values)}
    first_state = state()
    # subscriptions exist only while active: wait until discovery has seen them all (stable 1.5 s)
    subscriptions: dict[str, list[str]] = {}
    stable_since, deadline = time.monotonic(), time.monotonic() + 10
    while time.monotonic() < deadline and time.monotonic() - stable_since < 1.5:
        rclpy.spin_once(node, timeout_sec=0.1)
        seen = dict(node.get_subscriber_names_and_types_by_node(NODE_NAME, "/"))
        if seen != subscriptions:
            subscriptions, stable_since = seen, time.monotonic()
    after = []
    for label in transitions:
        ok = call(ChangeState, "change_state", ChangeState.Request(transition=Transition(id=TRANSITIONS[label]))).success
        after.append({"transition": label, "success": ok, "state": state()})
    print(json.dumps({"params": params, "state": first_state, "subscriptions": subscriptions, "transitions": after}))
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
