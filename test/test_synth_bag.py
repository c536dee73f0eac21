"""A one-scene rosbag2 from ``evodrive synth --bag``: topics, types, rates; rosbags and mcap decode it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags")
from rosbags.rosbag2 import Reader  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from evodrive_ros.core.conventions import CAMERAS  # noqa: E402
from evodrive_training.synth import cli  # noqa: E402

DURATION_S = 3.5  # 7 keyframes: 0 ... 3.0 s


@pytest.fixture(scope="module")
def bag_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("synth_bag")
    (tmp / "synth.yaml").write_text(f"camera: {{width: 160, height: 90}}\nscene: {{duration_s: {DURATION_S}}}\n")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp / "data"), "--scenes", "1", "--seed", "1", "--bag", "--config", str(tmp / "synth.yaml")])
    assert cli.run(args) == 0
    return tmp / "data" / "bags" / "scene-0001"


def _expected_topics() -> dict[str, str]:
    topics = {"/odom": "nav_msgs/msg/Odometry", "/tf_static": "tf2_msgs/msg/TFMessage",
              "/planning/command": "std_msgs/msg/String"}
    for cam in CAMERAS:
        topics[f"/cameras/{cam.lower()}/image/compressed"] = "sensor_msgs/msg/CompressedImage"
        topics[f"/cameras/{cam.lower()}/camera_info"] = "sensor_msgs/msg/CameraInfo"
    return topics


def test_rosbags_reads_topics_types_and_rates(bag_dir):
    typestore = get_typestore(Stores.ROS2_KILTED)
    stamps: dict[str, list[int]] = {}
    with Reader(bag_dir) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == _expected_topics()
        for connection, timestamp, raw in reader.messages():
            msg = typestore.deserialize_cdr(raw, connection.msgtype)
            stamp = getattr(msg, "header", None)
            if stamp is not None:
                assert stamp.stamp.sec * 1_000_000_000 + stamp.stamp.nanosec == timestamp
            if connection.msgtype == "sensor_msgs/msg/CompressedImage":
                assert msg.format == "jpeg" and bytes(msg.data[:2]) == b"\xff\xd8"
                assert msg.header.frame_id == connection.topic.split("/")[2]
            if connection.topic == "/odom":
                assert (msg.header.frame_id, msg.child_frame_id) == ("odom", "base_link")
            if connection.topic == "/planning/command":
                assert msg.data in ("LEFT", "RIGHT", "FORWARD")
            if connection.topic == "/tf_static":
                assert sorted(t.child_frame_id for t in msg.transforms) == sorted(c.lower() for c in CAMERAS)
            stamps.setdefault(connection.topic, []).append(timestamp)
        offered = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
    assert offered["/tf_static"], "tf_static should offer a latched QoS"
    end = DURATION_S - 0.5
    for topic, hz in {"/odom": 50, "/planning/command": 2, "/cameras/cam_front/image/compressed": 12,
                      "/cameras/cam_back_right/camera_info": 12}.items():
        times = np.array(stamps[topic]) / 1e9
        assert len(times) == int(round(end * hz)) + 1, topic
        assert np.allclose(np.diff(times), 1.0 / hz, atol=1e-6), topic
    assert len(stamps["/tf_static"]) == 1


def test_mcap_ros2_decodes_every_message(bag_dir):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    (path,) = bag_dir.glob("*.mcap")
    counts: dict[str, int] = {}
    with path.open("rb") as f:
        for _, channel, _, decoded in make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            if channel.topic == "/odom":
                assert np.isfinite(decoded.twist.twist.linear.x) and decoded.twist.twist.linear.x >= 0
    assert set(counts) == set(_expected_topics())
    assert counts["/cameras/cam_front/image/compressed"] == int(round((DURATION_S - 0.5) * 12)) + 1
