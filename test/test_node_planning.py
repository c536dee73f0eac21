"""The planner node over real DDS with the model-free kinematic backend: nominal input and faults.

Each scenario runs the node and an input driver as separate processes on a private ROS domain.
Faults must leave the node running, show up in /diagnostics, and never produce an invalid path.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("ros_input_driver.py")


def run_scenario(env: dict[str, str], scenario: str, seconds: float = 3.0, *params: str) -> dict:
    """Drive the node through one scenario; the node must survive it and stop cleanly on SIGTERM."""
    args = ["-p", "backend:=kinematic", *[x for p in params for x in ("-p", p)]]
    planner = subprocess.Popen(
        [sys.executable, "-m", "evodrive_ros.ros.node", "--ros-args", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        driver = subprocess.run(
            [sys.executable, str(DRIVER), scenario, str(seconds)], env=env, capture_output=True, text=True, timeout=90
        )
        assert driver.returncode == 0, driver.stderr
        assert planner.poll() is None, "planner died: " + planner.stderr.read()
    finally:
        planner.send_signal(signal.SIGTERM)
        _, err = planner.communicate(timeout=20)
    assert planner.returncode == 0, err
    return json.loads(driver.stdout.strip().splitlines()[-1])


def assert_all_paths_valid(result: dict) -> None:
    for path in result["paths"]:
        assert len(path["xy"]) == 6
        assert all(math.isfinite(v) for xy in path["xy"] for v in xy)


def test_nominal_input_gives_paths_stamped_with_camera_time_in_odom(ros_env: dict[str, str]) -> None:
    result = run_scenario(ros_env, "nominal", 3.0)
    paths = result["paths"]
    assert len(paths) >= 10, result["diagnostics"]
    assert {p["frame"] for p in paths} == {"odom"}
    assert all(p["stamp_ns"] in set(result["camera_stamps"]) for p in paths)
    assert len({p["stamp_ns"] for p in paths}) == len(paths), "a plan was re-stamped"
    assert_all_paths_valid(result)
    first = paths[-1]["xy"]  # driving straight at 5 m/s along x
    assert first[5][0] - first[0][0] == pytest.approx(12.5, abs=1.0)
    assert int(result["diagnostics"]["published"]) >= len(paths) - 1


def test_a_speed_limit_slows_the_published_plan_along_its_path(ros_env: dict[str, str]) -> None:
    result = run_scenario(ros_env, "nominal", 3.0, "max_speed_mps:=3.0")  # the car drives 5 m/s, the plan too
    assert len(result["paths"]) >= 10, result["diagnostics"]
    assert_all_paths_valid(result)
    for path in result["paths"]:
        xy = [complex(*p) for p in path["xy"]]
        assert max(abs(b - a) for a, b in zip(xy, xy[1:])) <= 1.5 + 1e-6  # 3 m/s x 0.5 s
        assert abs(xy[5] - xy[0]) == pytest.approx(7.5, abs=0.2)  # at the limit (5 steps), not slower; straight on


@pytest.mark.parametrize(
    "scenario, reason, params",
    [
        ("corrupt_jpeg", "skipped/corrupt_image", ()),
        ("missing_camera", "skipped/missing_camera", ()),
        ("stale_odometry", "skipped/stale_odometry", ()),
        ("nan_odometry", "skipped/invalid_odometry", ()),
        ("wrong_encoding", "skipped/unsupported_encoding", (
            "compressed_images:=false",
            "camera_topics:=[/cameras/cam_front/image/raw,/cameras/cam_front_left/image/raw,"
            "/cameras/cam_front_right/image/raw,/cameras/cam_back/image/raw,/cameras/cam_back_left/image/raw,"
            "/cameras/cam_back_right/image/raw]",
        )),
        ("clock_jump", "skipped/clock_jump", ("use_sim_time:=true",)),
    ],
)
def test_faults_are_diagnosed_and_nothing_invalid_is_published(
    ros_env: dict[str, str], scenario: str, reason: str, params: tuple[str, ...]
) -> None:
    result = run_scenario(ros_env, scenario, 3.0, *params)
    assert int(result["diagnostics"].get(reason, 0)) > 0, result["diagnostics"]
    assert_all_paths_valid(result)
    if scenario in ("corrupt_jpeg", "missing_camera", "nan_odometry", "wrong_encoding"):
        assert result["paths"] == []
