"""The synthetic world's nuScenes output, read back with nuscenes-devkit (issue #3 acceptance)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("nuscenes")
from nuscenes.can_bus.can_bus_api import NuScenesCanBus  # noqa: E402
from nuscenes.nuscenes import NuScenes  # noqa: E402
from nuscenes.utils.geometry_utils import BoxVisibility, view_points  # noqa: E402

from evodrive_ros.core.conventions import CAMERAS  # noqa: E402
from evodrive_training.synth import SynthConfig, build_scene, generate_dataset  # noqa: E402

N_SCENES, SEED = 4, 7
CONFIG = {"camera": {"width": 320, "height": 180}, "scene": {"duration_s": 8.0}, "write_instance_masks": True}


@pytest.fixture(scope="module")
def dataroot(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("synth") / "nuscenes", N_SCENES, SEED, SynthConfig.from_dict(CONFIG))


@pytest.fixture(scope="module")
def nusc(dataroot) -> NuScenes:
    return NuScenes("v1.0-synth", str(dataroot), verbose=False)


def test_devkit_loads_scenes_with_six_cameras_per_keyframe(nusc, dataroot):
    assert [s["name"] for s in nusc.scene] == [f"scene-{i:04d}" for i in range(1, N_SCENES + 1)]
    for scene in nusc.scene:
        assert scene["nbr_samples"] == 16
        token, count = scene["first_sample_token"], 0
        while token:
            sample = nusc.get("sample", token)
            for channel in CAMERAS:
                sd = nusc.get("sample_data", sample["data"][channel])
                assert sd["is_key_frame"] and sd["timestamp"] == sample["timestamp"]
                image = cv2.imread(str(dataroot / sd["filename"]))
                assert image is not None and image.shape == (180, 320, 3)
            assert sample["anns"], "every keyframe should have annotated agents in range"
            token, count = sample["next"], count + 1
        assert count == scene["nbr_samples"]
    assert not list(dataroot.parent.glob("*.partial-*"))


def test_annotation_chains_and_lidar_counts(nusc):
    for instance in nusc.instance:
        chain, token = [], instance["first_annotation_token"]
        while token:
            ann = nusc.get("sample_annotation", token)
            assert ann["num_lidar_pts"] > 0 and len(ann["size"]) == 3
            chain.append(ann)
            token = ann["next"]
        assert len(chain) == instance["nbr_annotations"] and chain[-1]["token"] == instance["last_annotation_token"]
        times = [nusc.get("sample", a["sample_token"])["timestamp"] for a in chain]
        assert times == sorted(times)


def test_front_camera_boxes_cover_the_rendered_objects(nusc, dataroot):
    """Boxes projected with the devkit's calibration enclose the pixels rendered for their instance."""
    index = json.loads((dataroot / "instance_masks" / "index.json").read_text())
    id_of = {token: i + 1 for i, token in enumerate(index)}
    checked = well_covered = 0
    for sample in nusc.sample:
        sd = nusc.get("sample_data", sample["data"]["CAM_FRONT"])
        mask = cv2.imread(str(dataroot / "instance_masks" / "CAM_FRONT" / (Path(sd["filename"]).stem + ".png")), cv2.IMREAD_UNCHANGED)
        _, boxes, intrinsic = nusc.get_sample_data(sd["token"], box_vis_level=BoxVisibility.ALL)
        for box in boxes:
            instance = nusc.get("sample_annotation", box.token)["instance_token"]
            pixels = mask == id_of.get(instance, -1)
            if pixels.sum() < 10:
                continue  # hidden behind something nearer, or tiny
            hull = cv2.convexHull(view_points(box.corners(), intrinsic, normalize=True)[:2].T.astype(np.float32))
            inside = np.zeros(mask.shape, np.uint8)
            cv2.fillConvexPoly(inside, np.round(hull).astype(np.int32), 1)
            inside = cv2.dilate(inside, np.ones((5, 5), np.uint8))
            assert (pixels & (inside > 0)).sum() >= 0.97 * pixels.sum(), f"{box.name} pixels outside its projected box"
            checked += 1
            well_covered += pixels.sum() >= 0.5 * (cv2.contourArea(hull))
    assert checked >= 10, "too few visible objects to test the projection"
    assert well_covered >= checked // 3, "boxes much larger than what was rendered"


def test_ego_poses_agree_with_can_bus(nusc, dataroot):
    can = NuScenesCanBus(dataroot=str(dataroot))
    for scene in nusc.scene:
        pose = can.get_messages(scene["name"], "pose")
        steer = can.get_messages(scene["name"], "steeranglefeedback")
        assert np.allclose(np.diff([m["utime"] for m in pose]), 20_000)
        assert np.allclose(np.diff([m["utime"] for m in steer]), 10_000)
        utimes = np.array([m["utime"] for m in pose])
        speeds = np.array([m["vel"][0] for m in pose])
        samples = nusc.field2token("sample", "scene_token", scene["token"])
        poses = [nusc.get("ego_pose", nusc.get("sample", s)["data"]["CAM_FRONT"]) for s in samples]
        poses.sort(key=lambda p: p["timestamp"])
        for a, b in zip(poses, poses[1:]):
            dt = (b["timestamp"] - a["timestamp"]) / 1e6
            finite_difference = np.linalg.norm(np.subtract(b["translation"], a["translation"])) / dt
            between = (utimes >= a["timestamp"]) & (utimes <= b["timestamp"])
            assert abs(finite_difference - speeds[between].mean()) < 0.15
    assert can.list_misaligned_routes() == []


def test_map_mask_marks_the_ego_on_drivable_area(nusc):
    for scene in nusc.scene:
        log = nusc.get("log", scene["log_token"])
        mask = nusc.get("map", log["map_token"])["mask"]
        sample = nusc.get("sample", scene["first_sample_token"])
        pose = nusc.get("ego_pose", nusc.get("sample_data", sample["data"]["CAM_FRONT"])["ego_pose_token"])
        assert mask.is_on_mask(pose["translation"][0], pose["translation"][1])[0]
        assert not mask.is_on_mask(pose["translation"][0] + 500.0, pose["translation"][1] + 500.0)[0]


def test_scenes_are_deterministic_per_seed():
    config = SynthConfig.from_dict({"scene": {"duration_s": 4.0}})
    a, b = build_scene(config, 3, 0).log, build_scene(config, 3, 0).log
    c = build_scene(config, 4, 0).log
    assert np.array_equal(a.ego, b.ego) and np.array_equal(a.agent_pose, b.agent_pose)
    assert not np.array_equal(a.ego[:, :2], c.ego[:, :2])


def _same_values(a, b) -> bool:
    """JSON values equal, floats to 1e-12 (a process's BLAS may round a last bit differently)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 1e-12 * max(1.0, abs(a))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_values(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_values(a[k], b[k]) for k in a)
    return a == b


def test_scenes_rendered_by_several_workers_give_the_same_files(dataroot, tmp_path):
    """``workers`` only changes who renders a scene: every image and mask byte-identical, every table
    the same (floats to the last bits)."""
    parallel = generate_dataset(tmp_path / "parallel", N_SCENES, SEED, SynthConfig.from_dict(CONFIG), workers=3)
    files = lambda root: {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}  # noqa: E731
    serial, other = files(dataroot), files(parallel)
    assert len(serial) > 4 * N_SCENES * 16 * 6 / 2  # JPEGs and masks of every keyframe
    assert serial.keys() == other.keys()
    differ = [name for name in serial if serial[name] != other[name]]
    assert all(name.suffix == ".json" and _same_values(json.loads(serial[name]), json.loads(other[name])) for name in differ), differ
