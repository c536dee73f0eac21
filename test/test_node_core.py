"""ROS-free decisions of the node: image conversion, input sync, ego state from odometry, plan checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from cv_bridge import CvBridge
from sensor_msgs.msg import CompressedImage, Image

from evodrive_ros.core.conventions import steering_wheel_angle
from evodrive_ros.core.ego_state import OdometryBuffer, OdomSample, odom_sample
from evodrive_ros.core.input_sync import CameraBuffers
from evodrive_ros.core.plan_validation import limit_speed, plan_error
from evodrive_ros.core.skip_reasons import Skip, SkipReason
from evodrive_ros.core.preprocessing import ImageSpec, load_rgb
from evodrive_ros.ros.image_conversion import ImageDecodeError, message_to_rgb

MODEL_SPEC = ImageSpec(112, 196)

BRIDGE = CvBridge()
RGB = np.dstack(np.meshgrid(np.arange(40, dtype=np.uint8) * 6, np.arange(30, dtype=np.uint8) * 8) + [np.full((30, 40), 77, np.uint8)])


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_raw_colour_images_round_trip_exactly(encoding: str) -> None:
    data = RGB if encoding == "rgb8" else np.ascontiguousarray(RGB[..., ::-1])
    np.testing.assert_array_equal(message_to_rgb(BRIDGE.cv2_to_imgmsg(data, encoding)), RGB)


def test_mono_becomes_grey_rgb_and_jpeg_is_close() -> None:
    mono = message_to_rgb(BRIDGE.cv2_to_imgmsg(np.ascontiguousarray(RGB[..., 0]), "mono8"))
    assert mono.shape == RGB.shape and np.array_equal(mono[..., 1], RGB[..., 0])
    jpeg = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", RGB[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
    assert np.abs(message_to_rgb(jpeg).astype(int) - RGB).mean() < 3.0
    for fmt in ("bgr8; jpeg compressed bgr8", "rgb8; jpeg compressed bgr8", ""):  # image_transport's form, unset
        jpeg.format = fmt
        assert np.abs(message_to_rgb(jpeg).astype(int) - RGB).mean() < 3.0


@pytest.mark.parametrize(
    "msg, reason",
    [
        (CompressedImage(format="jpeg", data=b"\xff\xd8garbage"), "corrupt_image"),
        (CompressedImage(format="h264", data=b"\x00"), "unsupported_format"),
        (CompressedImage(format="16UC1; compressedDepth png", data=b"\x00"), "unsupported_format"),
        (Image(height=2, width=2, encoding="16UC1", step=4, data=bytes(8)), "unsupported_encoding"),
        (Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(5)), "corrupt_image"),
    ],
)
def test_bad_images_raise_a_named_reason(msg: object, reason: str) -> None:
    for spec in (None, MODEL_SPEC):
        with pytest.raises(ImageDecodeError) as caught:
            message_to_rgb(msg, spec)
        assert caught.value.reason == SkipReason(reason)


def test_images_decode_at_the_models_size_like_training_reads_them(tmp_path) -> None:
    """The node's compressed path and training's file reader give the model identical pixels."""
    rgb = cv2.resize(RGB, (800, 450), interpolation=cv2.INTER_CUBIC)
    data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    (tmp_path / "cam.jpg").write_bytes(data)
    served = message_to_rgb(CompressedImage(format="jpeg", data=data), MODEL_SPEC)
    assert served.shape == (MODEL_SPEC.height, MODEL_SPEC.width, 3)
    np.testing.assert_array_equal(served, load_rgb(tmp_path / "cam.jpg", MODEL_SPEC))
    raw = message_to_rgb(BRIDGE.cv2_to_imgmsg(rgb, "rgb8"), MODEL_SPEC)
    assert raw.shape == served.shape and np.abs(raw.astype(int) - served.astype(int)).mean() < 3.0


def test_camera_sync_picks_closest_frames_and_never_replans_the_same_anchor() -> None:
    buffers: CameraBuffers[str] = CameraBuffers(["A", "B"])
    assert buffers.select("A", 10.0, 0.3, 0.05, None) == Skip(SkipReason.MISSING_CAMERA, "A")
    for t in (9.80, 9.88, 9.96):
        buffers.add("A", t, f"a{t}")
    buffers.add("B", 9.87, "b1")
    buffers.add("B", 9.95, "b2")
    chosen = buffers.select("A", 10.0, 0.3, 0.05, None)
    assert chosen.stamp_s == 9.96 and chosen.frames == {"A": "a9.96", "B": "b2"}
    assert buffers.select("A", 10.0, 0.3, 0.05, 9.96) == Skip(SkipReason.NO_NEW_FRAME)
    assert buffers.select("A", 10.5, 0.3, 0.05, None).reason == SkipReason.STALE_CAMERA
    buffers.add("A", 10.10, "late")
    assert buffers.select("A", 10.1, 0.3, 0.05, None) == Skip(SkipReason.CAMERA_SKEW, "B")


def test_camera_buffers_hand_back_what_they_drop() -> None:
    """The node cancels the decoding of frames the buffer lets go."""
    buffers: CameraBuffers[str] = CameraBuffers(["A"], depth=2)
    assert buffers.add("A", 1.0, "f1") == [] and buffers.add("A", 2.0, "f2") == []
    assert buffers.add("A", 2.0, "again") == ["again"]  # a repeated stamp is not kept
    assert buffers.add("A", 3.0, "f3") == ["f1"]  # depth 2: the oldest goes
    assert buffers.add("A", 0.5, "reset") == ["f2", "f3"]  # time went backwards: start over
    assert buffers.latest_stamp("A") == 0.5


def test_ego_state_from_a_constant_turn() -> None:
    buffer = OdometryBuffer()
    speed, yaw_rate = 8.0, 0.2
    for k in range(151):  # 3 s at 50 Hz on a circle
        t = k * 0.02
        yaw = yaw_rate * t
        x, y = speed / yaw_rate * np.sin(yaw), speed / yaw_rate * (1 - np.cos(yaw))
        buffer.add(OdomSample(t, x, y, yaw, speed, yaw_rate))
    state = buffer.ego_state(3.0)
    assert state.history_valid.all()
    np.testing.assert_allclose(state.history_xy[-1], [0, 0], atol=1e-9)
    # 2 s ago the car was 16 m of arc behind; the arc bends towards the turn centre, on the left (y > 0).
    assert state.history_xy[0, 0] == pytest.approx(-speed / yaw_rate * np.sin(0.4), abs=0.05)
    assert state.history_xy[0, 1] == pytest.approx(speed / yaw_rate * (1 - np.cos(0.4)), abs=0.05)
    np.testing.assert_allclose(state.dynamics[:, 0], speed, atol=1e-6)
    np.testing.assert_allclose(state.dynamics[:, 1], 0.0, atol=1e-6)
    np.testing.assert_allclose(state.dynamics[:, 2], speed * yaw_rate, atol=1e-6)
    np.testing.assert_allclose(state.dynamics[:, 3], steering_wheel_angle(speed, yaw_rate), atol=1e-9)
    np.testing.assert_allclose(state.ego_to_odom(np.zeros((1, 2)))[0], state.position)


def test_odometry_behind_the_camera_stamp_is_extrapolated() -> None:
    """Odometry usually lags the camera: "now" must be where the car is at the camera stamp, not at
    the last odometry message (which shortened the newest history step by speed x lag)."""
    speed, yaw_rate, lag = 8.0, 0.2, 0.1

    def circle(t: float) -> OdomSample:
        yaw = yaw_rate * t
        return OdomSample(t, speed / yaw_rate * np.sin(yaw), speed / yaw_rate * (1 - np.cos(yaw)), yaw, speed, yaw_rate)

    complete, lagging = OdometryBuffer(), OdometryBuffer()
    for k in range(151):
        complete.add(circle(k * 0.02))
        if k * 0.02 <= 3.0 - lag + 1e-9:
            lagging.add(circle(k * 0.02))
    expected, state = complete.ego_state(3.0), lagging.ego_state(3.0)
    np.testing.assert_allclose(state.history_xy, expected.history_xy, atol=1e-6)
    np.testing.assert_allclose(state.position, expected.position, atol=1e-6)
    assert state.yaw == pytest.approx(expected.yaw)


def test_odometry_message_mapping_rejects_non_finite_values() -> None:
    q_left = (np.cos(0.25), 0.0, 0.0, np.sin(0.25))  # yaw 0.5 rad
    sample = odom_sample(1.5, 2.0, 3.0, q_left, 4.0, 0.1)
    assert sample == OdomSample(1.5, 2.0, 3.0, pytest.approx(0.5), 4.0, 0.1)
    assert odom_sample(1.5, 2.0, 3.0, q_left, float("nan"), 0.1) is None


def test_steering_keeps_its_sign_when_reversing() -> None:
    # Reversing with the wheel turned left: negative speed and negative (clockwise) yaw rate.
    assert steering_wheel_angle(-3.0, -3.0 * np.tan(0.2) / 2.588) == pytest.approx(15.0 * 0.2)
    assert steering_wheel_angle(3.0, 3.0 * np.tan(0.2) / 2.588) == pytest.approx(15.0 * 0.2)


def test_short_odometry_history_is_padded_and_flagged() -> None:
    buffer = OdometryBuffer()
    for k in range(26):  # 0.5 s only, accelerating at 1 m/s^2
        t = k * 0.02
        buffer.add(OdomSample(t, 0.5 * t * t, 0.0, 0.0, t, 0.0))
    state = buffer.ego_state(0.5)
    assert state.history_valid.tolist() == [False, False, False, True, True]
    assert state.dynamics[-2, 1] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "waypoints, reason",
    [
        (np.zeros((5, 2)), SkipReason.PLAN_WRONG_SHAPE),
        (np.array([[1.0, 0]] * 5 + [[np.nan, 0]]), SkipReason.PLAN_NON_FINITE),
        (np.array([[30.0, 0], [31, 0], [32, 0], [33, 0], [34, 0], [35, 0]]), SkipReason.PLAN_FIRST_WAYPOINT_FAR),
        (np.array([[2.0, 0], [4, 0], [60, 0], [62, 0], [64, 0], [66, 0]]), SkipReason.PLAN_JUMP),
    ],
)
def test_implausible_plans_are_rejected(waypoints: np.ndarray, reason: SkipReason) -> None:
    assert plan_error(waypoints, current_speed=4.0) == reason


def test_plausible_plan_passes() -> None:
    assert plan_error(np.stack([np.arange(1, 7) * 2.0, np.zeros(6)], axis=1), current_speed=4.0) is None


def test_a_plan_faster_than_the_limit_keeps_its_path_and_slows_to_the_limit() -> None:
    # 10 m/s accelerating to 20 m/s on a left curve; limit 12 m/s = 6 m per 0.5 s step.
    s = np.cumsum(np.linspace(5.0, 10.0, 6))
    plan = np.stack([30 * np.sin(s / 30), 30 * (1 - np.cos(s / 30))], axis=1)
    slowed = limit_speed(plan, 12.0)
    steps = np.linalg.norm(np.diff(np.vstack([np.zeros(2), slowed]), axis=0), axis=1)
    assert np.all(steps <= 6.0 + 1e-9) and steps[-1] > 5.9  # at the limit, not below it
    assert np.allclose(slowed[0], plan[0])  # the first step (5 m) was within the limit
    # every slowed waypoint lies on the planned polyline: its distance to the nearest segment is ~0
    polyline = np.vstack([np.zeros(2), plan])
    a, b = polyline[:-1], polyline[1:]
    for p in slowed:
        t = np.clip(np.einsum("ij,ij->i", p - a, b - a) / np.einsum("ij,ij->i", b - a, b - a), 0, 1)
        assert np.min(np.linalg.norm(a + t[:, None] * (b - a) - p, axis=1)) < 1e-9
    assert np.array_equal(limit_speed(plan, 25.0), plan) and np.array_equal(limit_speed(plan, 0.0), plan)
