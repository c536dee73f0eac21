"""NAVSIM v1's PDM score on a rollout: NC, DAC, TTC, comfort, ego progress and the PDMS formula.

A rollout is the ego's boxes over time (rear-axle poses turned into centre boxes by the caller)
and the other agents' boxes at the same times. Definitions follow NAVSIM v1 (METHOD §6.4):

* **NC** (no at-fault collision): 0 after hitting a vehicle or pedestrian while the ego is at
  fault, 0.5 after hitting a static object, else 1. The ego is not at fault when it stands still,
  or when the other agent runs into its rear half (NAVSIM's rear-end rule).
* **DAC** (drivable-area compliance): 1 if every corner of every ego box is on the drivable area.
* **TTC**: 0 if, at some step, the ego moved forward at its current velocity for up to 0.9 s
  (steps of 0.3 s) would hit an agent that is itself held at its pose — the collision then being
  at-fault — else 1.
* **C** (comfort): 1 if longitudinal acceleration stays in [−4.05, 2.40] m/s², lateral |a| ≤ 4.89,
  |longitudinal jerk| ≤ 4.13 m/s³, |jerk| ≤ 8.37, |yaw rate| ≤ 0.95 rad/s, |yaw acceleration| ≤ 1.93
  rad/s², on Savitzky–Golay-smoothed signals.
* **EP** (ego progress): progress along the route divided by a reference planner's progress, in
  [0, 1]; 1 when the reference makes less than 5 m (nothing to compare). NAVSIM's reference is its
  PDM-Closed planner; ours is the world's expert driver (stated where scores are reported).
* **PDMS** = NC · DAC · (5·TTC + 2·C + 5·EP) / 12, per scenario, then averaged over scenarios.
"""

from __future__ import annotations

from collections.abc import Callable
import math
from dataclasses import asdict, dataclass

import numpy as np

VEHICLE, PEDESTRIAN, STATIC = 0, 1, 2
TTC_HORIZON_S = 0.9
TTC_STEP_S = 0.3
MIN_REFERENCE_PROGRESS_M = 5.0
COMFORT_LIMITS = {"lon_accel": (-4.05, 2.40), "lat_accel": 4.89, "lon_jerk": 4.13, "jerk": 8.37, "yaw_rate": 0.95, "yaw_accel": 1.93}
SAVGOL_WINDOW, SAVGOL_POLY_ORDER = 7, 2  # 0.7 s at 10 Hz
KIND_NAMES = {VEHICLE: "vehicle", PEDESTRIAN: "pedestrian", STATIC: "static"}
COLLISION_PENALTY = {PEDESTRIAN: 0.50, VEHICLE: 0.60, STATIC: 0.65}  # CARLA leaderboard, per collision
RED_LIGHT_PENALTY = 0.70  # CARLA leaderboard, per red light run


@dataclass(frozen=True)
class PdmScore:
    nc: float
    dac: float
    ttc: float
    comfort: float
    ep: float

    @property
    def pdms(self) -> float:
        return self.nc * self.dac * (5 * self.ttc + 2 * self.comfort + 5 * self.ep) / 12

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "pdms": self.pdms}


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """(..., 5) boxes (x, y, yaw, length, width) -> (..., 4, 2) corners."""
    boxes = np.asarray(boxes, dtype=np.float64)
    c, s = np.cos(boxes[..., 2]), np.sin(boxes[..., 2])
    half_l, half_w = boxes[..., 3] / 2, boxes[..., 4] / 2
    signs = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]], dtype=np.float64)
    local_x = signs[:, 0] * half_l[..., None]
    local_y = signs[:, 1] * half_w[..., None]
    x = boxes[..., 0:1] + local_x * c[..., None] - local_y * s[..., None]
    y = boxes[..., 1:2] + local_x * s[..., None] + local_y * c[..., None]
    return np.stack([x, y], axis=-1)


def boxes_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two oriented boxes (5,) intersect (separating-axis test on both boxes' edges)."""
    ca, cb = box_corners(a), box_corners(b)
    for corners in (ca, cb):
        for k in range(2):
            edge = corners[k + 1] - corners[k]
            axis = np.array([-edge[1], edge[0]])
            pa, pb = ca @ axis, cb @ axis
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def at_fault(ego: np.ndarray, other: np.ndarray, ego_speed: float) -> bool:
    """NAVSIM's rule: a standing ego, or an agent that hits the ego's rear half, is not the ego's fault."""
    if ego_speed < 5e-2:
        return False
    heading = np.array([np.cos(ego[2]), np.sin(ego[2])])
    return float((other[:2] - ego[:2]) @ heading) >= 0.0


def no_at_fault_collision(ego: np.ndarray, agents: np.ndarray, kinds: np.ndarray, ego_speed: np.ndarray) -> float:
    """``ego`` (T, 5), ``agents`` (T, M, 5) with NaN rows for absent agents, ``kinds`` (M,)."""
    score = 1.0
    for t in range(len(ego)):
        for m in range(agents.shape[1]):
            other = agents[t, m]
            if np.isnan(other).any() or not boxes_overlap(ego[t], other):
                continue
            if kinds[m] == STATIC:
                score = min(score, 0.5)
            elif at_fault(ego[t], other, float(ego_speed[t])):
                return 0.0
    return score


def drivable_area_compliance(ego: np.ndarray, on_road: Callable[[np.ndarray], np.ndarray]) -> float:
    """``on_road(points (N, 2)) -> (N,) bool`` is the map's drivable area."""
    corners = box_corners(ego).reshape(-1, 2)
    return float(bool(np.all(on_road(corners))))


def time_to_collision(ego: np.ndarray, ego_velocity: np.ndarray, agents: np.ndarray, kinds: np.ndarray) -> float:
    """``ego_velocity`` (T, 2) world-frame m/s of the box centre; agents are held where they are."""
    offsets = np.arange(TTC_STEP_S, TTC_HORIZON_S + 1e-9, TTC_STEP_S)
    for t in range(len(ego)):
        speed = float(np.linalg.norm(ego_velocity[t]))
        for dt in offsets:
            moved = ego[t].copy()
            moved[:2] += ego_velocity[t] * dt
            for m in range(agents.shape[1]):
                other = agents[t, m]
                if np.isnan(other).any() or kinds[m] == STATIC:
                    continue
                if boxes_overlap(moved, other) and not boxes_overlap(ego[t], other) and at_fault(moved, other, speed):
                    return 0.0
    return 1.0


def savgol_derivative(values: np.ndarray, dt: float, order: int, window: int = SAVGOL_WINDOW) -> np.ndarray:
    """``order``-th derivative of a uniformly sampled signal from a quadratic least-squares fit over
    ``window`` samples around each (Savitzky–Golay); the first and last windows' fits serve the edges."""
    values = np.asarray(values, dtype=np.float64)
    window = min(window, len(values) - (1 - len(values) % 2))  # odd, at most the length
    half = window // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    fit = np.linalg.pinv(np.vander(offsets, SAVGOL_POLY_ORDER + 1, increasing=True))  # samples -> polynomial coefficients
    powers = np.arange(order, SAVGOL_POLY_ORDER + 1)
    factor = np.array([math.factorial(k) / math.factorial(k - order) for k in powers]) / dt**order

    def derivative(coefficients: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return (positions[:, None] ** (powers - order)) @ (coefficients[..., powers] * factor).T

    windows = np.lib.stride_tricks.sliding_window_view(values, window) @ fit.T  # (n - window + 1, 3)
    return np.concatenate([derivative(windows[0], offsets[:half]), windows[:, order] * factor[0],
                           derivative(windows[-1], offsets[half + 1:])])


def comfort(x: np.ndarray, y: np.ndarray, yaw: np.ndarray, dt: float) -> float:
    """From the ego's poses at a fixed period ``dt`` (needs ≥ 4 poses; fewer: comfortable).

    Derivatives are Savitzky–Golay fits, as NAVSIM filters its comfort signals (it smooths the
    simulator's accelerations over 8 samples; a rollout here has poses only, so velocity, acceleration,
    jerk, yaw rate and yaw acceleration are all fitted from them over ``SAVGOL_WINDOW`` samples)."""
    if len(x) < 4:
        return 1.0
    heading = np.unwrap(np.asarray(yaw, dtype=np.float64))
    ax, ay = savgol_derivative(x, dt, 2), savgol_derivative(y, dt, 2)
    lon = ax * np.cos(heading) + ay * np.sin(heading)
    lat = -ax * np.sin(heading) + ay * np.cos(heading)
    jerk_lon = savgol_derivative(lon, dt, 1)
    jerk = np.hypot(savgol_derivative(ax, dt, 1), savgol_derivative(ay, dt, 1))
    yaw_rate = savgol_derivative(heading, dt, 1)
    yaw_accel = savgol_derivative(heading, dt, 2)
    low, high = COMFORT_LIMITS["lon_accel"]
    ok = (np.all((lon >= low) & (lon <= high)) and np.all(np.abs(lat) <= COMFORT_LIMITS["lat_accel"])
          and np.all(np.abs(jerk_lon) <= COMFORT_LIMITS["lon_jerk"]) and np.all(jerk <= COMFORT_LIMITS["jerk"])
          and np.all(np.abs(yaw_rate) <= COMFORT_LIMITS["yaw_rate"]) and np.all(np.abs(yaw_accel) <= COMFORT_LIMITS["yaw_accel"]))
    return float(bool(ok))


def driving_score(route_completion: float, collisions: dict[int, int], red_lights: int = 0) -> float:
    """CARLA-leaderboard style: route completion × each collision's penalty (``collisions``: kind ->
    count) × the red-light penalty per signal run."""
    return (route_completion * math.prod(COLLISION_PENALTY[kind] ** count for kind, count in collisions.items())
            * RED_LIGHT_PENALTY ** red_lights)


def ego_progress(progress_m: float, reference_progress_m: float) -> float:
    if reference_progress_m < MIN_REFERENCE_PROGRESS_M:
        return 1.0
    return float(np.clip(progress_m / reference_progress_m, 0.0, 1.0))
