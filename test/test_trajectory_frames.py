"""Trajectory frames (issue 17): samples as the LIDAR_TOP sensor's path, as the community files have
them, recorded in the split and the model, and converted back to base_link by the runtime."""

import json

import numpy as np
import pytest

from evodrive_ros.core.frames import NUSCENES_LIDAR_MOUNT, SensorMount, TrajectoryFrame
from evodrive_ros.core.trajectory_codec import prompt_to_ego

LIDAR = TrajectoryFrame("lidar", NUSCENES_LIDAR_MOUNT)


def _arc(radius: float, speed: float, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Base poses on a circle through the origin (heading 0 at t = 0), relative to the pose at t = 0."""
    turn = speed * times / radius
    return np.stack([radius * np.sin(turn), radius * (1 - np.cos(turn))], axis=1), turn


@pytest.mark.parametrize("radius", [12.0, -15.0, 40.0])
def test_a_plan_in_the_lidar_frame_returns_to_the_base_path_on_arcs(radius):
    base, yaw = _arc(radius, 8.0, np.arange(1, 7) * 0.5)
    lidar_path = LIDAR.from_base(base, yaw)
    assert np.abs(lidar_path - base).max() > 0.3  # the lever arm shows on a turn...
    assert np.abs(LIDAR.to_base(lidar_path) - base).max() < 0.01  # ...and the headings solved for undo it


def test_a_future_base_path_without_headings_turns_into_the_lidar_path():
    """The teacher's privileged path is integrated for the vehicle; a lidar-frame teacher reads it
    as the sensor's path, the base's headings taken from the path's directions."""
    base, yaw = _arc(15.0, 8.0, np.arange(1, 7) * 0.5)
    assert np.abs(LIDAR.path_from_base(base) - LIDAR.from_base(base, yaw)).max() < 0.01
    assert np.array_equal(TrajectoryFrame().path_from_base(base), base)


def test_the_ego_frame_is_the_identity_and_straight_driving_only_shifts_the_origin():
    base, yaw = _arc(1e9, 8.0, np.arange(-4, 1) * 0.5)
    assert np.array_equal(TrajectoryFrame().from_base(base, yaw), base)
    assert np.abs(LIDAR.from_base(base, yaw) - base).max() < 1e-6  # same axes; on a line the offset cancels
    assert np.abs(LIDAR.to_base(np.zeros((6, 2)))).max() < 1e-9  # standing still


def test_a_frame_refuses_an_unknown_name_or_a_missing_mount():
    with pytest.raises(ValueError, match="one of"):
        TrajectoryFrame("radar")
    with pytest.raises(ValueError, match="sensor mount"):
        TrajectoryFrame("lidar")


# --- samples on a synthetic dataroot whose LIDAR_TOP sits 0.94 m ahead of the ego pose ----------------

pytest.importorskip("evodrive_training.synth")
pytest.importorskip("nuscenes")


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    from synthetic_dataroots import small_dataroot

    from evodrive_ros.core.driving_samples import load_split
    from evodrive_training.data.cache import build_split

    root = tmp_path_factory.mktemp("frames")
    dataroot, version = small_dataroot(root, n_scenes=3, seed=7, duration_s=12.0)
    built = {}
    for frame in ("ego", "lidar"):
        report = build_split(dataroot, version, "all", root / frame, progress=False, trajectory_frame=frame)
        built[frame] = load_split(report.split_dir)
    return dataroot, version, built


def _community_future(nusc, sample_token: str) -> tuple[np.ndarray, np.ndarray]:
    """What a VAD-lineage ``gt_traj.pkl`` holds for a sample: the origin of LIDAR_TOP at each future
    keyframe in the current LIDAR_TOP frame (x right, y forward), from the devkit's 3-D transforms."""
    from pyquaternion import Quaternion
    from nuscenes.utils.geometry_utils import transform_matrix

    def lidar_to_global(sample) -> np.ndarray:
        record = nusc.get("sample_data", sample["data"]["LIDAR_TOP"])
        pose, calibration = nusc.get("ego_pose", record["ego_pose_token"]), nusc.get("calibrated_sensor", record["calibrated_sensor_token"])
        return (transform_matrix(pose["translation"], Quaternion(pose["rotation"]))
                @ transform_matrix(calibration["translation"], Quaternion(calibration["rotation"])))

    sample = nusc.get("sample", sample_token)
    global_from_now = lidar_to_global(sample)
    points, valid = np.zeros((6, 2)), np.zeros(6, dtype=bool)
    following = sample
    for step in range(6):
        if not following["next"]:
            break
        following = nusc.get("sample", following["next"])
        origin = np.linalg.inv(global_from_now) @ lidar_to_global(following) @ np.array([0.0, 0.0, 0.0, 1.0])
        points[step], valid[step] = origin[:2], True
    return points, valid


def test_lidar_samples_agree_with_community_ground_truth_to_a_centimetre_and_ego_samples_do_not(splits):
    from nuscenes import NuScenes

    dataroot, version, built = splits
    nusc = NuScenes(version=version, dataroot=str(dataroot), verbose=False)
    lidar, ego = built["lidar"].arrays, built["ego"].arrays
    tokens = list(built["lidar"].arrays["sample_token"])
    assert tokens == list(ego["sample_token"])
    worst_lidar, worst_ego, turning = 0.0, 0.0, 0
    for i, token in enumerate(tokens):
        community, valid = _community_future(nusc, token)
        assert np.array_equal(valid, lidar["future_valid"][i])
        ours = prompt_to_ego(community)[valid]  # the evaluation reader's one axis swap
        worst_lidar = max(worst_lidar, float(np.abs(lidar["future_xy"][i][valid] - ours).max(initial=0.0)))
        worst_ego = max(worst_ego, float(np.abs(ego["future_xy"][i][valid] - ours).max(initial=0.0)))
        turning += bool(valid.all() and abs(np.arctan2(*ours[-1][::-1])) > np.deg2rad(15))
    assert turning >= 3  # the scenes do turn
    assert worst_lidar < 0.01
    assert worst_ego > 0.3  # the ego pose's path is visibly another trajectory on the turns


def test_the_split_records_its_frame_and_the_mount(splits):
    from evodrive_ros.core.driving_samples import split_trajectory_frame

    _, _, built = splits
    assert split_trajectory_frame(built["ego"].index) == TrajectoryFrame()
    frame = split_trajectory_frame(built["lidar"].index)
    assert frame.name == "lidar" and np.allclose([frame.mount.x, frame.mount.y, frame.mount.yaw], [0.94, 0.0, -np.pi / 2])


# --- training records the frame; the runtime converts -------------------------------------------------


def test_training_records_the_frame_and_refuses_to_continue_in_another(tmp_path, capsys):
    from model_fixtures import write_fake_split

    from evodrive_ros.cli import main
    from evodrive_training.models.presets import load_pretrained, trajectory_frame_of

    ego_split = write_fake_split(tmp_path / "ego", 2)
    lidar_split = write_fake_split(tmp_path / "lidar", 2)
    index = json.loads((lidar_split / "split.json").read_text())
    index["trajectory_frame"] = "lidar"
    for scene in index["scenes"]:
        scene["sensor_mount"] = {"x": 0.94, "y": 0.0, "yaw": -np.pi / 2}
    (lidar_split / "split.json").write_text(json.dumps(index))
    common = ["--image-size", "56", "84", "--batch-size", "2", "--max-steps", "1", "--save-steps", "1"]
    assert main(["train", "sft", "--samples", str(lidar_split), *common, "--output-dir", str(tmp_path / "m")]) == 0
    model, _ = load_pretrained(tmp_path / "m")
    assert trajectory_frame_of(model) == LIDAR
    assert main(["train", "sft", "--samples", str(ego_split), *common, "--init", str(tmp_path / "m"), "--output-dir", str(tmp_path / "n")]) == 2
    assert "trained in the 'lidar' trajectory frame" in capsys.readouterr().out


@pytest.fixture(scope="module")
def lidar_model(tmp_path_factory):
    from evodrive_training.export.onnx_export import export_model_dir
    from evodrive_training.models.presets import build_tiny, set_trajectory_frame

    root = tmp_path_factory.mktemp("lidar_model")
    model, tokenizer = build_tiny(seed=0)
    set_trajectory_frame(model, LIDAR)
    model.save_pretrained(root / "checkpoint")
    tokenizer.save_pretrained(root / "checkpoint")
    export_model_dir(root / "checkpoint", root / "model", preset="tiny")
    return root / "model"


def test_the_runtime_plans_in_the_models_frame_and_returns_base_link_waypoints(lidar_model):
    from dataclasses import replace

    from exported_tiny import planner_input

    from evodrive_ros.core.model_manifest import read_manifest
    from evodrive_ros.runtime import load_planner

    manifest = read_manifest(lidar_model)
    assert manifest.frame == LIDAR
    planner = load_planner(lidar_model, "onnxruntime", threads=1)
    inputs = replace(planner_input(0), history_yaw=np.deg2rad([20.0, 14.0, 9.0, 4.0, 0.0]))
    result = planner.plan(inputs)
    assert result.ok
    # the same graphs read as an ego-frame model, given the history the lidar model was given
    as_ego = load_planner(lidar_model, "onnxruntime", threads=1)
    as_ego.frame = TrajectoryFrame()
    converted = replace(inputs, history_xy=LIDAR.from_base(inputs.history_xy, inputs.history_yaw))
    assert np.array_equal(planner.prompt_ids(inputs), as_ego.prompt_ids(converted))
    model_frame_plan = as_ego.plan(converted)
    assert model_frame_plan.text == result.text
    assert np.allclose(result.waypoints, LIDAR.to_base(model_frame_plan.waypoints))
    # a vehicle's own calibration replaces the training data's
    mounted = load_planner(lidar_model, "onnxruntime", threads=1, sensor_mount=SensorMount(1.5, 0.0, -np.pi / 2))
    assert mounted.frame.mount.x == 1.5
