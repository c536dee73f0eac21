"""The vision world (issue 15): signals the expert obeys, walkers who step out, lead cars that brake,
the cause labels of every keyframe, and the vision-dependent split built from them."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from evodrive_ros.core.conventions import CAMERAS
from evodrive_ros.core.driving_samples import load_split
from evodrive_ros.core.keyframe_causes import CAUSES, KEYFRAME_CAUSES_FILE, UNKNOWN
from evodrive_ros.core.trajectory_codec import encode_text
from evodrive_ros.evaluation import cli as eval_cli
from evodrive_ros.evaluation.vision_split import VISION_MARGIN_M, vision_dependent
from evodrive_training.synth import SynthConfig, generate_dataset
from evodrive_training.synth.config import VISION_TRAFFIC
from evodrive_training.synth.dataset import scene_renderer, scene_world
from evodrive_training.synth.render import frame_parts
from evodrive_training.synth.world import (
    EGO_LENGTH_M, EGO_REAR_OVERHANG_M, GREEN, PEDESTRIAN, RED, TRAFFIC_LIGHT, YELLOW, YELLOW_S, TrafficLights, light_gap, simulate,
)

ROOT = Path(__file__).resolve().parents[1]
VISION = SynthConfig.from_dict({"traffic": VISION_TRAFFIC, "camera": {"width": 320, "height": 180}})


def _light(stop_s: float, green_s: float, red_s: float, offset_s: float) -> TrafficLights:
    return TrafficLights(np.array([stop_s]), np.zeros((1, 2)), np.zeros(1), np.array([green_s]), np.array([red_s]), np.array([offset_s]))


def _world_with_a_light(index_from: int = 0):
    """The first vision-world scene whose first signal is within 120 m of the ego's start."""
    for index in range(index_from, index_from + 40):
        world = scene_world(VISION, 5, index)
        if len(world.lights) and world.lights.stop_s[0] - world.ego_s < 120.0:
            return index, world
    raise AssertionError("no vision-world scene with a signal near the start")


def _front_s(world) -> float:
    return world.ego_s + EGO_LENGTH_M - EGO_REAR_OVERHANG_M


def test_vision_yaml_matches_the_code_and_the_default_world_has_none_of_it():
    data = yaml.safe_load((ROOT / "config" / "synth_vision.yaml").read_text())
    assert data == {"traffic": VISION_TRAFFIC}
    world = scene_world(SynthConfig(), 5, 0)
    assert len(world.lights) == 0 and np.isinf(world.agents.jaywalk_m).all() and np.isinf(world.agents.brake[:, 0]).all()


def test_signal_cycle_and_when_a_driver_must_stop():
    light = _light(stop_s=50.0, green_s=5.0, red_s=4.0, offset_s=0.0)
    assert [int(light.state(t)[0]) for t in (0.0, 4.9, 5.1, 7.9, 8.1, 11.9, 12.1)] == [GREEN, GREEN, YELLOW, YELLOW, RED, RED, GREEN]
    red, yellow = 9.0, 6.0
    front, speed = np.array([30.0, 43.0, 49.0, 51.0]), np.array([10.0, 10.0, 10.0, 10.0])
    # Red: every driver still able to stop within MAX_DECEL (not 1 m before the line at 10 m/s, nor past it).
    assert np.allclose(light_gap(light, red, front, speed), [20.0, 7.0, np.inf, np.inf])
    # Yellow: only where stopping needs at most YELLOW_STOP_DECEL (10 m/s: 14.3 m).
    assert np.allclose(light_gap(light, yellow, front, speed), [20.0, np.inf, np.inf, np.inf])
    assert np.isinf(light_gap(light, 1.0, front, speed)).all()  # green
    assert np.isinf(light_gap(TrafficLights.empty(), red, front, speed)).all()


def test_expert_waits_at_a_red_light_and_drives_on_when_it_turns_green():
    _, world = _world_with_a_light()
    stop_s = float(world.lights.stop_s[0])
    world.lights = _light(stop_s, green_s=100.0, red_s=12.0, offset_s=100.0 + YELLOW_S)  # red from t=0 to 12 s, then green
    lane = world.route.points
    log = simulate(world, 20.0, 50)
    nearest = np.linalg.norm(lane[None] - log.ego[:, None, :2], axis=2).argmin(axis=1)
    fronts = nearest * 0.5 + EGO_LENGTH_M - EGO_REAR_OVERHANG_M  # front bumper, metres along the ego lane
    speeds, waiting = log.ego[:, 3], log.times < 11.0
    assert fronts[waiting].max() <= stop_s + 0.5, "the ego crossed the stop line on red"
    assert speeds[(log.times > 9.0) & (log.times < 11.0)].max() < 0.3, "the ego should be standing at the line by the end of red"
    assert fronts[-1] > stop_s + 5.0 and speeds[-1] > 2.0, "after green the ego drives on"
    assert TRAFFIC_LIGHT in set(log.ego_cause[waiting].tolist())
    assert log.keyframe_cause(8.0) == "traffic_light"


def test_lead_car_brakes_to_a_stop_once_then_drives_on():
    world = scene_world(SynthConfig.from_dict({"traffic": {"lead_brake_probability": 1.0}}), 5, 0)
    agents = world.agents
    braking = np.flatnonzero(np.isfinite(agents.brake[:, 0]))
    assert len(braking) and (agents.path_id[braking] == 0).all() and (agents.kind[braking] != PEDESTRIAN).all()
    car = int(braking[0])
    agents.brake[car] = (1.0, 2.0, 4.0)  # from t=1 s at 4 m/s^2, hold 2 s once stopped
    log = simulate(world, 12.0, 50)
    speed = log.agent_pose[:, car, 3]
    stop_by = 1.0 + agents.desired_speed[car] / 4.0 + 0.2
    assert speed[log.times < 1.0].min() > 2.0
    assert speed[(log.times > stop_by) & (log.times < stop_by + 1.5)].max() < 0.05
    assert speed[-1] > 1.0


def test_jaywalkers_wait_for_the_ego_not_for_a_gap():
    world = scene_world(SynthConfig.from_dict({"traffic": {"jaywalker_fraction": 1.0, "pedestrians_per_100m": [3.0, 3.0]}}), 5, 1)
    agents = world.agents
    walkers = np.flatnonzero(agents.kind == PEDESTRIAN)
    assert len(walkers) and np.isfinite(agents.jaywalk_m[walkers]).all()
    log = simulate(world, 19.5, 50)
    started = [w for w in walkers if (log.agent_pose[:, w, 3] > 0).any()]
    assert started, "some jaywalker should step out as the ego passes"
    for w in started:
        k = int(np.argmax(log.agent_pose[:, w, 3] > 0))
        mid = world.paths.pose(np.array([agents.path_id[w]]), np.array([world.paths.length[agents.path_id[w]] / 2]))
        distance = np.hypot(log.ego[k, 0] - mid[0][0], log.ego[k, 1] - mid[1][0])
        assert distance <= agents.jaywalk_m[w] + 0.5, "a jaywalker starts only when the ego comes near"


def test_the_signal_head_shows_its_state_in_the_front_camera():
    index, world = _world_with_a_light()
    renderer, scenery = scene_renderer(VISION, 5, index, world)
    stop_s = float(world.lights.stop_s[0])
    lane = world.route.points
    i = int((stop_s - 25.0) / 0.5)  # 25 m before the stop line, on the ego lane
    pose = np.array([*lane[i], np.arctan2(*(lane[i + 2] - lane[i])[::-1])])
    agents_pose = np.stack([world.agent_x, world.agent_y, world.agent_yaw, world.agents.speed], axis=1)
    front = CAMERAS.index("CAM_FRONT")
    shares = {}
    for state, offset in ((RED, YELLOW_S), (GREEN, 0.0)):
        lights = _light(stop_s, green_s=30.0 if state == GREEN else 0.0, red_s=30.0, offset_s=offset)
        lights = replace(lights, head_xy=world.lights.head_xy[:1], yaw=world.lights.yaw[:1])
        parts = frame_parts(world.agents, agents_pose, np.zeros(len(world.agents), bool), scenery, lights, 1.0)
        image = renderer.render(pose, parts)[front][0].astype(int)
        b, g, r = image[..., 0], image[..., 1], image[..., 2]
        shares[state] = (np.mean((r > 180) & (g < 80) & (b < 80)), np.mean((g > 170) & (r < 100) & (b < 130)))
    assert shares[RED][0] > 2e-4 and shares[RED][1] < 1e-5
    assert shares[GREEN][1] > 2e-4 and shares[GREEN][0] < shares[RED][0] / 10


def test_vision_split_needs_a_visible_cause_and_a_departure_from_ctra():
    n = 4
    history = np.stack([np.stack([np.arange(-4, 1) * 5.0, np.zeros(5)], axis=1)] * n)  # 10 m/s straight
    dynamics = np.zeros((n, 5, 4))
    dynamics[..., 0] = 10.0
    future = np.stack([np.stack([np.arange(1, 7) * 5.0, np.zeros(6)], axis=1)] * n)  # CTRA's own plan
    future[1:, -1, 0] -= VISION_MARGIN_M + 1.0  # three samples slow down
    arrays = {"history_xy": history, "history_valid": np.ones((n, 5), bool), "history_dynamics": dynamics,
              "future_xy": future, "future_valid": np.ones((n, 6), bool),
              "cause": np.array([CAUSES.index("traffic_light"), CAUSES.index("traffic_light"), CAUSES.index("none"), UNKNOWN])}
    assert vision_dependent(arrays).tolist() == [False, True, False, False]


@pytest.fixture(scope="module")
def vision_dataroot(tmp_path_factory) -> Path:
    config = SynthConfig.from_dict({"traffic": VISION_TRAFFIC, "camera": {"width": 64, "height": 36}, "scene": {"duration_s": 20.0}})
    return generate_dataset(tmp_path_factory.mktemp("vision") / "data", n_scenes=4, seed=5, config=config)


def test_keyframe_causes_reach_the_cache_and_the_evaluation(vision_dataroot, tmp_path):
    pytest.importorskip("nuscenes")
    from nuscenes.nuscenes import NuScenes

    from evodrive_training.data.cache import build_split

    nusc = NuScenes("v1.0-synth", str(vision_dataroot), verbose=False)  # the extra file does not disturb the devkit
    labels = json.loads((vision_dataroot / "v1.0-synth" / KEYFRAME_CAUSES_FILE).read_text())["samples"]
    assert set(labels) == {s["token"] for s in nusc.sample} and set(labels.values()) <= set(CAUSES)
    assert "traffic_light" in labels.values()

    build_split(vision_dataroot, "v1.0-synth", "all", tmp_path / "cache", progress=False)
    split_dir = tmp_path / "cache" / "v1.0-synth" / "all"
    arrays = load_split(split_dir).arrays
    assert [CAUSES[c] for c in arrays["cause"]] == [labels[t] for t in arrays["sample_token"]]

    mask = vision_dependent(arrays)
    assert 0 < mask.sum() < len(mask)
    predictions = [{"id": t, "predict": encode_text(xy)} for t, xy in zip(arrays["sample_token"], arrays["future_xy"])]
    for k in np.flatnonzero(mask)[:1]:  # one vision sample predicted 10 m short at every step
        predictions[k]["predict"] = encode_text(arrays["future_xy"][k] - [10.0, 0.0])
    (tmp_path / "pred.json").write_text(json.dumps(predictions))
    out = tmp_path / "eval.json"
    assert eval_cli.run(argparse.Namespace(pred=tmp_path / "pred.json", gt=split_dir, out=out, plot=None, n_plots=0, name="gt")) == 0
    report = json.loads(out.read_text())
    vision = report["vision"]
    assert vision["n_samples"] == int(mask.sum()) and sum(vision["causes"].values()) == vision["n_samples"]
    # The one wrong sample weighs n_all / n_vision times more on the split than on the whole set.
    ratio = vision["uniad"]["L2"][3] / report["uniad"]["L2"][3]
    assert ratio == pytest.approx(report["n_samples"] / vision["n_samples"], rel=0.05)


def test_closed_loop_counts_red_lights_run_and_the_driving_score_pays_for_them():
    from evodrive_ros.closedloop import pdm_metrics
    from evodrive_training.closedloop import red_lights_run

    light = _light(stop_s=50.0, green_s=5.0, red_s=4.0, offset_s=0.0)  # red for t in [8, 12)
    times = np.arange(0.0, 14.0, 0.1)
    assert red_lights_run(10.0 * times, times, light) == 0  # crosses 50 m at t = 5.0: yellow
    assert red_lights_run(40.0 + 1.0 * times, times, light) == 1  # crosses at t = 10.0: red
    assert red_lights_run(np.full(len(times), 45.0), times, light) == 0  # waits before the line
    assert pdm_metrics.driving_score(1.0, {}, red_lights=2) == pytest.approx(pdm_metrics.RED_LIGHT_PENALTY ** 2)
