"""Nothing lost: outputs never overwrite inputs or folders a command did not write; partial
outputs never survive (not even a killed run's); ``--overwrite`` replaces only a previous output."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evodrive_ros.core.safe_output import MARKER, OutputRefused, atomic_write, atomic_writer, output_dir


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_folder_the_tool_did_not_write_is_never_replaced(tmp_path: Path) -> None:
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "a.jpg").write_bytes(b"precious")
    with pytest.raises(OutputRefused, match="was not written by evodrive synth"):
        with output_dir(mine, "evodrive synth", overwrite=True):
            pytest.fail("must not start")
    assert (mine / "a.jpg").read_bytes() == b"precious"


@pytest.mark.parametrize("layout", ["out_inside_input", "input_inside_out", "same"])
def test_inputs_are_never_inside_or_around_the_output(tmp_path: Path, layout: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "scene.bin").write_bytes(b"input")
    out = {"out_inside_input": data / "out", "input_inside_out": tmp_path, "same": data}[layout]
    with pytest.raises(OutputRefused, match="overlaps the input"):
        with output_dir(out, "evodrive export", [data], overwrite=True):
            pytest.fail("must not start")
    assert (data / "scene.bin").read_bytes() == b"input"


def test_overwrite_replaces_a_previous_output_and_a_failure_keeps_it(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with output_dir(out, "evodrive export") as partial:
        (partial / "v").write_text("1")
    with pytest.raises(OutputRefused, match="pass --overwrite"):
        with output_dir(out, "evodrive export"):
            pass
    with pytest.raises(RuntimeError):
        with output_dir(out, "evodrive export", overwrite=True) as partial:
            (partial / "v").write_text("2")
            raise RuntimeError("export failed half way")
    assert (out / "v").read_text() == "1"
    with output_dir(out, "evodrive export", overwrite=True) as partial:
        (partial / "v").write_text("3")
    assert (out / "v").read_text() == "3" and json.loads((out / MARKER).read_text()) == {"tool": "evodrive export"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no partial or old folder left


def test_a_killed_runs_partial_folder_is_removed_by_the_next_run_and_others_are_not(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".model.partial-{dead}"
    stale.mkdir()
    (stale / "half.onnx").write_bytes(b"x")
    unrelated = tmp_path / ".model.partial"  # a user's folder that only looks like ours
    unrelated.mkdir()
    with output_dir(tmp_path / "model", "evodrive export"):
        pass
    assert not stale.exists() and unrelated.exists()


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    atomic_write(path, "old")
    with pytest.raises(ValueError):
        with atomic_writer(path) as handle:
            handle.write(b"half")
            raise ValueError("interrupted")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_replay_refuses_to_record_over_the_bag_it_plays(drive_bag: Path, tmp_path: Path) -> None:
    from evodrive_ros.tools import replay

    out = tmp_path / "replay"
    bag = out / "replay_bag"
    bag.parent.mkdir()
    shutil.copytree(drive_bag, bag)
    before = _files(bag)
    args = argparse.Namespace(bag=bag, out=out, overwrite=True, model=None, backend="kinematic", mode="lockstep", rate=1.0,
                              planning_rate=10.0)
    assert replay.run(args) == 2
    assert _files(bag) == before


def test_synth_over_the_current_folder_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    run = subprocess.run([sys.executable, "-m", "evodrive_ros.cli", "synth", "--out", ".", "--scenes", "1", "--overwrite"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr and "was not written by evodrive synth" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_metrics_json_never_holds_nan(tmp_path: Path) -> None:
    from evodrive_ros.core.safe_output import write_json

    path = tmp_path / "metrics.json"
    write_json(path, {"L2": [0.5, float("nan")], "rate": float("inf"), "n": 3})

    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    assert json.loads(path.read_text(), parse_constant=refuse) == {"L2": [0.5, None], "rate": None, "n": 3}
