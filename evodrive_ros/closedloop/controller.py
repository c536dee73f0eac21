"""Tracking a planned trajectory: pure pursuit for steering, a speed PID, a kinematic bicycle.

The planner answers 6 waypoints (0.5 … 3.0 s) in the ego frame; a car needs an acceleration and a
road-wheel angle now. ``TrackingController`` turns one into the other and limits what an actuator
can do (steering angle and rate, acceleration, jerk), so a jumpy plan shows up as a late, smooth
response rather than an impossible one. ``bicycle_step`` is the vehicle model the synthetic world
moves its ego with, here so that the controller's tests and the world share one model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evodrive_ros.core.conventions import FUTURE_STEPS, FUTURE_TIMES_S, WHEELBASE_M, bicycle_yaw_rate
from evodrive_ros.core.frames import world_to_ego_xy, wrap_angle

def bicycle_step(x: float, y: float, yaw: float, speed: float, accel: float, steer: float, dt: float) -> tuple[float, float, float, float]:
    """One explicit Euler step of a rear-axle kinematic bicycle (no reversing): (x, y, yaw, speed)."""
    accel = accel if speed > 0 or accel > 0 else 0.0
    x += speed * np.cos(yaw) * dt
    y += speed * np.sin(yaw) * dt
    yaw = float(wrap_angle(yaw + float(bicycle_yaw_rate(speed, steer)) * dt))
    return float(x), float(y), yaw, max(0.0, speed + accel * dt)


@dataclass
class ControllerLimits:
    max_steer: float = 0.6  # road-wheel angle, rad
    max_steer_rate: float = 0.7  # rad/s
    max_accel: float = 3.0  # m/s^2
    max_decel: float = 6.0  # m/s^2 (emergency braking stays possible)
    max_jerk: float = 10.0  # m/s^3


@dataclass
class TrackingController:
    """Pure pursuit on the plan's polyline + speed PID on the plan's speed ``speed_horizon_s`` ahead.

    ``control`` keeps the integrator and the last command (for the rate limits): one controller per
    vehicle, called once per control period ``dt``."""

    limits: ControllerLimits = field(default_factory=ControllerLimits)
    lookahead_time_s: float = 1.0
    min_lookahead_m: float = 3.0
    speed_horizon_s: float = 1.0
    kp: float = 1.0
    ki: float = 0.1
    _integral: float = 0.0
    _steer: float = 0.0
    _accel: float = 0.0

    def control(self, plan_xy: np.ndarray, speed: float, dt: float) -> tuple[float, float]:
        """(acceleration m/s², road-wheel angle rad) for a plan (6, 2) in the current ego frame
        (x forward, y left, rear axle at the origin)."""
        plan = np.asarray(plan_xy, dtype=np.float64).reshape(FUTURE_STEPS, 2)
        path = np.vstack([[0.0, 0.0], plan])
        times = np.concatenate([[0.0], FUTURE_TIMES_S])
        target_speed = _plan_speed(path, times, self.speed_horizon_s)
        error = target_speed - speed
        self._integral = float(np.clip(self._integral + error * dt, -2.0, 2.0))
        accel = self.kp * error + self.ki * self._integral
        accel = float(np.clip(accel, -self.limits.max_decel, self.limits.max_accel))
        accel = float(np.clip(accel, self._accel - self.limits.max_jerk * dt, self._accel + self.limits.max_jerk * dt))

        lookahead = max(self.min_lookahead_m, speed * self.lookahead_time_s)
        target = _point_at_distance(path, lookahead)
        distance = float(np.hypot(*target))
        curvature = 2.0 * target[1] / distance**2 if distance > 1e-6 else 0.0
        steer = float(np.arctan(WHEELBASE_M * curvature))
        steer = float(np.clip(steer, -self.limits.max_steer, self.limits.max_steer))
        steer = float(np.clip(steer, self._steer - self.limits.max_steer_rate * dt, self._steer + self.limits.max_steer_rate * dt))
        self._accel, self._steer = accel, steer
        return accel, steer


@dataclass
class PlanFollower:
    """The policy for cycles that bring no plan (skipped, busy, refused): the last valid plan is
    tracked while it is at most ``max_plan_age_s`` old, then the car brakes at ``fallback_decel``
    holding its steering. Plans are kept in the world frame and re-expressed in the car's current
    frame at every control step."""

    max_plan_age_s: float = 0.5
    fallback_decel: float = 4.0
    controller: TrackingController = field(default_factory=TrackingController)
    plan: tuple[float, np.ndarray] | None = None  # (time of the plan's inputs, (6, 2) world-frame waypoints)

    def adopt(self, time_s: float, waypoints_world: np.ndarray) -> None:
        self.plan = (float(time_s), np.asarray(waypoints_world, dtype=np.float64))

    def fresh(self, time_s: float) -> bool:
        return self.plan is not None and time_s - self.plan[0] <= self.max_plan_age_s + 1e-9

    def control(self, time_s: float, ego_xy: np.ndarray, ego_yaw: float, speed: float, steer: float, dt: float) -> tuple[float, float]:
        """(acceleration, road-wheel angle) now; braking with the current steering when no plan is fresh."""
        if not self.fresh(time_s):
            return (-self.fallback_decel if speed > 0 else 0.0), steer
        return self.controller.control(world_to_ego_xy(self.plan[1], np.asarray(ego_xy)[:2], ego_yaw), speed, dt)


def _plan_speed(path: np.ndarray, times: np.ndarray, at_s: float) -> float:
    """Speed along the plan over the segment that contains ``at_s`` (distance / time)."""
    k = int(np.clip(np.searchsorted(times, at_s), 1, len(times) - 1))
    return float(np.linalg.norm(path[k] - path[k - 1]) / (times[k] - times[k - 1]))


def _point_at_distance(path: np.ndarray, distance: float) -> np.ndarray:
    """The point ``distance`` metres along the polyline (extended straight past its end)."""
    segments = np.diff(path, axis=0)
    lengths = np.linalg.norm(segments, axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    if cumulative[-1] < 1e-6:  # a plan that stays put: look straight ahead
        return np.array([distance, 0.0])
    k = int(np.searchsorted(cumulative, distance, side="right")) - 1
    k = min(k, len(segments) - 1)
    while lengths[k] < 1e-9 and k > 0:
        k -= 1
    return path[k] + segments[k] / lengths[k] * (distance - cumulative[k])
