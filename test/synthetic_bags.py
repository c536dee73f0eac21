"""A short synthetic drive as a real rosbag2 (MCAP), for tests that feed the node a recording."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

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
