"""Samples, cache and evaluation on a small synthetic nuScenes-format dataset (issue 3's world)."""

import argparse
import json
import shutil

import numpy as np
import pytest

from evodrive_ros.core.driving_samples import load_split
from evodrive_ros.core.trajectory_codec import encode_text
from evodrive_ros.evaluation import cli as eval_cli

synth = pytest.importorskip("evodrive_training.synth")
pytest.importorskip("nuscenes")
from evodrive_training.baselines import cli as baseline_cli  # noqa: E402
from evodrive_training.data.cache import build_split  # noqa: E402

N_SCENES = 3
SMALL = {"scene": {"duration_s": 6.0}, "camera": {"width": 64, "height": 36}}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    config = synth.SynthConfig.from_dict(SMALL)
    dataroot = synth.generate_dataset(root / "data", n_scenes=N_SCENES, seed=7, config=config)
    return dataroot, config.version, root


@pytest.fixture(scope="module")
def cached(dataset):
    dataroot, version, root = dataset
    report = build_split(dataroot, version, "all", root / "cache", progress=False)
    return report


def test_first_build_builds_every_scene_then_nothing(dataset, cached):
    dataroot, version, root = dataset
    assert len(cached.rebuilt) == N_SCENES and not cached.reused
    again = build_split(dataroot, version, "all", root / "cache", progress=False)
    assert again.rebuilt == [] and len(again.reused) == N_SCENES
    assert again.n_samples == cached.n_samples > 0


def test_parallel_workers_write_the_same_cache_byte_for_byte(dataset, cached, tmp_path):
    """``--workers 2`` builds scenes in forked processes: same scene files, same split.json."""
    dataroot, version, root = dataset
    report = build_split(dataroot, version, "all", tmp_path / "cache", progress=False, workers=2)
    assert report.rebuilt == cached.rebuilt and report.n_samples == cached.n_samples
    one, two = root / "cache" / version / "all", tmp_path / "cache" / version / "all"
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    for relative in files:
        assert (one / relative).read_bytes() == (two / relative).read_bytes(), relative
    again = build_split(dataroot, version, "all", tmp_path / "cache", progress=False, workers=2)
    assert again.rebuilt == [] and again.reused == cached.rebuilt


def test_adding_or_changing_a_scene_rebuilds_only_that_scene(dataset, tmp_path):
    dataroot, version, _ = dataset
    root = tmp_path / "data"
    shutil.copytree(dataroot / version, root / version)
    for entry in dataroot.iterdir():
        if entry.name != version:
            (root / entry.name).symlink_to(entry)
    scene_table = root / version / "scene.json"
    scenes = json.loads(scene_table.read_text())
    scene_table.write_text(json.dumps(scenes[:-1]))  # a dataset without its last scene
    assert len(build_split(root, version, "all", tmp_path / "cache", progress=False).rebuilt) == N_SCENES - 1

    scene_table.write_text(json.dumps(scenes))  # the scene is added
    report = build_split(root, version, "all", tmp_path / "cache", progress=False)
    assert report.rebuilt == [scenes[-1]["name"]]

    ann_table = root / version / "sample_annotation.json"
    anns = json.loads(ann_table.read_text())
    first_sample = scenes[0]["first_sample_token"]
    tables = {name: json.loads((root / version / f"{name}.json").read_text()) for name in ("instance", "category")}
    category = {c["token"]: c["name"] for c in tables["category"]}
    vehicles = {i["token"] for i in tables["instance"] if category[i["category_token"]].startswith("vehicle.")}
    moved = next(a for a in anns if a["sample_token"] == first_sample and a["instance_token"] in vehicles)
    moved["translation"][0] += 1.0  # one box of the first scene moves
    ann_table.write_text(json.dumps(anns))
    report = build_split(root, version, "all", tmp_path / "cache", progress=False)
    assert report.rebuilt == [scenes[0]["name"]] and len(report.reused) == N_SCENES - 1


def test_a_damaged_or_edited_cache_file_is_caught_and_rebuilt(dataset, tmp_path):
    from evodrive_ros.core.driving_samples import SampleFormatError, load_split, read_scene_file, write_scene_file

    dataroot, version, _ = dataset
    first = build_split(dataroot, version, "all", tmp_path / "cache", progress=False)
    index = json.loads((first.split_dir / "split.json").read_text())
    edited = first.split_dir / index["scenes"][0]["file"]
    arrays = read_scene_file(edited)
    with np.load(edited, allow_pickle=False) as data:
        scalars = {k: data[k].item() for k in ("format_version", "scene_token", "scene_name", "cache_key")}
    arrays["future_xy"] = arrays["future_xy"] + 1.0  # someone edits the GT, cache key intact
    write_scene_file(edited, arrays, scalars)
    with pytest.raises(SampleFormatError, match="changed since the cache was built"):
        load_split(first.split_dir)
    report = build_split(dataroot, version, "all", tmp_path / "cache", progress=False)
    assert report.damaged == [index["scenes"][0]["scene_name"]] and report.rebuilt == report.damaged
    assert load_split(first.split_dir).arrays["future_xy"].shape[0] == first.n_samples


def test_a_cache_folder_belongs_to_one_dataroot_and_keeps_files_it_did_not_write(dataset, tmp_path):
    dataroot, version, _ = dataset
    first = build_split(dataroot, version, "all", tmp_path / "cache", progress=False)
    foreign = first.split_dir / "scenes" / "my_notes.npz"
    np.savez(foreign, x=np.zeros(1))
    again = build_split(dataroot, version, "all", tmp_path / "cache", progress=False)
    assert foreign.is_file() and len(again.reused) == N_SCENES
    other = tmp_path / "other"
    shutil.copytree(dataroot, other, symlinks=True)
    with pytest.raises(ValueError, match="holds samples of .*choose another cache folder"):
        build_split(other, version, "all", tmp_path / "cache", progress=False)
    assert foreign.is_file() and len(list((first.split_dir / "scenes").glob("*.npz"))) == N_SCENES + 1


def test_samples_are_complete_and_in_the_ego_frame(dataset, cached):
    dataroot = dataset[0]
    split = load_split(cached.split_dir)
    a = split.arrays
    assert len(split) == cached.n_samples
    assert np.allclose(a["history_xy"][:, -1], 0.0, atol=1e-4)
    assert all((dataroot / p).is_file() for p in a["camera_paths"][:3].ravel())
    assert all((dataroot / p).is_file() for p in a["teacher_front_paths"][-3:].ravel())
    assert a["teacher_front_padded"][-1].all() and not a["teacher_front_padded"][0].any()
    moving = a["future_valid"][:, 0]
    assert (a["future_xy"][moving, 0, 0] > 0).mean() > 0.9  # the expert mostly drives forward
    assert np.isfinite(a["history_dynamics"]).all()


def _evaluate(split_dir, pred, tmp_path):
    out = tmp_path / f"{pred.stem}.metrics.json"
    args = argparse.Namespace(pred=pred, gt=split_dir, out=out, plot=None, n_plots=0, name=None)
    assert eval_cli.run(args) == 0
    return json.loads(out.read_text())


def test_drivable_grid_is_the_devkits_map_mask_in_the_ego_frame(dataset, cached):
    """Each cell of the cached grid equals ``MapMask.is_on_mask`` at the cell centre, taken to the
    world with the keyframe's ego pose (nuscenes-devkit read independently here)."""
    from nuscenes.nuscenes import NuScenes

    from evodrive_ros.core.driving_samples import unpack_occupancy
    from evodrive_ros.core.frames import quaternion_yaw, rotation_2d
    from evodrive_ros.core.openloop_metrics import cell_centres

    dataroot, version, root = dataset
    nusc = NuScenes(version=version, dataroot=str(dataroot), verbose=False)
    split = load_split(root / "cache" / version / "all", ("sample_token", "drivable_bits", "drivable_known"))
    assert split.arrays["drivable_known"].all()
    cells = np.stack(np.meshgrid(cell_centres(), cell_centres(), indexing="ij"), axis=-1).reshape(-1, 2)
    for k in (0, len(split) // 2, len(split) - 1):
        sample = nusc.get("sample", str(split.arrays["sample_token"][k]))
        pose = nusc.get("ego_pose", nusc.get("sample_data", sample["data"]["CAM_FRONT"])["ego_pose_token"])
        world = np.asarray(pose["translation"][:2]) + cells @ rotation_2d(quaternion_yaw(pose["rotation"])).T
        mask = nusc.get("map", nusc.get("log", nusc.get("scene", sample["scene_token"])["log_token"])["map_token"])["mask"]
        want = mask.is_on_mask(world[:, 0], world[:, 1]).reshape(200, 200)
        grid = unpack_occupancy(split.arrays["drivable_bits"][k])
        assert np.array_equal(grid, want)
        assert grid[100, 100] and 0.02 < grid.mean() < 0.98  # the ego's own cell is road; not all road


def test_gt_trajectory_scores_zero(cached, tmp_path):
    split = load_split(cached.split_dir, ("sample_token", "future_xy"))
    pred = tmp_path / "gt.json"
    pred.write_text(json.dumps([{"id": str(t), "predict": encode_text(xy)} for t, xy in zip(split.arrays["sample_token"], split.arrays["future_xy"])]))
    report = _evaluate(cached.split_dir, pred, tmp_path)
    for protocol in ("stp3", "uniad"):
        assert report[protocol]["L2"] == pytest.approx([0.0] * 4, abs=0.01)
        assert report[protocol]["collision"] == [0.0] * 4


def test_baselines_produce_the_table(cached, tmp_path, capsys):
    for model in ("cv", "ca", "ctrv", "ego-mlp"):
        pred = tmp_path / f"{model}.json"
        args = argparse.Namespace(
            model=model, samples=cached.split_dir, out=pred, train_samples=cached.split_dir, epochs=20, seed=0, members=2
        )
        assert baseline_cli.run(args) == 0
        report = _evaluate(cached.split_dir, pred, tmp_path)
        assert report["n_unparsed"] == 0 and report["n_samples"] == cached.n_samples
        assert 0.0 < report["uniad"]["L2"][3] < 20.0
    assert "| cv | stp3 |" in capsys.readouterr().out
