"""``evodrive replay``: a recorded drive played through the real node (separate process, real DDS)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from evodrive_ros.core.conventions import CAMERAS

SPEED = 6.0


def write_straight_drive_bag(path: Path, seconds: float = 4.0) -> None:
    """A drive straight along x at constant speed: six JPEG cameras at 12 Hz, odometry at 50 Hz."""
    from rclpy.serialization import serialize_message
    from nav_msgs.msg import Odometry
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import String

    store = get_typestore(Stores.ROS2_KILTED)
    t0 = 1_700_000_000 * 10**9
    image = np.dstack([np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (36, 1))] * 3)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    messages = []
    for k in range(int(seconds * 50) + 1):
        t = t0 + k * 20_000_000
        odom = Odometry()
        odom.header.stamp.sec, odom.header.stamp.nanosec = divmod(t, 10**9)
        odom.header.frame_id, odom.child_frame_id = "odom", "base_link"
        odom.pose.pose.position.x = SPEED * k * 0.02
        odom.pose.pose.orientation.w = 1.0
        odom.twist.twist.linear.x = SPEED
        messages.append((t, "/odom", "nav_msgs/msg/Odometry", odom))
    for k in range(int(seconds * 12)):
        t = t0 + k * 10**9 // 12
        for cam in CAMERAS:
            msg = CompressedImage(format="jpeg", data=jpeg)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t, 10**9)
            msg.header.frame_id = cam.lower()
            messages.append((t, f"/cameras/{cam.lower()}/image/compressed", "sensor_msgs/msg/CompressedImage", msg))
    messages.append((t0, "/planning/command", "std_msgs/msg/String", String(data="FORWARD")))
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for t, topic, msgtype, msg in sorted(messages, key=lambda m: m[0]):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(conns[topic], t, serialize_message(msg))


@pytest.fixture(scope="module")
def drive_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bags") / "straight"
    write_straight_drive_bag(path)
    return path


@pytest.mark.parametrize("mode", ["lockstep", "realtime"])
def test_replay_plans_every_frame_and_scores_them(ros_env: dict[str, str], drive_bag: Path, tmp_path: Path, mode: str) -> None:
    out = tmp_path / "replay"
    run = subprocess.run(
        [sys.executable, "-m", "evodrive_ros.cli", "replay", str(drive_bag), "--backend", "kinematic", "--mode", mode, "--out", str(out)],
        env=ros_env, capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["invalid_paths"] == 0
    assert summary["path_frames"] == ["odom"]
    if mode == "lockstep":
        assert summary["paths"] >= 46  # 48 camera frame sets; each one planned
    else:
        assert summary["cycles_planned_fraction"] >= 0.7
    # constant-velocity plans of a constant-velocity drive: near-zero error where the bag covers the horizon
    assert summary["l2_at_m"]["1s"] < 0.3
    assert summary["planner_exit_code"] == 0
    assert (out / "replay.png").stat().st_size > 10_000
    assert recorded_topics(summary["outputs"]["mcap"]) >= {"/planning/path", "/odom"}


def recorded_topics(mcap_path: str) -> set[str]:
    """Topics in an MCAP file, read back by the mcap library (fails on a file left unfinished)."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    with open(mcap_path, "rb") as f:
        return {channel.topic for _, channel, _, _ in make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages()}


def test_ctrl_c_ends_the_replay_with_what_was_played_recorded_and_scored(
    ros_env: dict[str, str], drive_bag: Path, tmp_path: Path
) -> None:
    out = tmp_path / "replay"
    # a quarter of the recorded pace: 16 s of playback, interrupted 3 s after it starts
    replay = subprocess.Popen(
        [sys.executable, "-m", "evodrive_ros.cli", "replay", str(drive_bag), "--backend", "kinematic",
         "--mode", "scaled", "--rate", "0.25", "--out", str(out)],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    err = b""
    deadline = time.monotonic() + 90
    while b"replay:" not in err and replay.poll() is None and time.monotonic() < deadline:
        err += replay.stderr.read1(4096)  # the progress bar appears once the node is subscribed
    time.sleep(3.0)
    replay.send_signal(signal.SIGINT)
    stdout, rest = replay.communicate(timeout=60)
    err = (err + rest).decode(errors="replace")
    assert replay.returncode == 130, stdout.decode() + err
    assert "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert 0.0 < summary["duration_s"] < 3.5  # bag time played, of 4 s
    assert summary["paths"] > 0 and summary["invalid_paths"] == 0
    assert summary["planner_exit_code"] == 0
    assert recorded_topics(summary["outputs"]["mcap"]) >= {"/planning/path", "/odom"}


def test_replay_of_a_missing_bag_is_one_clear_error(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "evodrive_ros.cli", "replay", str(tmp_path / "nope")], capture_output=True, text=True)
    assert run.returncode == 2 and "does not exist" in run.stderr


def test_player_shifts_stamps_in_serialised_messages_without_deserialising() -> None:
    from nav_msgs.msg import Odometry
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import String

    from evodrive_ros.replay import _shift_serialized_stamp, _starts_with_header

    odom = Odometry()
    odom.header.stamp.sec, odom.header.stamp.nanosec, odom.header.frame_id = 1_700_000_000, 900_000_000, "odom"
    odom.pose.pose.position.x = 12.5
    offset_ns = 3 * 10**9 + 250_000_000
    data, stamp_ns = _shift_serialized_stamp(serialize_message(odom), offset_ns)
    shifted = deserialize_message(data, Odometry)
    assert (shifted.header.stamp.sec, shifted.header.stamp.nanosec) == (1_700_000_004, 150_000_000)
    assert stamp_ns == 1_700_000_004_150_000_000
    assert shifted.header.frame_id == "odom" and shifted.pose.pose.position.x == 12.5
    assert _starts_with_header(Odometry) and _starts_with_header(CompressedImage)
    assert not _starts_with_header(String)
