"""The package as a ROS user runs it: built with colcon, started by ``ros2 launch`` and ``ros2 run``
from a sourced workspace, inspected from a separate rclpy process, fed a rosbag, stopped with SIGINT.

Where no ROS 2 install provides launch_ros, ``make ros2-launch`` installs the launch wheels into the
venv; the tests skip (with the reason) only where neither is possible.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, VENV_BIN
from evodrive_ros.core.conventions import CAMERAS

PROBE = Path(__file__).with_name("ros_graph_probe.py")
BAG_CAMERA_TOPICS = [f"/cameras/{c.lower()}/image/compressed" for c in CAMERAS]
CARLA_CAMERA_TOPICS = [f"/carla/ego_vehicle/rgb_{c.lower().removeprefix('cam_')}/image" for c in CAMERAS]
PARAMS = "backend,use_sim_time,compressed_images,planning_rate_hz,output_frame,autostart,model_dir"


def _launch_ros_available() -> str | None:
    """None when launch_ros imports (installing the wheels if needed), else why it cannot."""
    check = [sys.executable, "-c", "import launch_ros"]
    if subprocess.run(check, capture_output=True).returncode == 0:
        return None
    install = subprocess.run(["make", "-s", "ros2-launch", f"BIN={VENV_BIN}"], cwd=REPO, capture_output=True, text=True)
    if install.returncode != 0:
        return f"no ROS 2 launch system: `make ros2-launch` failed: {install.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A colcon workspace with the package built and installed, as a robot's would be."""
    root = tmp_path_factory.mktemp("ros_ws")
    build = subprocess.run(
        [str(VENV_BIN / "colcon"), "build", "--paths", str(REPO)], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return root


@pytest.fixture(scope="module")
def launch_ros(workspace: Path) -> None:
    reason = _launch_ros_available()
    if reason:
        pytest.skip(reason)


def test_colcon_build_installs_launch_config_and_executables(workspace: Path) -> None:
    prefix = workspace / "install" / "evodrive"
    env = dict(os.environ, AMENT_PREFIX_PATH=f"{prefix}{os.pathsep}{Path(sys.prefix)}")
    code = "from ament_index_python.packages import get_package_share_directory as share\nprint(share('evodrive'))\n"
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    share = Path(found.stdout.strip())
    assert share == prefix / "share" / "evodrive"
    for rel in ("launch/planner.launch.py", "config/planner.yaml", "config/planner_carla.yaml", "package.xml"):
        assert (share / rel).is_file(), rel
    assert os.access(prefix / "lib" / "evodrive" / "evodrive_planner", os.X_OK)  # where `ros2 run` looks


def _ros2(workspace: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    """``ros2 ARGS`` from a sourced workspace, in its own session (SIGINT reaches the whole group)."""
    script = (f"source {shlex.quote(str(workspace / 'install' / 'setup.bash'))} && "
              f"export AMENT_PREFIX_PATH=\"$AMENT_PREFIX_PATH:{sys.prefix}\" && exec ros2 {shlex.join(args)}")
    env = dict(env, PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}", PYTHONUNBUFFERED="1")
    return subprocess.Popen(["bash", "-c", script], cwd=workspace, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _probe(env: dict[str, str], *transitions: str) -> dict:
    run = subprocess.run([sys.executable, str(PROBE), PARAMS, *transitions], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def _replay(env: dict[str, str], bag: Path, out: Path, mode: str) -> dict:
    """Play ``bag`` into the running node (replay starts no node of its own without --model)."""
    run = subprocess.run([sys.executable, "-m", "evodrive_ros.cli", "replay", str(bag), "--mode", mode, "--out", str(out)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads((out / "summary.json").read_text())


def _stop(process: subprocess.Popen) -> str:
    """SIGINT to the process group, as Ctrl-C in a terminal; the output, after a clean exit."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"no exit within 30 s of SIGINT:\n{output}")
    assert process.returncode == 0, output
    return output


def _subscriptions(seen: dict) -> dict[str, list[str]]:
    """The node's own subscriptions (rclpy's /parameter_events and, with sim time, /clock aside)."""
    return {topic: types for topic, types in seen["subscriptions"].items() if topic not in ("/parameter_events", "/clock")}


def _expected(camera_topics: list[str], image_type: str) -> dict[str, list[str]]:
    return {**{t: [image_type] for t in camera_topics}, "/odom": ["nav_msgs/msg/Odometry"], "/planning/command": ["std_msgs/msg/String"]}


@pytest.mark.usefixtures("launch_ros")
def test_launch_nuscenes_preset_plans_a_bag_and_stops_on_sigint(workspace: Path, ros_env: dict[str, str], drive_bag: Path,
                                                                 tmp_path: Path) -> None:
    launch = _ros2(workspace, ros_env, "launch", "evodrive", "planner.launch.py", "backend:=kinematic")
    try:
        seen = _probe(ros_env)
        assert seen["params"] == {"backend": "kinematic", "use_sim_time": False, "compressed_images": True,
                                  "planning_rate_hz": 10.0, "output_frame": "odom", "autostart": True, "model_dir": ""}
        assert seen["state"] == "active"
        assert _subscriptions(seen) == _expected(BAG_CAMERA_TOPICS, "sensor_msgs/msg/CompressedImage")
        summary = _replay(ros_env, drive_bag, tmp_path / "replay", "realtime")
        assert summary["paths"] >= 20 and summary["invalid_paths"] == 0
    finally:
        output = _stop(launch)
    assert "process has finished cleanly" in output


@pytest.mark.usefixtures("launch_ros")
def test_launch_carla_preset_with_params_file_sim_time_and_remaps(workspace: Path, ros_env: dict[str, str], drive_bag: Path,
                                                                  tmp_path: Path) -> None:
    """The carla overlay, then the user's file (which the launch defaults must not override), then
    the given arguments; remaps point the bridge topics at the bag's."""
    params_file = tmp_path / "vehicle.yaml"
    params_file.write_text("evodrive_planner:\n  ros__parameters:\n    backend: kinematic\n    compressed_images: true\n"
                           "    planning_rate_hz: 50.0\n    output_frame: odom\n    use_sim_time: false\n")
    remaps = ",".join([f"{a}:={b}" for a, b in zip(CARLA_CAMERA_TOPICS, BAG_CAMERA_TOPICS)] + ["/carla/ego_vehicle/odometry:=/odom"])
    launch = _ros2(workspace, ros_env, "launch", "evodrive", "planner.launch.py", "preset:=carla",
                   f"params_file:={params_file}", "use_sim_time:=true", f"camera_remaps:={remaps}")
    try:
        seen = _probe(ros_env)
        assert seen["params"] == {"backend": "kinematic", "use_sim_time": True, "compressed_images": True,
                                  "planning_rate_hz": 50.0, "output_frame": "odom", "autostart": True, "model_dir": ""}
        assert _subscriptions(seen) == _expected(BAG_CAMERA_TOPICS, "sensor_msgs/msg/CompressedImage")
        assert "/clock" in seen["subscriptions"]
        summary = _replay(ros_env, drive_bag, tmp_path / "replay", "lockstep")
        assert summary["paths"] >= 40 and summary["invalid_paths"] == 0
    finally:
        _stop(launch)


@pytest.mark.usefixtures("launch_ros")
def test_ros2_run_plans_a_bag_and_answers_lifecycle_services(workspace: Path, ros_env: dict[str, str], drive_bag: Path,
                                                             tmp_path: Path) -> None:
    run = _ros2(workspace, ros_env, "run", "evodrive", "evodrive_planner", "--ros-args", "-p", "backend:=kinematic")
    try:
        summary = _replay(ros_env, drive_bag, tmp_path / "replay", "realtime")
        assert summary["paths"] >= 20 and summary["invalid_paths"] == 0
        seen = _probe(ros_env, "deactivate", "cleanup", "configure", "activate")
        assert seen["state"] == "active"
        assert [(t["success"], t["state"]) for t in seen["transitions"]] == [
            (True, "inactive"), (True, "unconfigured"), (True, "inactive"), (True, "active")]
        assert _subscriptions(_probe(ros_env)) == _expected(BAG_CAMERA_TOPICS, "sensor_msgs/msg/CompressedImage")
    finally:
        _stop(run)


@pytest.mark.usefixtures("launch_ros")
@pytest.mark.parametrize("autostart, state", [("", "active"), ("false", "unconfigured")])
def test_managed_launch_drives_the_lifecycle(workspace: Path, ros_env: dict[str, str], autostart: str, state: str) -> None:
    """managed:=true: launch configures and activates the node (autostart:=false leaves that to a
    lifecycle manager); deactivate releases the subscriptions, and a deactivation is not undone."""
    args = ["managed:=true", "backend:=kinematic"] + ([f"autostart:={autostart}"] if autostart else [])
    launch = _ros2(workspace, ros_env, "launch", "evodrive", "planner.launch.py", *args)
    try:
        deadline = time.monotonic() + 30
        seen = _probe(ros_env)
        while seen["state"] != state and time.monotonic() < deadline:  # launch's transitions are asynchronous
            time.sleep(0.5)
            seen = _probe(ros_env)
        assert seen["state"] == state
        if state == "active":
            assert _subscriptions(seen)
            seen = _probe(ros_env, "deactivate")
            assert seen["transitions"] == [{"transition": "deactivate", "success": True, "state": "inactive"}]
            time.sleep(2.0)
            seen = _probe(ros_env)
            assert seen["state"] == "inactive"
            assert _subscriptions(seen) == {}
    finally:
        _stop(launch)


@pytest.mark.usefixtures("launch_ros")
@pytest.mark.parametrize("args, message", [
    (["preset:=bogus"], "preset:=bogus: expected one of nuscenes | carla"),
    (["model_dir:=/nonexistent/model"], "model_dir:=/nonexistent/model: no such directory"),
    (["backend:=cuda"], "backend:=cuda: expected one of auto | onnxruntime"),
])
def test_bad_launch_arguments_fail_with_one_line(workspace: Path, ros_env: dict[str, str], args: list[str], message: str) -> None:
    launch = _ros2(workspace, ros_env, "launch", "evodrive", "planner.launch.py", *args)
    output, _ = launch.communicate(timeout=60)
    assert launch.returncode != 0
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and message in errors[0], output


@pytest.mark.usefixtures("launch_ros")
def test_ros2_run_with_a_model_folder_that_does_not_load_exits_with_one_line(workspace: Path, ros_env: dict[str, str],
                                                                             tmp_path: Path) -> None:
    run = _ros2(workspace, ros_env, "run", "evodrive", "evodrive_planner", "--ros-args", "-p", f"model_dir:={tmp_path}")
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 2, output
    assert "Traceback" not in output
    assert "evodrive_planner: configure failed:" in output and str(tmp_path) in output


@pytest.mark.usefixtures("launch_ros")
def test_camera_names_that_do_not_match_the_model_are_refused_at_start(workspace: Path, ros_env: dict[str, str]) -> None:
    cameras = "[CAM_FRONT,CAM_FRONT_RIGHT,CAM_FRONT_LEFT,CAM_BACK,CAM_BACK_LEFT,CAM_BACK_RIGHT]"  # two swapped
    run = _ros2(workspace, ros_env, "run", "evodrive", "evodrive_planner", "--ros-args",
                "-p", f"model_dir:={REPO / 'models' / 'evodrive-tiny'}", "-p", f"camera_names:={cameras}")
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 2, output
    assert "do not match the model's cameras" in output and "Traceback" not in output
