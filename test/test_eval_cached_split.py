"""``evodrive eval`` against a cached split (our own format) and the BEV picture."""

import argparse
import json

import numpy as np
import pytest

from evodrive_ros.core.driving_samples import FORMAT_NAME, FORMAT_VERSION, write_scene_file, write_split_index
from evodrive_ros.core.trajectory_codec import encode_text
from evodrive_ros.evaluation import cli

pytest.importorskip("evodrive_training.data.samples")
from evodrive_training.data.samples import build_scene_samples  # noqa: E402
from test_samples_builder import _source  # noqa: E402


@pytest.fixture
def split_dir(tmp_path):
    arrays = build_scene_samples(_source())
    scalars = {"format_version": FORMAT_VERSION, "scene_token": "scene-tok", "scene_name": "scene-0001", "cache_key": "k"}
    write_scene_file(tmp_path / "scenes" / "scene-tok.npz", arrays, scalars)
    n = len(arrays["sample_token"])
    scene = {"scene_name": "scene-0001", "scene_token": "scene-tok", "file": "scenes/scene-tok.npz", "cache_key": "k", "n_samples": n}
    write_split_index(tmp_path, {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "split": "val", "n_samples": n, "scenes": [scene]})
    return tmp_path, arrays


def _eval(split, predictions, tmp_path, plot=None):
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(predictions))
    out = tmp_path / "out.json"
    assert cli.run(argparse.Namespace(pred=pred, gt=split, out=out, plot=plot, n_plots=2, name="x")) == 0
    return json.loads(out.read_text())


def test_gt_trajectory_scores_zero(split_dir, tmp_path):
    split, arrays = split_dir
    preds = [{"id": t, "predict": encode_text(xy)} for t, xy in zip(arrays["sample_token"], arrays["future_xy"])]
    report = _eval(split, preds, tmp_path, plot=tmp_path / "plots")
    for protocol in ("stp3", "uniad"):
        assert report[protocol]["L2"] == pytest.approx([0.0] * 4, abs=1e-9)
        assert report[protocol]["collision"] == [0.0] * 4
    assert report["n_samples"] == 8 and report["n_unparsed"] == 0
    assert len(list((tmp_path / "plots").glob("*.png"))) == 2


def test_driving_into_the_parked_car_collides(split_dir, tmp_path):
    split, arrays = split_dir
    # From keyframe 0 the car is 19..21 m ahead, 1..5 m left: aim every waypoint at (20, 3).
    preds = [{"id": str(arrays["sample_token"][0]), "predict": encode_text(np.tile([20.0, 3.0], (6, 1)))}]
    report = _eval(split, preds, tmp_path)
    assert report["n_unparsed"] == 7  # the other samples are missing -> zero motion, still counted
    # Sample 0 collides at every step (6 valid steps); 8 samples -> 12.5 % at every step.
    assert report["uniad"]["collision"] == pytest.approx([12.5] * 4)
    assert report["stp3"]["collision"] == pytest.approx([12.5] * 4)
