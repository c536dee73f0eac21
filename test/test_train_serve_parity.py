"""Train/serve parity: the node's ego inputs, rebuilt from ``/odom``, match the training samples.

One synthetic drive is written twice by the same simulation: as a nuScenes dataroot with CAN bus
files (-> training samples, ``evodrive_training.data``) and as a rosbag2 (-> what the vehicle sees).
The bag's ``/odom`` and CAM_FRONT messages are replayed in arrival order through the node's own
message mapping (``ego_state.odom_sample``) into an ``OdometryBuffer``; at every keyframe with a full
2 s history the node's ``history_xy`` and dynamics, and the student prompt built from them, are
compared with the sample's.

Tolerances (a prompt number may differ by one more 0.01: both sides are rounded to 2 decimals):
* history positions 0.05 m: both sides are rigid transforms of the same rear-axle poses; only the
  odometry lag (extrapolated by the node) may move them, by millimetres;
* speed 0.1 m/s, lateral acceleration 0.1 m/s^2, steering-wheel angle 0.1 rad (0.4 deg at the
  wheels): CAN and odometry carry the same speed and yaw rate (acc_lat = speed x yaw rate, steering
  through the shared bicycle model); only values held over the odometry lag (<= 40 ms here) differ;
* longitudinal acceleration: the node differences speed over +-0.25 s (a window mean, one-sided at
  "now"), CAN reports the instantaneous value, so the node may be off by the spread of the CAN value
  inside that window, + 0.05 m/s^2. Exact for smooth driving, honest at an acceleration step.
A sign flip of acc_lat or steering, a mirrored or unrotated history, or a 0.1 s time offset all fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags")
from rosbags.highlevel import AnyReader  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from evodrive_ros.core.conventions import COMMANDS, HISTORY_TIMES_S  # noqa: E402
from evodrive_ros.core.driving_samples import DYNAMICS_FIELDS, load_split  # noqa: E402
from evodrive_ros.core.ego_state import EgoState, OdometryBuffer, OdomSample, odom_sample  # noqa: E402
from evodrive_ros.core.frames import rotation_2d  # noqa: E402
from evodrive_ros.core.prompts import student_user_prompt  # noqa: E402
from evodrive_training.data.cache import build_split  # noqa: E402
from evodrive_training.synth import SynthConfig, generate_dataset  # noqa: E402

SEED = 3  # a drive that accelerates, brakes and turns right: every field is exercised
SCENE = "scene-0001"
ANCHOR_TOPIC = "/cameras/cam_front/image/compressed"
XY_TOL_M, SPEED_TOL, ACC_LAT_TOL, STEER_TOL = 0.05, 0.1, 0.1, 0.1
ACC_LONG_MARGIN, ACC_WINDOW_S = 0.05, 0.25
PRINT_TOL = 0.01  # two roundings to 2 decimals
_NUMBER = re.compile(r"-?\d+\.\d+")


@dataclass
class Drive:
    samples: dict[str, np.ndarray]
    odometry: list[OdomSample]  # /odom, bag order
    camera_stamps_us: list[int]  # anchor camera, bag order
    can_utime: np.ndarray  # CAN "pose" (50 Hz)
    can_acc_long: np.ndarray


@pytest.fixture(scope="module")
def drive(tmp_path_factory) -> Drive:
    tmp = tmp_path_factory.mktemp("parity")
    config = SynthConfig.from_dict({"camera": {"width": 96, "height": 54}, "scene": {"duration_s": 8.0, "camera_hz": 2}})
    root = generate_dataset(tmp / "data", 1, SEED, config=config, bag=True)
    report = build_split(root, config.version, "all", tmp / "cache", progress=False)
    samples = load_split(report.split_dir, fields=("timestamp_us", "history_xy", "history_valid", "history_dynamics", "command")).arrays
    odometry, camera_stamps = [], []
    with AnyReader([root / "bags" / SCENE], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        connections = [c for c in reader.connections if c.topic in ("/odom", ANCHOR_TOPIC)]
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            stamp_us = msg.header.stamp.sec * 1_000_000 + msg.header.stamp.nanosec // 1000
            if connection.topic == ANCHOR_TOPIC:
                camera_stamps.append(stamp_us)
                continue
            pose, twist, q = msg.pose.pose, msg.twist.twist, msg.pose.pose.orientation
            sample = odom_sample(stamp_us * 1e-6, pose.position.x, pose.position.y, (q.w, q.x, q.y, q.z), twist.linear.x, twist.angular.z)
            assert sample is not None
            odometry.append(sample)
    can_pose = json.loads((root / "can_bus" / f"{SCENE}_pose.json").read_text())
    return Drive(
        samples=samples,
        odometry=odometry,
        camera_stamps_us=camera_stamps,
        can_utime=np.array([m["utime"] for m in can_pose], dtype=np.int64),
        can_acc_long=np.array([m["accel"][0] for m in can_pose]),
    )


def replay(drive: Drive, odom_delay_s: float = 0.0, stamp_offset_s: float = 0.0) -> dict[int, EgoState]:
    """The node's ego state at every keyframe camera, from the odometry that has arrived by then.

    Odometry arrives ``odom_delay_s`` after its stamp (camera messages at their stamp; on a tie the
    odometry first, as in the bag); ``stamp_offset_s`` shifts the time the state is asked for.
    """
    keyframes = {int(t): k for k, t in enumerate(drive.samples["timestamp_us"]) if drive.samples["history_valid"][k].all()}
    events = [(s.stamp_s + odom_delay_s, 0, s) for s in drive.odometry] + [(t * 1e-6, 1, t) for t in drive.camera_stamps_us]
    buffer, states = OdometryBuffer(), {}
    for _, kind, item in sorted(events, key=lambda e: e[:2]):
        if kind == 0:
            buffer.add(item)
        elif item in keyframes:
            states[keyframes[item]] = buffer.ego_state(item * 1e-6 + stamp_offset_s)
    assert len(states) == len(keyframes) >= 8
    return states


def acc_long_tolerance(drive: Drive, keyframe_us: int) -> np.ndarray:
    """(5,) per history row: spread of the CAN acc_long inside the differencing window, + margin."""
    tolerance = np.empty(len(HISTORY_TIMES_S))
    for i, offset in enumerate(HISTORY_TIMES_S):
        t = keyframe_us + offset * 1e6
        at = drive.can_acc_long[np.argmin(np.abs(drive.can_utime - t))]
        window = drive.can_acc_long[np.abs(drive.can_utime - t) <= ACC_WINDOW_S * 1e6 + 1]
        tolerance[i] = np.max(np.abs(window - at)) + ACC_LONG_MARGIN
    return tolerance


def parity_errors(drive: Drive, k: int, history_xy: np.ndarray, dynamics: np.ndarray) -> list[str]:
    """Every disagreement between the node's inputs and sample ``k`` (empty: they agree)."""
    expected_xy, expected_dyn = drive.samples["history_xy"][k], drive.samples["history_dynamics"][k]
    dyn_tol = np.column_stack(
        [np.full(5, SPEED_TOL), acc_long_tolerance(drive, int(drive.samples["timestamp_us"][k])), np.full(5, ACC_LAT_TOL), np.full(5, STEER_TOL)]
    )
    errors = []
    if np.abs(history_xy - expected_xy).max() > XY_TOL_M:
        errors.append(f"history_xy off by {np.abs(history_xy - expected_xy).max():.3f} m")
    for column, field in enumerate(DYNAMICS_FIELDS):
        bad = np.abs(dynamics[:, column] - expected_dyn[:, column]) > dyn_tol[:, column]
        if bad.any():
            errors.append(f"{field} rows {np.flatnonzero(bad).tolist()}: {dynamics[bad, column]} vs {expected_dyn[bad, column]}")
    command = COMMANDS[drive.samples["command"][k]]
    served, trained = student_user_prompt(history_xy, dynamics, command), student_user_prompt(expected_xy, expected_dyn, command)
    if _NUMBER.sub("#", served) != _NUMBER.sub("#", trained):
        errors.append("prompt text differs outside its numbers")
    # Prompt numbers: 5 (x, y) pairs, then 5 rows of 4 dynamics (sign and axis order do not change the bound).
    number_tol = np.concatenate([np.full(10, XY_TOL_M), dyn_tol.ravel()]) + PRINT_TOL
    gap = np.abs(_prompt_numbers(served) - _prompt_numbers(trained))
    if (gap > number_tol + 1e-9).any():
        errors.append(f"prompt numbers differ by up to {gap.max():.2f} (positions {np.flatnonzero(gap > number_tol + 1e-9).tolist()})")
    return errors


def _prompt_numbers(prompt: str) -> np.ndarray:
    lines = [line.split(": ", 1)[1] for line in prompt.splitlines() if line.startswith("Past ")]
    return np.array([float(v) for line in lines for v in _NUMBER.findall(line)])


@pytest.mark.parametrize("odom_delay_s", [0.0, 0.02, 0.03], ids=["in_order", "odom_20ms_late", "odom_30ms_late"])
def test_node_inputs_match_training_samples(drive: Drive, odom_delay_s: float) -> None:
    states = replay(drive, odom_delay_s)
    failures = {k: parity_errors(drive, k, s.history_xy, s.dynamics) for k, s in states.items()}
    assert not any(failures.values()), {k: f for k, f in failures.items() if f}


def test_drive_exercises_every_field(drive: Drive) -> None:
    """Parity on a straight constant-speed drive would prove little."""
    dynamics = drive.samples["history_dynamics"][drive.samples["history_valid"].all(axis=1)]
    assert dynamics[..., 0].min() > 1.0  # the steering angle is observable from odometry only when moving
    assert np.abs(dynamics[..., 1]).max() > 0.5 and np.abs(dynamics[..., 2]).max() > 0.5 and np.abs(dynamics[..., 3]).max() > 0.3


def _flip(column: int) -> Callable[[np.ndarray, np.ndarray, EgoState], tuple[np.ndarray, np.ndarray]]:
    def mutate(xy: np.ndarray, dyn: np.ndarray, _: EgoState) -> tuple[np.ndarray, np.ndarray]:
        dyn = dyn.copy()
        dyn[:, column] *= -1
        return xy, dyn

    return mutate


@pytest.mark.parametrize(
    "mutate",
    [
        _flip(2),
        _flip(3),
        lambda xy, dyn, _: (xy * [1, -1], dyn),  # y to the right
        lambda xy, dyn, ego: (xy @ rotation_2d(ego.yaw).T, dyn),  # history left in odom axes
    ],
    ids=["acc_lat_sign", "steering_sign", "mirrored_history", "unrotated_history"],
)
def test_comparison_catches_known_skews(drive: Drive, mutate) -> None:
    states = replay(drive)
    assert any(parity_errors(drive, k, *mutate(s.history_xy, s.dynamics, s)) for k, s in states.items())


def test_comparison_catches_a_time_offset(drive: Drive) -> None:
    states = replay(drive, stamp_offset_s=0.1)
    assert any(parity_errors(drive, k, s.history_xy, s.dynamics) for k, s in states.items())
