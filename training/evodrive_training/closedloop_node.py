"""``evodrive closedloop --through-node``: the real ``evodrive_planner`` node, in its own process,
drives the synthetic world over DDS.

The loop publishes what a vehicle's drivers would — ``nav_msgs/Odometry`` at the world rate, six
``sensor_msgs/CompressedImage`` (JPEG) frames and the route command at the planning rate, on the
topics of ``config/planner.yaml`` — and drives with the ``nav_msgs/Path`` the node publishes (odom
frame = the world frame here). Two clocks:

* ``lockstep``: the node runs on ``/clock`` (``use_sim_time``); after each frame set the loop
  advances ``/clock`` in 5 ms steps until the node's plan for that frame set arrives, so every cycle
  is planned however slow the machine — inference time is not on the world's clock.
* ``realtime`` (default): the world is paced to the wall clock and waits for nothing; a plan is used
  from the first control period after it arrives, so the node's whole latency (DDS, decoding,
  inference) acts on the car as it would on a vehicle.

Stamps are offset per scenario (``SCENARIO_SPACING_S``) so the node's clock never runs backwards
between scenarios.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from evodrive_ros.core.conventions import CAMERAS
from evodrive_ros.core.model_manifest import read_manifest
from evodrive_ros.core.preprocessing import ImageSpec
from evodrive_ros.ros.planner_params import default_params_file, load_params_file
from evodrive_ros.tools.planner_process import LATENCY_TOPIC, isolate_dds, start_planner, stop_planner

SCENARIO_SPACING_S = 1000.0
START_S = 100.0
PLAN_WAIT_S = 10.0  # lockstep: wall seconds to wait for one plan before counting the cycle as skipped
READY_WAIT_S = 60.0  # the node loads its model before it subscribes
# Lockstep: topics are not ordered with each other; the frames of an instant are published this long
# after its odometry and route command so the node has them (a command queued behind the frames
# planned the first cycle with the default one), as on a vehicle where odometry (50 Hz) runs ahead.
ODOMETRY_SETTLE_S = 0.01
# Lockstep: the world runs faster than real time, and the node keeps only the last few odometry
# messages (best effort, depth 50): each sample waits this long so a busy node takes them all.
LOCKSTEP_ODOMETRY_PACE_S = 0.004
LOCKSTEP_CLOCK_LEAD_S = 0.09  # how far /clock may run ahead of a frame set while its plan is awaited (< the 0.1 s period)


def ros_time(t_s: float):
    """Seconds -> ``builtin_interfaces/Time``, rounded once to the nanosecond (104.99999999999998 s
    is 105 s, not 104 s + 1e9 ns wrapped to 104 s)."""
    from builtin_interfaces.msg import Time

    ns = int(round(t_s * 1e9))
    return Time(sec=ns // 10**9, nanosec=ns % 10**9)


class NodeLink:
    """The node process and this process's DDS endpoints to it."""

    def __init__(self, model_dir: Path, backend: str, log: Path, lockstep: bool, max_speed_mps: float = 0.0):
        import rclpy
        from nav_msgs.msg import Odometry, Path as PathMsg
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from rclpy.signals import SignalHandlerOptions
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import CompressedImage
        from std_msgs.msg import Float64, String

        self.model_id = f"node:{Path(model_dir).name}"
        self.image_spec: ImageSpec = read_manifest(model_dir).image
        self.lockstep = lockstep
        params = load_params_file(default_params_file())
        topics = dict(zip(params["camera_names"], params["camera_topics"]))
        isolate_dds()
        self.process = start_planner(model_dir, backend, 50.0 if lockstep else params["planning_rate_hz"], lockstep, log, max_speed_mps)
        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("evodrive_closedloop")
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.cameras = {name: self.node.create_publisher(CompressedImage, topics[name], qos_profile_sensor_data) for name in CAMERAS}
        self.odom = self.node.create_publisher(Odometry, params["odom_topic"], qos_profile_sensor_data)
        self.command = self.node.create_publisher(String, params["command_topic"], reliable)
        self.clock = self.node.create_publisher(Clock, "/clock", 10)
        self.paths: list[tuple[float, np.ndarray]] = []  # (stamp s, (6, 2) odom-frame waypoints), as received
        self.latency_ms: list[float] = []  # the node's own end-to-end latency (frame stamp -> Path published), per plan
        self._lock = threading.Lock()
        self.node.create_subscription(PathMsg, params["path_topic"], self._on_path, QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        self.node.create_subscription(Float64, LATENCY_TOPIC, lambda msg: self.latency_ms.append(msg.data),
                                      QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self.node)
        self._spinner = threading.Thread(target=self._executor.spin, name="evodrive_closedloop_paths", daemon=True)
        self._spinner.start()
        self._odometry_type, self._image_type, self._string_type, self._clock_type = Odometry, CompressedImage, String, Clock
        self._clock_s = 0.0
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Every publisher has matched the node's subscription (a route command sent before its
        publisher matched was lost, and the first cycle was planned with the default command)."""
        deadline = time.monotonic() + READY_WAIT_S
        publishers = [self.odom, self.command, *self.cameras.values(), *([self.clock] if self.lockstep else [])]
        while any(p.get_subscription_count() == 0 for p in publishers):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("evodrive closedloop: the planner node did not come up (see its log)")
            time.sleep(0.1)
        time.sleep(0.5)  # the remaining subscriptions match

    def _on_path(self, msg) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self._lock:
            self.paths.append((stamp, np.array([[p.pose.position.x, p.pose.position.y] for p in msg.poses])))

    def tick(self, t_s: float) -> None:
        """Lockstep: ``/clock`` to ``t_s`` (never backwards)."""
        if self.lockstep and t_s > self._clock_s:
            self._clock_s = t_s
            self.clock.publish(self._clock_type(clock=ros_time(t_s)))

    def publish_odometry(self, t_s: float, x: float, y: float, yaw: float, speed: float, yaw_rate: float) -> None:
        msg = self._odometry_type()
        msg.header.stamp, msg.header.frame_id, msg.child_frame_id = ros_time(t_s), "odom", "base_link"
        msg.pose.pose.position.x, msg.pose.pose.position.y = float(x), float(y)
        msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = float(np.sin(yaw / 2)), float(np.cos(yaw / 2))
        msg.twist.twist.linear.x, msg.twist.twist.angular.z = float(speed), float(yaw_rate)
        self.odom.publish(msg)

    def publish_command(self, command: str) -> None:
        self.command.publish(self._string_type(data=command))

    def publish_frames(self, t_s: float, jpegs: list[bytes]) -> None:
        for name, data in zip(CAMERAS, jpegs):
            msg = self._image_type()
            msg.header.stamp, msg.header.frame_id, msg.format = ros_time(t_s), name, "jpeg"
            msg.data = data
            self.cameras[name].publish(msg)

    def plan_for(self, t_s: float) -> np.ndarray | None:
        """Lockstep: advance ``/clock`` until the plan of the frame set stamped ``t_s`` arrives (None: it did not).

        The clock moves at most as fast as the wall clock (5 ms per 5 ms) and stops short of the next
        frame set: the node's planning timer runs on ``/clock`` and its stall check and rate limit on
        the wall clock, so a set its event path refused is planned by a later timer tick."""
        deadline, clock = time.monotonic() + PLAN_WAIT_S, t_s
        while time.monotonic() < deadline:
            found = self.plan_since(t_s - 1e-6)
            if found is not None and abs(found[0] - t_s) < 1e-6:
                return found[1]
            if clock < t_s + LOCKSTEP_CLOCK_LEAD_S:
                clock += 0.005
                self.tick(clock)
            time.sleep(0.005)
        return None

    def plan_since(self, after_s: float) -> tuple[float, np.ndarray] | None:
        """The newest plan stamped after ``after_s``."""
        with self._lock:
            newest = max(self.paths, key=lambda p: p[0], default=None)
        return newest if newest is not None and newest[0] > after_s else None

    def latency_summary(self) -> dict[str, float]:
        values = np.asarray(self.latency_ms)
        if not values.size:
            return {"n": 0}
        return {"n": int(values.size), "p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99)), "max": float(values.max())}

    def close(self) -> int:
        import rclpy

        self._executor.shutdown()
        self._spinner.join(timeout=5.0)
        self.node.destroy_node()
        rclpy.try_shutdown()
        return stop_planner(self.process)

