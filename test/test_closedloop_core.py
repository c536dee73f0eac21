"""Closed-loop building blocks (issue 14): the tracking controller on known paths and each PDM
sub-metric and the PDMS formula on crafted rollouts."""

import numpy as np
import pytest

from evodrive_ros.closedloop.controller import TrackingController, bicycle_step
from evodrive_ros.closedloop.pdm_metrics import (
    PEDESTRIAN,
    STATIC,
    VEHICLE,
    PdmScore,
    comfort,
    savgol_derivative,
    drivable_area_compliance,
    ego_progress,
    no_at_fault_collision,
    time_to_collision,
)
from evodrive_ros.core.conventions import FUTURE_TIMES_S
from evodrive_ros.core.frames import world_to_ego_xy

DT = 0.1


def _track(reference, speed0: float, target_speed: float, seconds: float):
    """Drive ``reference(s) -> (x, y)`` (arc length s) with plans sampled from it at ``target_speed``."""
    controller = TrackingController()
    x, y, yaw, speed = 0.0, 0.0, 0.0, speed0
    s_ego, log = 0.0, []
    grid = np.linspace(0, 400, 8001)
    path = np.array([reference(s) for s in grid])
    for _ in range(int(seconds / DT)):
        k = int(np.argmin(np.linalg.norm(path - [x, y], axis=1)))
        s_ego = grid[k]
        plan_world = np.array([reference(s_ego + target_speed * t) for t in FUTURE_TIMES_S])
        accel, steer = controller.control(world_to_ego_xy(plan_world, np.array([x, y]), yaw), speed, DT)
        x, y, yaw, speed = bicycle_step(x, y, yaw, speed, accel, steer, DT)
        log.append((x, y, speed, float(np.min(np.linalg.norm(path - [x, y], axis=1)))))
    return np.array(log)


def test_controller_reaches_the_plan_speed_on_a_straight_road():
    log = _track(lambda s: (s, 0.0), speed0=5.0, target_speed=10.0, seconds=10.0)
    assert abs(log[-1, 2] - 10.0) < 0.2 and np.all(log[:, 3] < 0.05)  # speed within 0.2 m/s, on the line


def test_controller_follows_a_30_m_circle_within_30_cm():
    radius = 30.0
    circle = lambda s: (radius * np.sin(s / radius), radius * (1 - np.cos(s / radius)))  # noqa: E731
    log = _track(circle, speed0=8.0, target_speed=8.0, seconds=20.0)
    assert np.max(log[30:, 3]) < 0.3 and abs(np.mean(log[30:, 2]) - 8.0) < 0.3


def test_controller_respects_its_actuator_limits():
    controller = TrackingController()
    sharp_left = np.array([[0.5 * t, 5.0 * t] for t in FUTURE_TIMES_S])
    accel, steer = controller.control(sharp_left, 10.0, DT)
    assert steer == pytest.approx(controller.limits.max_steer_rate * DT)  # rate-limited from straight
    controller = TrackingController()
    accel, _ = controller.control(np.zeros((6, 2)), 20.0, DT)  # an emergency stop: braking ramps in at the jerk limit
    assert accel >= -controller.limits.max_decel and accel == pytest.approx(-controller.limits.max_jerk * DT)


def _straight_rollout(speed: float, steps: int = 40):
    t = np.arange(steps) * DT
    ego = np.stack([speed * t, np.zeros(steps), np.zeros(steps), np.full(steps, 4.084), np.full(steps, 1.85)], axis=1)
    return ego, np.full(steps, speed)


def test_no_at_fault_collision():
    ego, speed = _straight_rollout(10.0)
    ahead = np.tile([[20.0, 0.0, 0.0, 4.5, 1.9]], (len(ego), 1))[:, None]
    assert no_at_fault_collision(ego, ahead, np.array([VEHICLE]), speed) == 0.0  # drives into a car ahead
    assert no_at_fault_collision(ego, ahead, np.array([STATIC]), speed) == 0.5  # a static object halves the score
    behind = ego.copy()[:, None]
    behind[:, 0, 0] -= 3.0  # a car running into the ego's rear
    assert no_at_fault_collision(ego, behind, np.array([VEHICLE]), speed) == 1.0
    stopped, zero = _straight_rollout(0.0)
    walker = np.tile([[1.0, 0.5, 0.0, 0.6, 0.6]], (len(stopped), 1))[:, None]
    assert no_at_fault_collision(stopped, walker, np.array([PEDESTRIAN]), zero) == 1.0  # a standing ego is not at fault
    absent = np.full_like(ahead, np.nan)
    assert no_at_fault_collision(ego, absent, np.array([VEHICLE]), speed) == 1.0


def test_drivable_area_compliance():
    ego, _ = _straight_rollout(10.0)
    road = lambda p: np.abs(p[:, 1]) < 3.5  # noqa: E731 - a 7 m wide road along x
    assert drivable_area_compliance(ego, road) == 1.0
    ego[20:, 1] = 2.8  # drifts until a corner leaves the road
    assert drivable_area_compliance(ego, road) == 0.0


def test_time_to_collision():
    ego, speed = _straight_rollout(10.0, steps=5)  # reaches x = 4 m
    velocity = np.tile([10.0, 0.0], (len(ego), 1))
    stopped_car = np.tile([[12.0, 0.0, 0.0, 4.5, 1.9]], (len(ego), 1))[:, None]  # 3.7 m gap at the end: < 0.9 s at 10 m/s
    assert no_at_fault_collision(ego, stopped_car, np.array([VEHICLE]), speed) == 1.0
    assert time_to_collision(ego, velocity, stopped_car, np.array([VEHICLE])) == 0.0
    far_car = stopped_car.copy()
    far_car[:, 0, 0] = 30.0
    assert time_to_collision(ego, velocity, far_car, np.array([VEHICLE])) == 1.0


def test_comfort():
    t = np.arange(40) * DT
    smooth = comfort(10.0 * t, np.zeros_like(t), np.zeros_like(t), DT)
    jerky_speed = 10.0 + 2.0 * np.sign(np.sin(2 * np.pi * t))  # ±2 m/s steps every half second
    jerky = comfort(np.cumsum(jerky_speed) * DT, np.zeros_like(t), np.zeros_like(t), DT)
    assert smooth == 1.0 and jerky == 0.0


def test_ego_progress_and_the_pdms_formula():
    assert ego_progress(10.0, 20.0) == 0.5 and ego_progress(30.0, 20.0) == 1.0 and ego_progress(0.0, 3.0) == 1.0
    assert PdmScore(1, 1, 1, 1, 1).pdms == 1.0
    assert PdmScore(1, 1, 1, 1, 0).pdms == pytest.approx(7 / 12)  # a stop: safe, comfortable, no progress
    assert PdmScore(0.5, 1, 1, 1, 1).pdms == 0.5 and PdmScore(1, 0, 1, 1, 1).pdms == 0.0
    assert PdmScore(1, 1, 0, 0, 1).as_dict()["pdms"] == pytest.approx(5 / 12)


def test_savgol_derivative_is_exact_on_quadratics_and_smooths_noise():
    t = np.arange(25) * DT
    position = 1.0 + 4.0 * t - 1.5 * t**2
    assert np.allclose(savgol_derivative(position, DT, 1), 4.0 - 3.0 * t) and np.allclose(savgol_derivative(position, DT, 2), -3.0)
    noisy = position + np.random.default_rng(0).normal(0.0, 0.02, len(t))  # 2 cm of pose noise
    raw_accel = np.gradient(np.gradient(noisy, DT), DT)
    assert np.abs(savgol_derivative(noisy, DT, 2) + 3.0).max() < 0.5 * np.abs(raw_accel + 3.0).max()


def test_route_progress_and_command():
    from evodrive_ros.closedloop.route import Route

    straight_then_left = np.vstack([np.stack([np.arange(0, 30.0), np.zeros(30)], 1), np.stack([np.full(20, 29.0), np.arange(1, 21.0)], 1)])
    route = Route(straight_then_left)
    assert route.length == pytest.approx(29.0 + 20.0) and route.progress(np.array([10.2, 0.3])) == pytest.approx(10.0)
    assert route.command(0.0, np.zeros(2), 0.0, speed=1.0) == "FORWARD"  # 3 m ahead, still straight
    assert route.command(20.0, np.array([20.0, 0.0]), 0.0, speed=5.0) == "LEFT"  # 15 m ahead: 6 m up the left branch
    corners = np.array([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0.5], [10, 0.5]], dtype=float)
    loop = Route(np.vstack([np.linspace(a, b, 21)[:-1] for a, b in zip(corners[:-1], corners[1:])]))  # points every 0.5 m
    assert loop.progress(np.array([5.0, 0.4]), last_s=40.0) == pytest.approx(44.5)  # the second pass, not the first (5.0)


def test_carla_frames_mirror_y_and_mount_the_rig():
    from evodrive_ros.closedloop import carla_frames as cf

    assert np.allclose(cf.location_to_ros(1.0, 2.0, 3.0), [1.0, -2.0, 3.0])
    assert np.allclose(cf.rotation_to_ros(0.0, 10.0, 90.0), [0.0, -np.radians(10.0), -np.pi / 2])  # CARLA yaw 90: facing our -y
    for values in [(5.0, -3.0, 1.0), (-7.0, 0.5, 2.0)]:
        assert np.allclose(cf.location_to_ros(*cf.location_from_ros(*values)), values)
    assert np.allclose(cf.rotation_to_ros(*cf.rotation_from_ros(0.1, -0.2, 2.5)), [0.1, -0.2, 2.5])

    yaw = np.radians(55.0)  # our front-left camera: level, 55 deg to the left, 1.5 m up
    optical = np.stack([[np.sin(yaw), -np.cos(yaw), 0.0], [0.0, 0.0, -1.0], [np.cos(yaw), np.sin(yaw), 0.0]], axis=1)
    location, rotation = cf.camera_mount(np.array([1.52, 0.495, 1.51]), optical, origin_offset_x=1.3)
    assert np.allclose(location, [0.22, -0.495, 1.51]) and np.allclose(rotation, [0.0, 0.0, -55.0], atol=1e-9)
    assert cf.horizontal_fov_deg(1600, 800.0) == pytest.approx(90.0)


def test_carla_frames_agree_with_the_carla_package():
    carla = pytest.importorskip("carla")
    from evodrive_ros.closedloop import carla_frames as cf

    rotation = carla.Rotation(pitch=10.0, yaw=120.0, roll=0.0)
    forward = rotation.get_forward_vector()  # CARLA's own maths, in its left-handed frame
    roll, pitch, yaw = cf.rotation_to_ros(rotation.roll, rotation.pitch, rotation.yaw)
    ours = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), -np.sin(pitch)])
    assert np.allclose(cf.location_to_ros(forward.x, forward.y, forward.z), ours, atol=1e-6)
    moved = carla.Transform(carla.Location(x=1.0, y=2.0, z=0.0), rotation).transform(carla.Location(x=1.0, y=0.0, z=0.0))
    expected = cf.location_to_ros(1.0, 2.0, 0.0) + ours
    assert np.allclose(cf.location_to_ros(moved.x, moved.y, moved.z), expected, atol=1e-5)
