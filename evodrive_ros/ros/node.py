"""The ``evodrive_planner`` ROS 2 node: a thin layer over the ROS-free core.

A cycle starts as soon as a complete camera set arrives (on average at most ``planning_rate_hz``, a
token bucket), which keeps the input-to-path latency free of timer phase; the timer at
``planning_rate_hz`` runs a cycle only when the event path has stalled, so missing or stale input is
still diagnosed. Per cycle: pick the freshest
synchronised camera set
(``core.input_sync``), the ego state at its stamp from buffered odometry (``core.ego_state``), and
hand both to a worker thread that decodes the images, runs the planner and validates the plan
(``core.plan_validation``). A valid plan, slowed to ``max_speed_mps`` where it is faster, is
published as a ``nav_msgs/Path`` stamped with the input time; anything else skips the cycle and is
counted by reason on ``/diagnostics`` — never a crash, never a NaN, never an old plan re-stamped.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, PoseStamped
from nav_msgs.msg import Odometry, Path
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from rclpy.time import Time
from rclpy.timer import Timer
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Float64, String
from visualization_msgs.msg import Marker, MarkerArray

from evodrive_ros.core.conventions import COMMANDS, STEP_S
from evodrive_ros.core.ego_state import EgoState, OdometryBuffer, odom_sample
from evodrive_ros.core.input_sync import CameraBuffers, FrameSet, RateLimiter
from evodrive_ros.core.plan_validation import limit_speed, plan_error
from evodrive_ros.core.skip_reasons import Skip, SkipReason
from evodrive_ros.ros.image_conversion import ImageDecodeError, message_to_rgb
from evodrive_ros.ros.planner_params import (
    NODE_NAME,
    PARAMS,
    RESTART_PARAMS,
    SPECS,
    ParameterError,
    check_config,
    check_names,
    check_value,
    default_params_file,
    load_params_file,
    parse_lidar_mount,
)
from evodrive_ros.runtime.interface import Planner, PlannerInput
from evodrive_ros.ros.stop_signals import stop_on_signals

_PARAM_TYPES = {
    str: Parameter.Type.STRING,
    bool: Parameter.Type.BOOL,
    int: Parameter.Type.INTEGER,
    float: Parameter.Type.DOUBLE,
    list: Parameter.Type.STRING_ARRAY,
}
_CLOCK_JUMP_BACK_S = 1.0
# The inference thread gives up the GIL in every model call (~30 per plan) and must win it back from
# the executor thread; at the default 5 ms switch interval that wait alone added ~30 ms per plan.
_GIL_SWITCH_INTERVAL_S = 0.0005
_STOP_POLL_S = 0.1  # longest a stop request waits for the spin loop to notice it
_FATAL_FAILURE_S = 1.0  # every inference failing for this long (in cycles) is a lost backend
# Odometry is best effort like every sensor, but keeps 1 s at 50 Hz: the ego history is read from it,
# and sensor-data QoS's depth 5 (0.1 s) lost samples whenever decoding held the executor that long.
_ODOMETRY_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)


def load_configured_planner(config: dict[str, Any]) -> Planner | None:
    """The planner the parameters ask for; None when no model is configured."""
    if config["backend"] == "kinematic":
        from evodrive_ros.runtime.kinematic import KinematicPlanner

        return KinematicPlanner()
    if not config["model_dir"]:
        return None
    from evodrive_ros.runtime import load_planner

    return load_planner(config["model_dir"], backend=config["backend"], threads=config["inference_threads"],
                        sensor_mount=parse_lidar_mount(config["lidar_mount"]))


def stamp_seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class PlannerStats:
    """Counters and latency windows reported on /diagnostics (shared by executor and worker)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.skipped: Counter[str] = Counter()
        self.published = 0
        # latency windows, in the order they add up: input_delay (anchor stamp -> received),
        # cycle_start (anchor stamp -> worker starts), decode_wait (images still decoding then),
        # inference, end_to_end (anchor stamp -> published)
        self.windows: dict[str, deque[float]] = {
            name: deque(maxlen=200)
            for name in ("input_delay_ms", "cycle_start_ms", "decode_wait_ms", "inference_ms", "end_to_end_ms")
        }
        self.messages: Counter[str] = Counter()
        self.last_message_s: dict[str, float] = {}

    def skip(self, reason: SkipReason) -> None:
        with self.lock:
            self.skipped[reason.value] += 1


@dataclass(frozen=True)
class ReceivedImage:
    """A camera message and its decoding (at the model's input size), started when it arrived."""

    msg: Image | CompressedImage
    rgb: Future[np.ndarray] | None  # None when no model is loaded (no cycle will use it)


class PlannerNode(LifecycleNode):
    """A managed node: ``configure`` loads and verifies the model, ``activate`` subscribes and
    publishes, ``deactivate`` / ``cleanup`` release them again, and a fatal fault (the backend
    failing every cycle for a second) ends in the error transition, reported on /diagnostics until
    a later ``configure`` succeeds. With ``autostart`` (the default) it drives itself to active,
    as a plain node would start."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._declare_parameters()
        self.planner: Planner | None = None
        self.fault: str | None = None  # why the last configure failed or the node left active
        self.stats = PlannerStats()
        self._active = False
        self._inputs: list[Any] = []  # subscriptions and the planning timer, alive while active
        self._worker: ThreadPoolExecutor | None = None
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(1.0, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # --- lifecycle --------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.planner = load_configured_planner(self.config)
            model_cameras = tuple(getattr(self.planner, "cameras", None) or self.config["camera_names"])
            if tuple(self.config["camera_names"]) != model_cameras:
                raise ParameterError(f"camera_names {list(self.config['camera_names'])} do not match the model's cameras "
                                     f"{list(model_cameras)} (same names, same order)")
        except Exception as exc:  # a missing, corrupt or incompatible model: one line, stay unconfigured
            self.planner = None
            self.fault = f"configure failed: {exc}"
            self.get_logger().error(self.fault)
            return TransitionCallbackReturn.FAILURE
        self.fault = None
        cameras = list(self.config["camera_names"])
        self.cameras: CameraBuffers[ReceivedImage] = CameraBuffers(cameras)
        self.odometry = OdometryBuffer()
        self.odom_lock = threading.Lock()
        self.command = self.config["default_command"]
        self.last_planned_s: float | None = None
        self.last_clock_s: float | None = None
        self.last_cycle_wall = 0.0
        self.consecutive_failures = 0
        self.rate_limiter = RateLimiter(self.config["planning_rate_hz"])
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evodrive_infer")
        self._decode_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="evodrive_decode")
        self._busy = threading.Event()
        self._worker_done = self.create_guard_condition(self._after_plan)  # wakes the executor thread
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.path_pub = self.create_lifecycle_publisher(Path, self.config["path_topic"], reliable)
        self.marker_pub = self.create_lifecycle_publisher(MarkerArray, "~/markers", reliable)
        self.latency_pub = self.create_lifecycle_publisher(Float64, "~/latency_ms", reliable)
        if self.planner is None:
            self.get_logger().warning("no model_dir configured: planner runs without a model and publishes no paths")
        else:
            self.get_logger().info(f"planner ready: {self.planner.model_id}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        image_type = CompressedImage if self.config["compressed_images"] else Image
        for camera, topic in zip(self.config["camera_names"], self.config["camera_topics"]):
            self._inputs.append(self.create_subscription(
                image_type, topic, lambda msg, c=camera: self._on_image(c, msg), qos_profile_sensor_data
            ))
        self._inputs.append(self.create_subscription(Odometry, self.config["odom_topic"], self._on_odometry, _ODOMETRY_QOS))
        self._inputs.append(self.create_subscription(String, self.config["command_topic"], self._on_command, 10))
        self.plan_timer = self.create_timer(1.0 / self.config["planning_rate_hz"], self._on_timer)
        self._inputs.append(self.plan_timer)
        self._active = True
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs()
        result = super().on_deactivate(state)
        return TransitionCallbackReturn.ERROR if self.fault else result

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything and wait unconfigured (a lifecycle manager may configure again)."""
        self.get_logger().error(f"entered error processing: {self.fault}")
        self._stop_inputs()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _stop_inputs(self) -> None:
        """Destroy subscriptions and the timer, then let a plan in flight finish."""
        self._active = False
        for entity in self._inputs:
            if isinstance(entity, Timer):
                self.destroy_timer(entity)
            else:
                self.destroy_subscription(entity)
        self._inputs.clear()
        if self._worker is not None:
            self._worker.submit(lambda: None).result()  # the single worker runs in order

    def _release(self) -> None:
        if self._worker is None:
            return
        self._worker.shutdown(wait=True, cancel_futures=True)
        self._decode_pool.shutdown(wait=True, cancel_futures=True)
        self._worker = None
        for publisher in (self.path_pub, self.marker_pub, self.latency_pub):
            self.destroy_lifecycle_publisher(publisher)
        self.destroy_guard_condition(self._worker_done)
        self.planner = None

    def start(self) -> bool:
        """``autostart``: configure and activate; False when either transition failed."""
        return (self.trigger_configure() == TransitionCallbackReturn.SUCCESS
                and self.trigger_activate() == TransitionCallbackReturn.SUCCESS)

    # --- parameters -------------------------------------------------------------------------
    def _declare_parameters(self) -> None:
        # rclpy ignores overrides (command line, params file) that name no declared parameter: a
        # misspelt planing_rate_hz would silently keep the default
        check_names(self._parameter_overrides)
        defaults = load_params_file(default_params_file())
        for spec in PARAMS:
            choices = f" ({' | '.join(spec.choices)})" if spec.choices else ""
            restart = " [change only while unconfigured]" if spec.name in RESTART_PARAMS else ""
            descriptor = ParameterDescriptor(
                name=spec.name, type=_PARAM_TYPES[spec.type].value, description=spec.description + choices + restart
            )
            if spec.low is not None and spec.type is int:
                descriptor.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
            elif spec.low is not None:
                descriptor.floating_point_range = [FloatingPointRange(from_value=spec.low, to_value=spec.high)]
            self.declare_parameter(spec.name, defaults[spec.name], descriptor)
        self.config = {spec.name: self.get_parameter(spec.name).value for spec in PARAMS}
        check_config(self.config)

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        updated = dict(self.config)
        configured = self._worker is not None
        try:
            for param in params:
                if param.name not in SPECS:
                    continue
                if configured and param.name in RESTART_PARAMS and param.value != self.config[param.name]:
                    raise ParameterError(f"{param.name}: fixed while configured; clean up the node, set it, configure again")
                check_value(SPECS[param.name], param.value)
                updated[param.name] = param.value
            check_config(updated)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if self._active and updated["planning_rate_hz"] != self.config["planning_rate_hz"]:
            self._inputs.remove(self.plan_timer)
            self.destroy_timer(self.plan_timer)
            self.plan_timer = self.create_timer(1.0 / updated["planning_rate_hz"], self._on_timer)
            self._inputs.append(self.plan_timer)
        if configured:
            self.rate_limiter = RateLimiter(updated["planning_rate_hz"])
        self.config = updated
        return SetParametersResult(successful=True)

    # --- inputs -----------------------------------------------------------------------------
    def _count(self, topic: str) -> None:
        with self.stats.lock:
            self.stats.messages[topic] += 1
            self.stats.last_message_s[topic] = time.monotonic()

    def _on_image(self, camera: str, msg: Image | CompressedImage) -> None:
        self._count(camera)
        stamp_s = stamp_seconds(msg.header.stamp)
        if stamp_s == self.cameras.latest_stamp(camera):
            return  # a repeated frame: the buffer keeps the first, so do not decode this one
        # Decoding (JPEG releases the GIL) runs in the pool as frames arrive, off the cycle's path;
        # frames pushed out of the buffer before their turn are never decoded.
        decoding = None
        if self.planner is not None:
            decoding = self._decode_pool.submit(message_to_rgb, msg, self.planner.image_spec)
        for dropped in self.cameras.add(camera, stamp_s, ReceivedImage(msg, decoding)):
            if dropped.rgb is not None:
                dropped.rgb.cancel()
        if camera == self.config["anchor_camera"]:
            with self.stats.lock:
                self.stats.windows["input_delay_ms"].append((self.get_clock().now().nanoseconds * 1e-9 - stamp_s) * 1e3)
        self._cycle_if_ready()

    def _after_plan(self) -> None:
        """Executor thread, after each plan: leave active on a fatal fault, else plan what waits."""
        if self.fault and self._active:
            self.trigger_deactivate()  # returns ERROR with a fault: error processing, then unconfigured
        else:
            self._cycle_if_ready()

    def _cycle_if_ready(self) -> None:
        """Start a cycle when a complete, unplanned camera set is waiting and the worker is free.
        Runs on each image and when the worker finishes (a set that arrived while it was busy is
        planned at once instead of waiting for the next frame)."""
        if (
            self._active
            and not self._busy.is_set()
            and self.cameras.complete(self.config["anchor_camera"], self.config["max_camera_skew_s"], self.last_planned_s)
            and self.rate_limiter.try_acquire(time.monotonic())
        ):
            self._cycle()

    def _on_odometry(self, msg: Odometry) -> None:
        self._count("odometry")
        pose, twist = msg.pose.pose, msg.twist.twist
        q = pose.orientation
        sample = odom_sample(
            stamp_seconds(msg.header.stamp), pose.position.x, pose.position.y, (q.w, q.x, q.y, q.z), twist.linear.x, twist.angular.z
        )
        if sample is None:
            self.stats.skip(SkipReason.INVALID_ODOMETRY)
            return
        with self.odom_lock:
            if self.odometry.latest_stamp is not None and sample.stamp_s < self.odometry.latest_stamp - _CLOCK_JUMP_BACK_S:
                self.odometry.clear()  # the source restarted (bag loop, simulator reset)
            self.odometry.add(sample)

    def _on_command(self, msg: String) -> None:
        self._count("command")
        command = msg.data.strip().upper()
        if command in COMMANDS:
            self.command = command
        else:
            self.stats.skip(SkipReason.INVALID_COMMAND_MESSAGE)

    # --- planning cycle ---------------------------------------------------------------------
    def _on_timer(self) -> None:
        """Runs a cycle only when the event path has stalled, so missing/stale input is diagnosed."""
        if time.monotonic() - self.last_cycle_wall >= 1.5 / self.config["planning_rate_hz"]:
            self._cycle()

    def _cycle(self) -> None:
        self.last_cycle_wall = time.monotonic()
        now_s = self.get_clock().now().nanoseconds * 1e-9
        if self.last_clock_s is not None and now_s < self.last_clock_s - _CLOCK_JUMP_BACK_S:
            self._reset_inputs()
            self.stats.skip(SkipReason.CLOCK_JUMP)
            self.last_clock_s = now_s
            return
        self.last_clock_s = now_s
        if self.planner is None:
            self.stats.skip(SkipReason.NO_MODEL)
            return
        if self._busy.is_set():
            self.stats.skip(SkipReason.BUSY)
            return
        frame_set = self.cameras.select(
            self.config["anchor_camera"],
            now_s,
            self.config["max_input_age_s"],
            self.config["max_camera_skew_s"],
            self.last_planned_s,
        )
        if isinstance(frame_set, Skip):
            self.stats.skip(frame_set.reason)
            return
        with self.odom_lock:
            latest = self.odometry.latest_stamp
            if latest is None:
                self.stats.skip(SkipReason.MISSING_ODOMETRY)
                return
            if abs(frame_set.stamp_s - latest) > self.config["max_input_age_s"]:
                self.stats.skip(SkipReason.STALE_ODOMETRY)
                return
            ego = self.odometry.ego_state(frame_set.stamp_s)
        self.last_planned_s = frame_set.stamp_s
        self._busy.set()
        self._worker.submit(self._plan, frame_set, ego, self.command, dict(self.config))

    def _reset_inputs(self) -> None:
        self.cameras.clear()
        with self.odom_lock:
            self.odometry.clear()
        self.last_planned_s = None

    def _plan(self, frame_set: FrameSet, ego: EgoState, command: str, config: dict[str, Any]) -> None:
        """Worker thread: collect the decoded images, infer, validate, publish. Never raises."""
        try:
            start = time.perf_counter()
            cycle_start_ms = self.get_clock().now().nanoseconds * 1e-6 - frame_set.stamp_s * 1e3
            try:
                images = {name: received.rgb.result() for name, received in frame_set.frames.items()}
            except ImageDecodeError as exc:
                self.stats.skip(exc.reason)
                return
            except Exception as exc:  # e.g. decoding cancelled under overload: skip, never crash
                self.get_logger().warning(f"image decoding failed: {exc!r}", throttle_duration_sec=5.0)
                self.stats.skip(SkipReason.IMAGE_DECODE_ERROR)
                return
            decode_wait_ms = (time.perf_counter() - start) * 1e3
            inputs = PlannerInput.from_ego_state(images, ego, command)
            start = time.perf_counter()
            try:
                result = self.planner.plan(inputs)
            except Exception as exc:  # a backend failure must not take the node down
                self.get_logger().error(f"inference failed: {exc}", throttle_duration_sec=5.0)
                self.stats.skip(SkipReason.INFERENCE_ERROR)
                self.consecutive_failures += 1
                if self.consecutive_failures >= config["planning_rate_hz"] * _FATAL_FAILURE_S:
                    self.fault = f"backend lost: {self.consecutive_failures} inference failures in a row, last: {exc}"
                return
            self.consecutive_failures = 0
            inference_ms = (time.perf_counter() - start) * 1e3
            with self.stats.lock:
                self.stats.windows["cycle_start_ms"].append(cycle_start_ms)
                self.stats.windows["decode_wait_ms"].append(decode_wait_ms)
                self.stats.windows["inference_ms"].append(inference_ms)
            if not result.ok:
                self.get_logger().warning(f"planner refused: {result.error}", throttle_duration_sec=5.0)
                self.stats.skip(SkipReason.PLANNER_REFUSED)
                return
            invalid = plan_error(result.waypoints, float(ego.dynamics[-1, 0]))
            if invalid:
                self.stats.skip(invalid)
                return
            waypoints = limit_speed(result.waypoints, config["max_speed_mps"])
            anchor_stamp = frame_set.frames[config["anchor_camera"]].msg.header.stamp
            self._publish_plan(anchor_stamp, ego, waypoints, config)
            latency_ms = self.get_clock().now().nanoseconds * 1e-6 - frame_set.stamp_s * 1e3
            self.latency_pub.publish(Float64(data=latency_ms))
            with self.stats.lock:
                self.stats.published += 1
                self.stats.windows["end_to_end_ms"].append(latency_ms)
        finally:
            self._busy.clear()
            self._worker_done.trigger()

    def _publish_plan(self, stamp: Any, ego: EgoState, waypoints_ego: np.ndarray, config: dict[str, Any]) -> None:
        frame = config["output_frame"]
        points = waypoints_ego if frame == "base_link" else ego.ego_to_odom(waypoints_ego)
        origin = np.zeros(2) if frame == "base_link" else ego.position
        headings = np.arctan2(*np.diff(np.vstack([origin, points]), axis=0).T[::-1])
        stamp_ns = Time.from_msg(stamp).nanoseconds
        path = Path()
        path.header.stamp, path.header.frame_id = stamp, frame
        for k, ((x, y), yaw) in enumerate(zip(points, headings)):
            pose = PoseStamped()
            pose.header.stamp = Time(nanoseconds=stamp_ns + int((k + 1) * STEP_S * 1e9)).to_msg()
            pose.header.frame_id = frame
            pose.pose.position.x, pose.pose.position.y = float(x), float(y)
            pose.pose.orientation.z, pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
            path.poses.append(pose)
        self.path_pub.publish(path)
        line = Marker(ns="evodrive_plan", id=0, type=Marker.LINE_STRIP, action=Marker.ADD)
        line.header = path.header
        line.scale.x = 0.3
        line.color.g, line.color.a = 0.9, 1.0
        line.pose.orientation.w = 1.0
        line.points = [Point(x=float(x), y=float(y), z=0.2) for x, y in np.vstack([origin, points])]
        self.marker_pub.publish(MarkerArray(markers=[line]))

    # --- diagnostics ------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        with self.stats.lock:
            now = time.monotonic()
            values = {f"messages/{k}": str(v) for k, v in sorted(self.stats.messages.items())}
            values.update({f"age_s/{k}": f"{now - t:.3f}" for k, t in sorted(self.stats.last_message_s.items())})
            values.update({f"skipped/{k}": str(v) for k, v in sorted(self.stats.skipped.items())})
            values["published"] = str(self.stats.published)
            for name, window in self.stats.windows.items():
                if window:
                    p50, p99 = np.percentile(np.array(window), [50, 99])
                    values[f"{name}/p50"], values[f"{name}/p99"] = f"{p50:.1f}", f"{p99:.1f}"
        status = DiagnosticStatus(name=f"{NODE_NAME}: planner", hardware_id=self.config["model_dir"] or "none")
        state = self._state_machine.current_state[1]
        if self.fault:
            status.level, status.message = DiagnosticStatus.ERROR, self.fault
        elif self.planner is None:
            status.level, status.message = DiagnosticStatus.WARN, "no model loaded" if self._worker else f"{state}: no model loaded"
        elif not self._active:
            status.level, status.message = DiagnosticStatus.WARN, f"{state}: model {self.planner.model_id}, not planning"
        else:
            status.level, status.message = DiagnosticStatus.OK, f"model {self.planner.model_id}"
        values["lifecycle_state"] = state
        if self.fault:
            values["fault"] = self.fault
        values["backend"] = self.config["backend"]
        values["model"] = self.planner.model_id if self.planner else "none"
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)

    def destroy_node(self) -> None:
        if hasattr(self, "_inputs"):  # absent when construction failed on a bad parameter
            self._stop_inputs()
            self._release()
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    """Console entry point; exits 0 on SIGINT/SIGTERM (see ``stop_signals``), 2 on a bad configuration
    or (``autostart``) a model that does not load."""
    sys.setswitchinterval(_GIL_SWITCH_INTERVAL_S)
    rclpy.init(args=argv if argv is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    with stop_on_signals() as stop:
        try:
            node = PlannerNode()
        except (ParameterError, rclpy.exceptions.ParameterException) as exc:
            print(f"{NODE_NAME}: invalid parameters: {exc}", file=sys.stderr)
            rclpy.try_shutdown()
            return 2
        if node.config["autostart"] and not node.start():
            print(f"{NODE_NAME}: {node.fault or 'could not start'}", file=sys.stderr)
            node.destroy_node()
            rclpy.try_shutdown()
            return 2
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        try:
            while not stop.is_set():
                executor.spin_once(timeout_sec=_STOP_POLL_S)
        finally:
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
