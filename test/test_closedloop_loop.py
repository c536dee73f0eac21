"""`evodrive closedloop` on the synthetic world: the expert is the ceiling it must be, replayed agents
move as in the expert's run, the planner really steers the car, and a model folder drives through the
runtime with rendered cameras."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from evodrive_ros.cli import main  # noqa: E402
from evodrive_ros.runtime.interface import PlannerInput, PlanResult  # noqa: E402
from evodrive_ros.core.preprocessing import ImageSpec  # noqa: E402
from evodrive_training.closedloop import Faults, LogFuturePlanner, LoopConfig, Scenario, rollout, route_command, score  # noqa: E402

CONFIG = LoopConfig(scenarios=1, duration_s=6.0)


@pytest.fixture(scope="module")
def scenario():
    return Scenario(CONFIG, 0, CONFIG.camera_hw)


class Stop:
    """A planner whose plan stands still: the car must brake to a stop where it is."""

    image_spec = None
    model_id = "stop"

    def plan(self, inputs: PlannerInput) -> PlanResult:
        return PlanResult(waypoints=np.zeros((6, 2)))


class Failing(Stop):
    def plan(self, inputs: PlannerInput) -> PlanResult:
        return PlanResult(waypoints=None, error="no plan")


def test_the_expert_is_the_ceiling_and_deterministic(scenario):
    result = score(scenario, scenario.reference, scenario.reference)
    assert result["pdms"] == 1.0 and result["ep"] == 1.0 and result["route_completion"] == 1.0
    again = Scenario(CONFIG, 0, CONFIG.camera_hw).reference
    assert np.array_equal(np.asarray(again.ego), np.asarray(scenario.reference.ego))
    assert route_command(scenario, scenario.world()) in ("LEFT", "RIGHT", "FORWARD")


def test_the_plan_moves_the_car_and_agents_replay_the_expert_run(scenario):
    takeover = int(round(CONFIG.takeover_s / scenario.dt))
    stop = rollout(scenario, Stop(), scenario.reference)
    ego = np.asarray(stop.ego)
    assert np.array_equal(ego[: takeover + 1], np.asarray(scenario.reference.ego)[: takeover + 1])  # the expert drove until the take-over
    assert ego[-1, 3] < 0.1 < ego[takeover, 3]  # then the planner's plan stopped the car
    assert stop.cycles == (CONFIG.duration_s - CONFIG.takeover_s) * CONFIG.plan_hz and stop.failed_cycles == 0
    for k in (takeover + 5, len(ego) - 1):  # non-reactive: other agents ignore the ego and move as in the expert's run
        assert np.array_equal(stop.agent_pose[k], scenario.reference.agent_pose[k])
    result = score(scenario, stop, scenario.reference)
    assert result["ep"] < 0.5 and result["nc"] == 1.0 and result["pdms"] < 1.0

    failing = rollout(scenario, Failing(), scenario.reference)  # no plan at all: brake after max_plan_age_s
    assert failing.failed_cycles == failing.cycles == failing.fallback_cycles and np.asarray(failing.ego)[-1, 3] < ego[takeover, 3]


def test_the_controller_tracking_the_experts_own_path_drives_as_the_expert(scenario):
    """The loop's ceiling: with the expert's path as its plan the car scores as the expert, so a
    planner that fails here fails by its plans."""
    run = rollout(scenario, LogFuturePlanner(), scenario.reference)
    result = score(scenario, run, scenario.reference)
    assert run.failed_cycles == 0 and len(run.plans) == run.cycles
    assert result["pdms"] == 1.0 and result["dac"] == 1.0 and result["comfort"] == 1.0 and result["route_completion"] > 0.98
    gap = np.hypot(*(np.asarray(run.ego)[:, :2] - np.asarray(scenario.reference.ego)[:, :2]).T)
    assert gap.max() < 0.5  # metres from where the expert was at the same time (0.1 measured)


def test_reactive_agents_see_the_ego(scenario):
    reactive = Scenario(LoopConfig(scenarios=1, duration_s=6.0, reactive=True), 0, CONFIG.camera_hw)
    run = rollout(reactive, Stop())  # the ego brakes in its lane: the traffic behind it reacts
    takeover = int(round(CONFIG.takeover_s / scenario.dt))
    change = [np.abs(a - b).max() for a, b in zip(run.agent_pose, scenario.reference.agent_pose)]
    assert max(change[: takeover + 1]) == 0.0 and max(change[takeover + 1:]) > 0.5


def test_command_runs_baselines_and_a_model_folder(tmp_path):
    out = tmp_path / "cl"
    assert main(["closedloop", "expert", "cv", "models/evodrive-tiny", "--scenarios", "1", "--duration-s", "4", "--threads", "1",
                 "--out", str(out)]) == 0
    report = json.loads((out / "closedloop.json").read_text())
    assert set(report["summary"]) == {"expert", "cv", "models/evodrive-tiny"} and report["summary"]["expert"]["pdms"] == 1.0
    model = report["per_scenario"]["models/evodrive-tiny"][0]
    assert model["cycles"] == 20 and model["failed_cycles"] == 0 and 0.0 <= model["pdms"] <= 1.0
    assert "| models/evodrive-tiny |" in (out / "closedloop.md").read_text()
    from PIL import Image

    with Image.open(out / "gifs" / "evodrive-tiny-scenario0.gif") as gif:  # BEV | front camera, every 0.2 s of the 4 s
        assert gif.n_frames == 21 and gif.size[1] == 320 and gif.size[0] > 320


class Recording(Stop):
    """A planner with cameras that keeps what it was given."""

    image_spec = ImageSpec(112, 196)

    def __init__(self):
        self.inputs: list[PlannerInput] = []

    def plan(self, inputs: PlannerInput) -> PlanResult:
        self.inputs.append(inputs)
        return PlanResult(waypoints=np.zeros((6, 2)))


@pytest.mark.parametrize("faults, reason", [(Faults(camera_dropout=1.0), "missing_camera"), (Faults(odometry_delay_s=0.5), "stale_odometry")])
def test_faults_skip_cycles_as_the_node_does(scenario, faults, reason):
    planner = Recording()
    run = rollout(scenario, planner, scenario.reference, faults=faults)
    assert run.skipped == {reason: run.cycles} and not planner.inputs and run.fallback_cycles == run.cycles


def test_corrupt_jpegs_latency_spikes_and_odometry_noise(scenario):
    corrupt = Recording()
    run = rollout(scenario, corrupt, scenario.reference, faults=Faults(jpeg_corruption=1.0))
    assert run.skipped.get("corrupt_image", 0) > 0 and run.skipped.get("corrupt_image", 0) + len(corrupt.inputs) == run.cycles

    clean, noisy = Recording(), Recording()
    rollout(scenario, clean, scenario.reference)
    rollout(scenario, noisy, scenario.reference, faults=Faults(odometry_noise=(0.05, 0.005, 0.1)))
    assert len(clean.inputs) == len(noisy.inputs) and all(i.images["CAM_FRONT"].shape == (112, 196, 3) for i in clean.inputs)
    assert 0.0 < np.abs(clean.inputs[0].dynamics[:, 0] - noisy.inputs[0].dynamics[:, 0]).max() < 0.5  # speed noise 0.1 m/s

    slow = rollout(scenario, Recording(), scenario.reference, faults=Faults(latency_spike=1.0, spike_s=0.35))
    # every plan arrives 0.35 s late: one cycle plans, three wait busy, the fourth adopts it and plans again
    assert slow.skipped == {"busy": slow.cycles} and len(slow.plans) == (slow.cycles - 1) // 4
    assert all(round((b - a) / 0.4) == 1 for (a, _), (b, _) in zip(slow.plans, slow.plans[1:]))
