"""``evodrive replay``: a recorded drive played through the real node (separate process, real DDS)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


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

    from evodrive_ros.tools.replay import _shift_serialized_stamp, _starts_with_header

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


def test_a_damaged_bag_is_reported_and_fails_unless_partial_is_allowed(ros_env: dict[str, str], drive_bag: Path, tmp_path: Path) -> None:
    import shutil

    bag = tmp_path / "damaged"
    shutil.copytree(drive_bag, bag)
    mcap = next(bag.glob("*.mcap"))
    data = bytearray(mcap.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = bytes(b ^ 0xFF for b in data[middle:middle + 4096])
    mcap.write_bytes(bytes(data))
    out = tmp_path / "replay"
    run = subprocess.run(
        [sys.executable, "-m", "evodrive_ros.cli", "replay", str(bag), "--backend", "kinematic", "--mode", "lockstep", "--out", str(out)],
        env=ros_env, capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "is damaged: read" in run.stderr and "--allow-partial" in run.stderr and "Traceback" not in run.stderr
    messages = json.loads((out / "summary.json").read_text())["messages"]
    assert messages["read"] < messages["indexed"]
