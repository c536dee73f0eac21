"""Test driver (separate process): publishes planner inputs for a scenario and reports what came back.

Usage: python ros_input_driver.py SCENARIO SECONDS  -> prints one JSON line.
Scenarios inject one fault each into otherwise nominal input (6 cameras at 12 Hz, odometry at 50 Hz).
"""

from __future__ import annotations

import json
import math
import sys
import time

import cv2
import numpy as np
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry, Path
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image

from evodrive_ros.core.conventions import CAMERAS

SPEED = 5.0


def to_msg(t: float) -> TimeMsg:
    return TimeMsg(sec=int(t), nanosec=int(round((t - int(t)) * 1e9)) % 1_000_000_000)


def main() -> None:
    scenario, seconds = sys.argv[1], float(sys.argv[2])
    rclpy.init()
    node = rclpy.create_node("input_driver")
    raw = scenario == "wrong_encoding"
    cams = {
        c: node.create_publisher(
            Image if raw else CompressedImage, f"/cameras/{c.lower()}/image/{'raw' if raw else 'compressed'}", qos_profile_sensor_data
        )
        for c in CAMERAS
    }
    odom_pub = node.create_publisher(Odometry, "/odom", qos_profile_sensor_data)
    clock_pub = node.create_publisher(Clock, "/clock", 10)
    paths: list[dict] = []
    diagnostics: dict[str, str] = {}
    camera_stamps: set[int] = set()

    def on_path(msg: Path) -> None:
        paths.append({
            "stamp_ns": msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec,
            "frame": msg.header.frame_id,
            "xy": [[p.pose.position.x, p.pose.position.y] for p in msg.poses],
        })

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith("evodrive_planner"):
                diagnostics.clear()
                diagnostics.update({kv.key: kv.value for kv in status.values})

    node.create_subscription(Path, "/planning/path", on_path, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    gradient = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (36, 1))
    image = np.dstack([gradient, gradient[:, ::-1], np.full_like(gradient, 90)])
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()

    deadline = time.monotonic() + 20  # wait for the planner to subscribe
    while time.monotonic() < deadline and odom_pub.get_subscription_count() == 0:
        rclpy.spin_once(node, timeout_sec=0.1)
    start = time.time()
    sim_offset = 0.0
    next_cam = next_odom = 0.0
    while time.time() - start < seconds:
        elapsed = time.time() - start
        if scenario == "clock_jump" and elapsed > seconds / 2 and sim_offset == 0.0:
            sim_offset = -100.0  # simulator reset: time goes back 100 s
        now = time.time() + sim_offset
        if scenario == "clock_jump":
            clock_pub.publish(Clock(clock=to_msg(now)))
        if elapsed >= next_odom:
            next_odom += 0.02
            if not (scenario == "stale_odometry" and elapsed > 0.5):
                odom = Odometry()
                odom.header.stamp, odom.header.frame_id, odom.child_frame_id = to_msg(now), "odom", "base_link"
                odom.pose.pose.position.x = SPEED * elapsed
                odom.pose.pose.orientation.w = 1.0
                odom.twist.twist.linear.x = float("nan") if scenario == "nan_odometry" else SPEED
                odom_pub.publish(odom)
        if elapsed >= next_cam:
            next_cam += 1 / 12
            stamp = to_msg(now)
            camera_stamps.add(stamp.sec * 10**9 + stamp.nanosec)
            for c, pub in cams.items():
                if scenario == "missing_camera" and c == "CAM_BACK_LEFT":
                    continue
                if raw:
                    msg = Image(height=36, width=64, encoding="16UC1", step=128, data=bytes(36 * 128))
                else:
                    data = b"\xff\xd8 not a jpeg" if scenario == "corrupt_jpeg" and c == "CAM_BACK" else jpeg
                    msg = CompressedImage(format="jpeg", data=data)
                msg.header.stamp, msg.header.frame_id = stamp, c.lower()
                pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.002)
    end = time.monotonic() + 2.5  # collect the last diagnostics
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(json.dumps({"paths": paths, "diagnostics": diagnostics, "camera_stamps": sorted(camera_stamps)}))
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
