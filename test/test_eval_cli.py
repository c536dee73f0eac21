"""``evodrive eval`` on hand-made community metrics folders: file orientations, unparsed predictions."""

import argparse
import json
import pickle

import numpy as np
import pytest

from evodrive_ros.evaluation import cli

# One obstacle at ego (x=10 forward, y=3 left) at step index 1 (+1.0 s); in the community convention
# (x right, y forward) that is (-3, 10). A box at that waypoint covers rows 117..124 and, with columns
# pointing left, cols 104..107; with columns pointing right, cols 92..95.
ROW, COL_LEFT, COL_RIGHT = 120, 105, 93


def _write_folder(tmp_path, n_steps=6, stp3_flipped=True):
    token = "tok0"
    gt = np.zeros((1, n_steps, 2))
    gt[0, -6:, 1] = np.arange(1, 7) * 0.5  # straight ahead, slowly
    mask = np.ones((1, n_steps, 2))
    stp3 = np.zeros((1, n_steps, 200, 200), dtype=np.uint8)
    uniad = np.zeros_like(stp3)
    step = n_steps - 6 + 1
    stp3[0, step, ROW, COL_LEFT] = 1
    if stp3_flipped:
        stp3 = stp3[..., ::-1, ::-1].copy()
    uniad[0, step, ROW, COL_RIGHT] = 1
    for name, obj in (("gt_traj", gt), ("gt_traj_mask", mask), ("stp3_gt_seg", stp3), ("uniad_gt_seg", uniad)):
        (tmp_path / f"{name}.pkl").write_bytes(pickle.dumps({token: obj}))
    return token


def _run(tmp_path, predictions):
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(predictions))
    out = tmp_path / "out.json"
    args = argparse.Namespace(pred=pred, gt=tmp_path, out=out, plot=None, n_plots=0, name=None)
    assert cli.run(args) == 0
    return json.loads(out.read_text())


def _text(points):
    return "[" + ", ".join(f"({x:.2f},{y:.2f})" for x, y in points) + "] These are the future waypoints."


@pytest.mark.parametrize("n_steps", [6, 7])
def test_obstacle_hit_under_both_protocols(tmp_path, n_steps):
    token = _write_folder(tmp_path, n_steps)
    report = _run(tmp_path, [{"id": token, "predict": _text([(-3.0, 10.0)] * 6)}])
    # Collision only at step index 1: ST-P3 means over steps 1-2, 1-4, 1-6; UniAD takes steps 2, 4, 6.
    assert report["stp3"]["collision"] == pytest.approx([50.0, 25.0, 100 / 6, (50 + 25 + 100 / 6) / 3])
    assert report["uniad"]["collision"] == pytest.approx([100.0, 0.0, 0.0, 100 / 3])
    assert report["n_samples"] == 1 and report["n_unparsed"] == 0


def test_mirrored_prediction_misses(tmp_path):
    token = _write_folder(tmp_path)
    report = _run(tmp_path, [{"id": token, "predict": _text([(3.0, 10.0)] * 6)}])
    assert report["stp3"]["collision"] == [0.0] * 4
    assert report["uniad"]["collision"] == [0.0] * 4


def test_unflipped_stp3_file_would_miss(tmp_path):
    token = _write_folder(tmp_path, stp3_flipped=False)
    report = _run(tmp_path, [{"id": token, "predict": _text([(-3.0, 10.0)] * 6)}])
    assert report["stp3"]["collision"] == [0.0] * 4


def test_gt_scores_zero_and_l2_is_hand_computed(tmp_path):
    token = _write_folder(tmp_path)
    gt_points = [(0.0, 0.5 * (i + 1)) for i in range(6)]
    assert _run(tmp_path, [{"id": token, "predict": _text(gt_points)}])["uniad"]["L2"] == [0.0] * 4
    shifted = [(x + 0.3, y + 0.4) for x, y in gt_points]
    report = _run(tmp_path, [{"id": token, "predict": _text(shifted)}])
    assert report["stp3"]["L2"] == pytest.approx([0.5] * 4)


def test_unparsable_and_missing_predictions_count_as_zero_motion(tmp_path):
    token = _write_folder(tmp_path)
    for predictions in ([{"id": token, "predict": "I would rather not drive."}], []):
        report = _run(tmp_path, predictions)
        assert report["n_unparsed"] == 1 and report["n_samples"] == 1
        # zero motion vs GT at 0.5 m per step: L2 per step = 0.5, 1.0, ... 3.0
        assert report["uniad"]["L2"] == pytest.approx([1.0, 2.0, 3.0, 2.0])


def test_missing_gt_gives_a_clear_error(tmp_path, capsys):
    pred = tmp_path / "pred.json"
    pred.write_text("[]")
    args = argparse.Namespace(pred=pred, gt=tmp_path / "nowhere", out=None, plot=None, n_plots=0, name=None)
    assert cli.run(args) == 2
    assert "neither a cached split" in capsys.readouterr().err


class _RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path, capsys):
    _write_folder(tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / "gt_traj_mask.pkl").write_bytes(pickle.dumps({"tok0": _RunsAShellCommand(marker)}))
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([]))
    args = argparse.Namespace(pred=pred, gt=tmp_path, out=tmp_path / "out.json", plot=None, n_plots=0, name=None)
    assert cli.run(args) != 0
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "gt_traj_mask.pkl: not a pickle of numpy arrays: refused to load posix.system" in err
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("out_name", ["pred.json", "gt_traj.pkl", "notes.txt"])
def test_out_never_overwrites_an_input_or_a_file_eval_did_not_write(tmp_path, capsys, out_name):
    gt_dir = tmp_path / "gt"
    gt_dir.mkdir()
    token = _write_folder(gt_dir)
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{"id": token, "predict": _text([(0.0, 1.0)] * 6)}]))
    out = {"pred.json": pred, "gt_traj.pkl": gt_dir / "gt_traj.pkl", "notes.txt": tmp_path / "notes.txt"}[out_name]
    if out_name == "notes.txt":
        out.write_text("my notes")
    before = out.read_bytes()
    args = argparse.Namespace(pred=pred, gt=gt_dir, out=out, plot=None, n_plots=0, name=None)
    assert cli.run(args) == 2
    assert out.read_bytes() == before
    assert "evodrive eval: --out" in capsys.readouterr().err
    # an earlier report of eval itself is replaced
    report = tmp_path / "report.json"
    assert cli.run(argparse.Namespace(pred=pred, gt=gt_dir, out=report, plot=None, n_plots=0, name=None)) == 0
    assert cli.run(argparse.Namespace(pred=pred, gt=gt_dir, out=report, plot=None, n_plots=0, name=None)) == 0


@pytest.mark.parametrize("file, value, message", [
    ("gt_traj", np.zeros((1, 6, 3)), "gt_traj.pkl: sample tok0: expected shape (1, 6 or 7, 2), got (1, 6, 3)"),
    ("gt_traj", np.full((1, 6, 2), np.nan), "gt_traj.pkl: non-finite values, e.g. sample tok0"),
    ("stp3_gt_seg", np.zeros((1, 6, 100, 100), dtype=np.uint8), "stp3_gt_seg.pkl: sample tok0: expected shape (1, 6 or 7, 200, 200)"),
])
def test_malformed_ground_truth_is_one_line_naming_file_and_sample(tmp_path, capsys, file, value, message):
    _write_folder(tmp_path)
    (tmp_path / f"{file}.pkl").write_bytes(pickle.dumps({"tok0": value}))
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{"id": "tok0", "predict": _text([(0.0, 1.0)] * 6)}]))
    args = argparse.Namespace(pred=pred, gt=tmp_path, out=tmp_path / "out.json", plot=None, n_plots=0, name=None)
    assert cli.run(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_truncated_pickle_is_one_line(tmp_path, capsys):
    _write_folder(tmp_path)
    data = (tmp_path / "gt_traj.pkl").read_bytes()
    (tmp_path / "gt_traj.pkl").write_bytes(data[: len(data) // 2])
    pred = tmp_path / "pred.json"
    pred.write_text("[]")
    assert cli.run(argparse.Namespace(pred=pred, gt=tmp_path, out=None, plot=None, n_plots=0, name=None)) == 2
    assert "gt_traj.pkl: not a pickle of numpy arrays" in capsys.readouterr().err
