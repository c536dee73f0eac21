"""`evodrive samples --can-rule authors` (issue 17): CAN values picked as the authors' cached data
picks them (the first pose message after the keyframe, the first steering reading at or after it)
and zeros where a scene has no CAN data, instead of our nearest message and pose-based estimates."""

import json

import numpy as np
import pytest

from evodrive_ros.core.driving_samples import SOURCE_CAN, SOURCE_KINEMATIC, SOURCE_ZERO, load_split

pytest.importorskip("evodrive_training.synth")
pytest.importorskip("nuscenes")
from evodrive_training.data.cache import build_split  # noqa: E402
from synthetic_dataroots import small_dataroot  # noqa: E402


@pytest.fixture(scope="module")
def dataroot(tmp_path_factory):
    dataroot, version = small_dataroot(tmp_path_factory.mktemp("can"), n_scenes=2, seed=5, duration_s=6.0)
    (dataroot / "can_bus" / "scene-0002_pose.json").unlink()  # as for a scene without CAN data
    (dataroot / "can_bus" / "scene-0002_steeranglefeedback.json").unlink()
    return dataroot, version


def _split(dataroot, version, cache, rule):
    report = build_split(dataroot, version, "all", cache, progress=False, can_rule=rule)
    split = load_split(report.split_dir)
    assert split.index["can_rule"] == rule
    return split


def test_authors_rule_picks_the_messages_after_each_keyframe(dataroot, tmp_path):
    root, version = dataroot
    split = _split(root, version, tmp_path, "authors")
    pose = json.loads((root / "can_bus" / "scene-0001_pose.json").read_text())
    steering = json.loads((root / "can_bus" / "scene-0001_steeranglefeedback.json").read_text())
    pose_times = np.array([m["utime"] for m in pose])
    steer_times = np.array([m["utime"] for m in steering])
    n_first = split.index["scenes"][0]["n_samples"]
    assert split.index["scenes"][0]["scene_name"] == "scene-0001"
    for i in range(n_first):
        t = split.arrays["timestamp_us"][i]
        after = pose[min(int(np.searchsorted(pose_times, t, side="right")), len(pose) - 1)]
        at_or_after = steering[min(int(np.searchsorted(steer_times, t, side="left")), len(steering) - 1)]
        expected = [after["vel"][0], after["accel"][0], after["accel"][1], at_or_after["value"]]
        assert np.allclose(split.arrays["history_dynamics"][i, -1], expected, atol=1e-5)
        assert split.arrays["history_dynamics_source"][i, -1].tolist() == [SOURCE_CAN] * 4


def test_a_scene_without_can_data_gets_zeros_under_the_authors_rule_and_estimates_under_ours(dataroot, tmp_path):
    root, version = dataroot
    authors = _split(root, version, tmp_path / "authors", "authors")
    ours = _split(root, version, tmp_path / "ours", "nearest")
    second = slice(authors.index["scenes"][0]["n_samples"], None)
    assert np.all(authors.arrays["history_dynamics"][second] == 0.0)
    assert np.all(authors.arrays["history_dynamics_source"][second] == SOURCE_ZERO)
    assert np.all(ours.arrays["history_dynamics_source"][second] == SOURCE_KINEMATIC)
    moving = ours.arrays["history_dynamics"][second][..., 0]
    assert moving.mean() > 1.0  # the car was moving: zeros are the authors' data, not the truth


def test_authors_history_padding_fills_only_keyframes_with_at_most_two_previous_ones(dataroot, tmp_path):
    root, version = dataroot
    ours = load_split(build_split(root, version, "all", tmp_path / "repeat", progress=False).split_dir)
    report = build_split(root, version, "all", tmp_path / "authors", progress=False, history_padding="authors")
    authors = load_split(report.split_dir)
    assert authors.index["history_padding"] == "authors" and ours.index["history_padding"] == "repeat"
    assert authors.index["scenes"][0]["cache_key"] != ours.index["scenes"][0]["cache_key"]
    n_first = authors.index["scenes"][0]["n_samples"]
    dynamics, sources = authors.arrays["history_dynamics"][:n_first], authors.arrays["history_dynamics_source"][:n_first]
    history = authors.arrays["history_xy"][:n_first].astype(np.float64)
    valid = authors.arrays["history_valid"][:n_first]
    # Keyframe 2: two previous keyframes; its history path is p0, p0, p0, p1, p2 (ego frame).
    p0, p1, p2 = history[2, 0], history[2, 3], history[2, 4]
    second = (p2 - 2 * p1 + p0) / 0.5
    expected = [np.linalg.norm(p1 - p0) / 1.5, -second[1], -second[0], 0.0]  # as METHOD §5.3 reads
    for row in np.flatnonzero(~valid[2]):
        assert np.allclose(dynamics[2, row], expected, atol=1e-4)
        assert sources[2, row].tolist() == [SOURCE_KINEMATIC] * 4
    assert expected[0] > 0.5  # the car moves: the estimate is not the repeated first keyframe's values
    # The prompt prints the lateral slot negated: the forward coordinate's second difference.
    from evodrive_ros.core.prompts import format_dynamics

    printed = format_dynamics(dynamics[2, ~valid[2]][:1])
    assert printed == f"[({expected[0]:.2f},{-second[1]:.2f},{second[0]:.2f},0.00)]".replace("-0.00", "0.00")
    # Valid rows, and every keyframe with three or more previous ones, are the default build's.
    assert np.array_equal(dynamics[valid], ours.arrays["history_dynamics"][:n_first][valid])
    assert np.array_equal(dynamics[3:], ours.arrays["history_dynamics"][3:n_first])
