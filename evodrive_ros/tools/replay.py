"""``evodrive replay BAG``: play a rosbag2 into the planner node over real DDS, record and score it.

Modes:
  realtime  messages at their recorded pace, header stamps shifted to the current time (the node
            runs on wall time, as on a vehicle);
  scaled    /clock published at ``--rate`` times the recorded pace (run the node with use_sim_time);
  lockstep  /clock advances only after the node has planned each camera frame set: every frame is
            planned however slow the machine (use_sim_time; a node started here plans at 50 Hz of
            sim time so that every frame set meets a timer tick).
With ``--model`` (or ``--backend kinematic``) the node is started as a separate process and stopped
at the end; otherwise the bag is played into a node that is already running. The node's outputs and
the inputs as played go to the rosbag2 folder ``OUT/replay_bag`` (one MCAP file; Foxglove / RViz); the plans are scored against the
ego's actual future path from the bag's odometry; ``OUT/summary.json`` and ``OUT/replay.png``.
Ctrl-C (or SIGTERM) ends playback early: what was played is still recorded, scored and summarised
(``"interrupted": true``), and the command exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import struct
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evodrive_ros.core.safe_output import OutputRefused, check_output_dir, mark_output_dir, write_json
from evodrive_ros.ros.planner_params import default_params_file, load_params_file
from evodrive_ros.ros.stop_signals import stop_on_signals
from evodrive_ros.tools.planner_process import LATENCY_TOPIC, isolate_dds, start_planner, stop_planner

OUTPUT_TOPICS = {
    "/planning/path": "nav_msgs/msg/Path",
    "/evodrive_planner/markers": "visualization_msgs/msg/MarkerArray",
    LATENCY_TOPIC: "std_msgs/msg/Float64",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}
_PLAN_WAIT_S = 10.0
EXIT_INTERRUPTED = 130  # the shell's convention for a command ended by SIGINT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="rosbag2 folder (MCAP or sqlite3)")
    parser.add_argument("--model", type=Path, help="start the planner node with this model directory")
    parser.add_argument("--backend", default="auto", help="backend of the started node (kinematic needs no model)")
    parser.add_argument("--out", type=Path, default=Path("out/replay"), help="output folder")
    parser.add_argument("--mode", choices=("realtime", "scaled", "lockstep"), default="realtime")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed for --mode scaled")
    parser.add_argument("--planning-rate", type=float, default=10.0, help="planning_rate_hz of the started node")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT/replay_bag (a previous replay's)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="exit 0 even when the bag is damaged and not every indexed message could be read")


REPLAY_TOOL = "evodrive replay"

@dataclass
class Recording:
    """What came back from the node, with times mapped to the bag's clock."""

    plan_times: list[float] = field(default_factory=list)
    plans_xy: list[list[list[float]]] = field(default_factory=list)
    plan_frames: set[str] = field(default_factory=set)
    latency_ms: list[float] = field(default_factory=list)
    diagnostics: dict[str, str] = field(default_factory=dict)


def run(args: argparse.Namespace) -> int:
    if not args.bag.exists():
        print(f"evodrive replay: bag {args.bag} does not exist", file=sys.stderr)
        return 2
    out_bag = args.out / "replay_bag"
    try:
        check_output_dir(out_bag, REPLAY_TOOL, [args.bag], args.overwrite)
    except OutputRefused as exc:
        print(f"evodrive replay: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    planner = None
    if args.model is not None or args.backend == "kinematic":
        isolate_dds()  # lockstep: a timer tick within every 20 ms of sim time, so each camera frame set gets its cycle
        rate = 50.0 if args.mode == "lockstep" else args.planning_rate
        planner = start_planner(args.model, args.backend, rate, args.mode != "realtime", args.out / "planner.log")
    with stop_on_signals() as stop:
        try:
            summary = play(args, out_bag, stop)
        finally:
            planner_exit_code = stop_planner(planner) if planner is not None else None
    if summary is None:
        return EXIT_INTERRUPTED if stop.is_set() else 1
    if planner is not None:
        summary["planner_exit_code"] = planner_exit_code
    write_json(args.out / "summary.json", summary, indent=2)
    print(format_summary(summary))
    if summary["interrupted"]:
        print("evodrive replay: interrupted; the summary covers what was played", file=sys.stderr)
        return EXIT_INTERRUPTED
    read, indexed, damage = summary["messages"]["read"], summary["messages"]["indexed"], summary["messages"]["damage"]
    if read < indexed:
        print(f"evodrive replay: {args.bag} is damaged: read {read} of {indexed} indexed messages"
              + (f" ({damage})" if damage else "") + "; the scores cover only what played"
              + ("" if args.allow_partial else "; pass --allow-partial to accept that"), file=sys.stderr)
        if not args.allow_partial:
            return 1
    return 0 if summary["invalid_paths"] == 0 else 1


def _message_class(msgtype: str) -> type:
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def play(args: argparse.Namespace, out_bag: Path, stop: threading.Event) -> dict[str, Any] | None:
    """Play the bag, record the node's outputs, return the summary (None if the node never came up).

    ``stop`` ends playback early (rclpy's own signal handlers are off: see ``stop_signals``).
    """
    import rclpy
    from builtin_interfaces.msg import Time as TimeMsg
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from rclpy.serialization import deserialize_message, serialize_message
    from rclpy.signals import SignalHandlerOptions
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    from rosgraph_msgs.msg import Clock
    from tqdm import tqdm

    def to_time(t_ns: int) -> TimeMsg:
        return TimeMsg(sec=t_ns // 10**9, nanosec=t_ns % 10**9)

    params = load_params_file(default_params_file())
    cameras, camera_topics = params["camera_names"], params["camera_topics"]
    typestore = get_typestore(Stores.ROS2_KILTED)
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("evodrive_replay")
    recording = Recording()
    clock_ns = [0]
    offset_ns = 0  # realtime mode: recorded stamp + offset = published stamp
    wall0 = bag_t0 = 0  # wall0 stays 0 until playback starts

    def bag_time_now() -> int:
        if args.mode == "lockstep":
            return clock_ns[0]
        if not wall0:
            return bag_t0
        return bag_t0 + int((time.time_ns() - wall0) * (args.rate if args.mode == "scaled" else 1.0))

    if out_bag.exists():  # a previous replay's recording (run() checked its marker)
        shutil.rmtree(out_bag)
    writer = Writer(out_bag, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    mark_output_dir(out_bag, REPLAY_TOOL)  # ours from the start: a killed run's leftover can be replaced
    out_connections = {}

    write_lock = threading.Lock()  # inputs are recorded by the main thread, outputs by the executor's
    writer_closed = threading.Event()

    def record(topic: str, msgtype: str, msg: Any, t_ns: int) -> None:
        with write_lock:
            if writer_closed.is_set():  # a late output after the end
                return
            if topic not in out_connections:
                out_connections[topic] = writer.add_connection(topic, msgtype, typestore=typestore)
            writer.write(out_connections[topic], t_ns, msg if isinstance(msg, bytes) else serialize_message(msg))

    def on_output(topic: str, msgtype: str):
        def callback(msg: Any) -> None:
            t_bag = bag_time_now()
            record(topic, msgtype, msg, t_bag)
            if topic == "/planning/path":
                stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec - offset_ns
                recording.plan_times.append(stamp * 1e-9)
                recording.plans_xy.append([[p.pose.position.x, p.pose.position.y] for p in msg.poses])
                recording.plan_frames.add(msg.header.frame_id)
            elif topic == LATENCY_TOPIC:
                recording.latency_ms.append(msg.data)
            elif topic == "/diagnostics":
                for status in msg.status:
                    if status.name.startswith("evodrive_planner"):
                        recording.diagnostics = {kv.key: kv.value for kv in status.values}

        return callback

    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    for topic, msgtype in OUTPUT_TOPICS.items():
        node.create_subscription(_message_class(msgtype), topic, on_output(topic, msgtype), reliable)
    clock_pub = node.create_publisher(Clock, "/clock", 10)
    # Outputs are received on an executor thread; the main thread only paces and publishes (spinning
    # between messages cost the player more CPU than the messages themselves).
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, name="evodrive_replay_outputs", daemon=True)
    spinner.start()
    try:
        with AnyReader([args.bag], default_typestore=typestore) as reader:
            publishers = {}
            for conn in reader.connections:
                try:
                    msg_class = _message_class(conn.msgtype)
                except ModuleNotFoundError:  # e.g. tf2_msgs has no PyPI wheel: the node does not need it
                    print(f"evodrive replay: not playing {conn.topic} ({conn.msgtype} is not installed)", file=sys.stderr)
                    continue
                qos = qos_profile_sensor_data
                if conn.topic == "/tf_static":
                    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
                elif conn.topic not in camera_topics and "Odometry" not in conn.msgtype:
                    qos = reliable
                publishers[conn.id] = (node.create_publisher(msg_class, conn.topic, qos), conn)
            odom_topic = params["odom_topic"]
            bag_t0 = reader.start_time
            if not _wait_for_planner({odom_topic, params["command_topic"], *camera_topics}, publishers, stop):
                if not stop.is_set():
                    print("evodrive replay: no planner subscribed to the inputs within 30 s", file=sys.stderr)
                return None
            wall0 = time.time_ns()
            offset_ns = wall0 - bag_t0 if args.mode == "realtime" else 0
            odom_times, odom_xy = [], []
            frame_cameras: dict[int, set[str]] = {}
            anchor_topic = camera_topics[cameras.index(params["anchor_camera"])]
            played = [c for c in reader.connections if c.id in publishers]
            patch_in_place = {c.id for c in played if _starts_with_header(publishers[c.id][0].msg_type)}
            total = sum(c.msgcount for c in played)
            last_t_bag = bag_t0
            n_read, damage = 0, None
            messages = iter(tqdm(reader.messages(connections=played), total=total, desc="replay", unit="msg"))
            while not stop.is_set():
                try:
                    conn, t_bag, raw = next(messages)
                except StopIteration:
                    break
                except Exception as exc:  # a damaged chunk: keep what played, say so
                    damage = f"{type(exc).__name__}: {exc}"
                    break
                n_read += 1
                last_t_bag = t_bag
                if args.mode != "lockstep":
                    delay = (wall0 + (t_bag - bag_t0) / (args.rate if args.mode == "scaled" else 1.0) - time.time_ns()) * 1e-9
                    time.sleep(max(delay, 0.0))
                publisher, _ = publishers[conn.id]
                if conn.id in patch_in_place:  # images stay bytes: no (de)serialization
                    data, stamp_ns = _shift_serialized_stamp(raw, offset_ns)
                else:
                    msg = deserialize_message(raw, publisher.msg_type)
                    stamp_ns = _shift_stamps(msg, offset_ns)
                    data = serialize_message(msg)
                if args.mode != "realtime":
                    clock_ns[0] = max(clock_ns[0], t_bag)
                    clock_pub.publish(Clock(clock=to_time(clock_ns[0])))
                publisher.publish(data)
                record(conn.topic, conn.msgtype, data, t_bag)
                if conn.topic == odom_topic:
                    position = deserialize_message(data, publisher.msg_type).pose.pose.position
                    odom_times.append((stamp_ns - offset_ns) * 1e-9)
                    odom_xy.append([position.x, position.y])
                if conn.topic in camera_topics and stamp_ns is not None:
                    seen = frame_cameras.setdefault(stamp_ns, set())
                    seen.add(conn.topic)
                    if args.mode == "lockstep" and len(seen) == len(camera_topics):
                        _lockstep_plan(clock_pub, clock_ns, stamp_ns, recording, to_time, stop)
                    if len(frame_cameras) > 50:  # forget old frame sets
                        frame_cameras.pop(min(frame_cameras))
            duration_s = (last_t_bag - bag_t0) * 1e-9
            stop.wait(2.0)  # last outputs and one more diagnostics message
    finally:
        executor.shutdown()
        spinner.join(timeout=5.0)
        with write_lock:
            writer.close()
            writer_closed.set()
        node.destroy_node()
        rclpy.try_shutdown()
    summary = summarise(args, recording, np.array(odom_times), np.array(odom_xy), duration_s, anchor_topic)
    summary["interrupted"] = stop.is_set()
    summary["messages"] = {"read": n_read, "indexed": total, "damage": damage}
    return summary


def _wait_for_planner(planner_topics: set[str], publishers: dict, stop: threading.Event) -> bool:
    """Every bag topic the planner reads (odometry, cameras, route command) has matched its
    subscription: messages sent before that are lost (a lost first command plans with the default)."""
    inputs = [p for p, conn in publishers.values() if conn.topic in planner_topics]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not stop.is_set():
        if inputs and all(p.get_subscription_count() > 0 for p in inputs):
            return not stop.wait(0.5)  # let the other side's matching finish too
        stop.wait(0.1)
    return False


def _starts_with_header(msg_class: type) -> bool:
    return next(iter(msg_class.get_fields_and_field_types().items()), None) == ("header", "std_msgs/Header")


def _shift_serialized_stamp(raw: bytes, offset_ns: int) -> tuple[bytes, int]:
    """Shift the header stamp of a CDR-serialised message that begins with a std_msgs/Header.

    The stamp (int32 sec, uint32 nanosec) follows the 4-byte encapsulation header, whose second
    byte says the byte order. Patching it in place lets the player forward 50 KB images without
    deserialising them (~1 ms each in Python), which kept the CPU from the node under test.
    Returns the new bytes and the new stamp in ns.
    """
    order = "<iI" if raw[1] & 1 else ">iI"
    sec, nanosec = struct.unpack_from(order, raw, 4)
    t_ns = sec * 10**9 + nanosec + offset_ns
    patched = bytearray(raw)
    struct.pack_into(order, patched, 4, t_ns // 10**9, t_ns % 10**9)
    return bytes(patched), t_ns


def _shift_stamps(msg: Any, offset_ns: int) -> int | None:
    """Shift header stamps (and tf stamps) by ``offset_ns``; returns the new header stamp in ns."""
    headers = [t.header for t in getattr(msg, "transforms", [])]
    if hasattr(msg, "header"):
        headers.append(msg.header)
    for header in headers:
        t_ns = header.stamp.sec * 10**9 + header.stamp.nanosec + offset_ns
        header.stamp.sec, header.stamp.nanosec = t_ns // 10**9, t_ns % 10**9
    if not hasattr(msg, "header"):
        return None
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def _lockstep_plan(
    clock_pub: Any, clock_ns: list[int], frame_ns: int, recording: Recording, to_time, stop: threading.Event
) -> None:
    """Advance /clock in small steps until the node plans the frame set stamped ``frame_ns``."""
    from rosgraph_msgs.msg import Clock

    wanted = frame_ns * 1e-9
    planned = lambda: any(abs(t - wanted) < 1e-6 for t in recording.plan_times[-3:])  # noqa: E731
    step_ns, limit_ns = 5_000_000, frame_ns + 60_000_000
    deadline = time.monotonic() + _PLAN_WAIT_S
    while not planned() and time.monotonic() < deadline and not stop.is_set():
        if clock_ns[0] < limit_ns:
            clock_ns[0] += step_ns
            clock_pub.publish(Clock(clock=to_time(clock_ns[0])))
        time.sleep(0.005)


def summarise(
    args: argparse.Namespace, rec: Recording, odom_times: np.ndarray, odom_xy: np.ndarray, duration_s: float, anchor: str
) -> dict[str, Any]:
    from evodrive_ros.core.plan_scoring import score_plans

    plans = np.array(rec.plans_xy, dtype=np.float64).reshape(-1, 6, 2) if rec.plans_xy else np.empty((0, 6, 2))
    if len(plans) and len(odom_times):
        score = asdict(score_plans(np.array(rec.plan_times), plans, odom_times, odom_xy))
    else:
        score = {"n_plans": 0, "l2_at_m": {}, "l2_avg_up_to_m": {}, "n_invalid": 0}
    expected_cycles = duration_s * args.planning_rate if args.mode == "realtime" else None
    latency = np.array(rec.latency_ms)
    summary = {
        "bag": str(args.bag),
        "mode": args.mode,
        "duration_s": round(duration_s, 3),
        "paths": len(plans),
        "path_frames": sorted(rec.plan_frames),
        "plan_rate_hz": round(len(plans) / duration_s * (args.rate if args.mode == "scaled" else 1.0), 2) if duration_s else 0.0,
        "cycles_planned_fraction": round(len(plans) / expected_cycles, 3) if expected_cycles else None,
        "latency_ms": {
            "p50": float(np.percentile(latency, 50)) if len(latency) else None,
            "p99": float(np.percentile(latency, 99)) if len(latency) else None,
        },
        "invalid_paths": score["n_invalid"] + int(sum(len(p) != 6 for p in rec.plans_xy)),
        "l2_at_m": score["l2_at_m"],
        "l2_avg_up_to_m": score["l2_avg_up_to_m"],
        "diagnostics": rec.diagnostics,
        "outputs": {"mcap": str(args.out / "replay_bag" / "replay_bag.mcap"), "picture": str(args.out / "replay.png")},
    }
    from evodrive_ros.tools.replay_picture import draw_replay

    draw_replay(args.bag, anchor, odom_xy, plans, np.array(rec.plan_times), args.out / "replay.png")
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    l2, l2avg, lat = summary["l2_at_m"], summary["l2_avg_up_to_m"], summary["latency_ms"]
    fmt = lambda v: "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.2f}"  # noqa: E731
    lines = [
        "| bag | mode | paths | rate Hz | cycles planned | latency p50 / p99 ms | L2 1s / 2s / 3s m | L2 avg≤1s / 2s / 3s m | invalid |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {Path(summary['bag']).name} | {summary['mode']} | {summary['paths']} | {summary['plan_rate_hz']} | "
        f"{fmt(summary['cycles_planned_fraction'])} | {fmt(lat['p50'])} / {fmt(lat['p99'])} | "
        f"{' / '.join(fmt(l2.get(k)) for k in ('1s', '2s', '3s'))} | {' / '.join(fmt(l2avg.get(k)) for k in ('1s', '2s', '3s'))} | "
        f"{summary['invalid_paths']} |",
        f"outputs: {summary['outputs']['mcap']}, {summary['outputs']['picture']}",
    ]
    return "\n".join(lines)
