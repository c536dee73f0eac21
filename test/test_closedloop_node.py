"""`evodrive closedloop --through-node`: the real planner node in its own process drives the world
over DDS. In lockstep it must drive exactly as the same model in-process (same odometry buffer, same
decoder, same planner); in real time its plans arrive late and are used late."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("rclpy")

from evodrive_ros.runtime.loader import load_planner  # noqa: E402
from evodrive_training.closedloop import LoopConfig, Scenario, rollout  # noqa: E402
from evodrive_training.closedloop_node import NodeLink, ros_time  # noqa: E402

MODEL = Path("models/evodrive-tiny")


@pytest.fixture(scope="module")
def scenario():
    config = LoopConfig(scenarios=1, duration_s=4.0)
    return Scenario(config, 0, config.camera_hw)


def test_stamps_round_to_the_nanosecond_once():
    # 100 s + 5.0 s of float steps is 104.99999999999998: it must stamp 105 s (it once stamped 104 s,
    # and the plan of every whole second never matched its frames)
    assert (ros_time(100.0 + sum([0.02] * 250)).sec, ros_time(100.0 + sum([0.02] * 250)).nanosec) == (105, 0)
    assert (ros_time(2.5).sec, ros_time(2.5).nanosec) == (2, 500_000_000)


def _through_node(scenario, log: Path, lockstep: bool):
    link = NodeLink(MODEL, "onnxruntime", log, lockstep=lockstep)
    try:
        return rollout(scenario, link, scenario.reference)
    finally:
        assert link.close() == 0  # the node stops cleanly on SIGTERM


def test_lockstep_through_the_node_drives_as_in_process(scenario, tmp_path):
    in_process = rollout(scenario, load_planner(MODEL, "onnxruntime", threads=1), scenario.reference)
    node = _through_node(scenario, tmp_path / "node.log", lockstep=True)
    assert node.cycles == in_process.cycles == 20 and node.skipped == {} and len(node.plans) == 20
    for (t_node, plan_node), (t_here, plan_here) in zip(node.plans, in_process.plans):
        # equal, unless an odometry sample reached the node after its frames (then it extrapolates 20 ms: cm)
        assert t_node == t_here and np.abs(plan_node - plan_here).max() < 0.05
    assert np.abs(np.asarray(node.ego) - np.asarray(in_process.ego))[:, :2].max() < 0.05


def test_realtime_through_the_node_uses_plans_after_they_arrive(scenario, tmp_path):
    run = _through_node(scenario, tmp_path / "node.log", lockstep=False)
    # most cycles get the previous cycle's plan (15-19 of 20 on an idle machine; 14 with two trainings beside it)
    assert run.cycles == 20 and len(run.plans) >= 10
    assert run.skipped.get("no_new_plan_from_node", 0) >= 1  # the first cycle has none yet
    frame_times = np.arange(20) * 0.1 + 2.0
    # every plan used comes from the frames of an earlier cycle: never from the last cycle's, never from the same cycle's
    assert all(np.min(np.abs(frame_times[:-1] - t)) < 1e-6 for t, _ in run.plans)


def test_command_reports_the_nodes_latency_and_refuses_two_nodes(tmp_path):
    import json

    from evodrive_ros.cli import main

    out = tmp_path / "cl"
    assert main(["closedloop", str(MODEL), "cv", "--through-node", "--lockstep", "--scenarios", "1", "--duration-s", "4",
                 "--gif", "0", "--out", str(out)]) == 0
    report = json.loads((out / "closedloop.json").read_text())
    latency = report["node_latency_ms"][str(MODEL)]
    assert report["config"]["through_node"] and latency["n"] == 20 and 0 < latency["p50"] <= latency["p99"]
    assert "planned in the evodrive_planner node" in (out / "closedloop.md").read_text()
    assert main(["closedloop", str(MODEL), str(MODEL), "--through-node", "--out", str(out)]) == 2
