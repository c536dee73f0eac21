"""The driving world: road layout, traffic, pedestrians and an ego car, advanced with ``step(dt)``.

Other agents follow fixed paths (lanes, crossings) with an IDM car-follower; the ego is a kinematic
bicycle (rear-axle reference, like the nuScenes ego frame) driven by an expert (pure pursuit on the
route + IDM + a curve speed limit) unless ``step`` is given an ``EgoControl`` — the hook for a closed
loop with the planner in control. The vision world adds what only cameras reveal: signals on the
route (the expert and the cars ahead of it stop on red), walkers who step out as the ego comes, and
lead cars that brake once; the expert records which constraint set its acceleration (``ego_cause``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evodrive_ros.core.conventions import WHEELBASE_M, bicycle_yaw_rate  # shared with the runtime's odometry model
from evodrive_ros.closedloop.controller import bicycle_step
from evodrive_ros.core.frames import wrap_angle
from evodrive_ros.core.keyframe_causes import CAUSES

from .config import SynthConfig
from .roads import PATH_SPACING_M, RoadLayout, generate_layout, layout_extent, headings, offset_left, resample, uniform, unit

CAR, TRUCK, PEDESTRIAN = 0, 1, 2
EGO_LENGTH_M, EGO_WIDTH_M = 4.084, 1.85
EGO_REAR_OVERHANG_M = 0.9  # rear axle to rear bumper
EGO_CENTRE_AHEAD_M = EGO_LENGTH_M / 2 - EGO_REAR_OVERHANG_M  # box centre ahead of the rear axle (the ego's reference)
BEHIND_START_M = 100.0
MAP_MARGIN_M = 60.0  # ground drawn around the roads  # straight road behind the ego's start (history, rear cameras)

# Intelligent Driver Model.
IDM_MAX_ACCEL, IDM_COMFORT_DECEL, IDM_TIME_GAP_S, IDM_MIN_GAP_M = 1.5, 2.5, 1.3, 2.5
MAX_DECEL = 8.0
LOOKAHEAD_STEPS = 60  # leader search: 60 path points, 2 per metre ...
LOOKAHEAD_STRIDE = 2  # ... every second one -> 60 m
MAX_LATERAL_ACCEL = 2.0  # expert slows down for curves
LEADER_REFRESH_S = 0.1

# Why the expert's motion departs from steady driving, recorded every step (``World.ego_cause``):
# the constraint that set its acceleration, or the road's curvature. Keyframe labels summarise them.
NONE, CURVE, LEAD_VEHICLE, PEDESTRIAN_CAUSE, TRAFFIC_LIGHT = (CAUSES.index(c) for c in ("none", "curve", "lead_vehicle", "pedestrian", "traffic_light"))
CAUSE_MARGIN_MPS2 = 0.3  # a constraint "binds" when it lowers the acceleration by more than this

# Signals: green, yellow, red; the expert stops for yellow only when it can do so comfortably.
GREEN, YELLOW, RED = 0, 1, 2
YELLOW_S = 3.0
YELLOW_STOP_DECEL = 3.5  # m/s^2: above this the expert drives on through a yellow light
STOP_LINE_BEFORE_SQUARE_M = 4.0  # the stop line is before the zebra crossing in front of the junction
SIGNAL_POLE_HEIGHT_M = 3.0
SIGNAL_HEAD_SIZE_M = (0.4, 0.8, 1.6)  # along the road, across, height: large, so it shows at 196 px wide


@dataclass
class EgoState:
    x: float
    y: float
    yaw: float
    speed: float
    accel: float = 0.0  # longitudinal, m/s^2
    steer: float = 0.0  # road-wheel angle, rad, positive left

    @property
    def yaw_rate(self) -> float:
        return float(bicycle_yaw_rate(self.speed, self.steer))


@dataclass
class EgoControl:
    accel: float  # m/s^2
    steer: float  # road-wheel angle, rad, positive left


class PathBank:
    """All agent paths in one array so that poses of all agents are interpolated at once."""

    def __init__(self, paths: list[np.ndarray], vanish_at_end: list[bool]):
        self.points = np.concatenate(paths)
        self.headings = np.concatenate([headings(p) for p in paths])
        self.start = np.cumsum([0] + [len(p) for p in paths[:-1]])
        self.count = np.array([len(p) for p in paths])
        self.length = (self.count - 1) * PATH_SPACING_M
        self.vanish_at_end = np.array(vanish_at_end)

    def pose(self, path_id: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = np.clip(s / PATH_SPACING_M, 0, self.count[path_id] - 1.001)
        i = np.floor(f).astype(int)
        w = (f - i)[:, None]
        a, b = self.start[path_id] + i, self.start[path_id] + i + 1
        xy = self.points[a] * (1 - w) + self.points[b] * w
        return xy[:, 0], xy[:, 1], self.headings[a]

    def ahead(self, path_id: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Look-ahead points (A, M, 2) and their distance ahead (A, M) along each agent's path."""
        i0 = np.floor(s / PATH_SPACING_M).astype(int)
        steps = np.arange(1, LOOKAHEAD_STEPS + 1) * LOOKAHEAD_STRIDE
        idx = np.minimum(i0[:, None] + steps[None], self.count[path_id][:, None] - 1)
        along = idx * PATH_SPACING_M - s[:, None]
        return self.points[self.start[path_id][:, None] + idx], along


@dataclass
class Agents:
    """Every non-ego road user, as parallel arrays (one entry per agent)."""

    kind: np.ndarray  # CAR / TRUCK / PEDESTRIAN
    size: np.ndarray  # (A, 3) length, width, height
    colour: np.ndarray  # (A, 3) RGB
    path_id: np.ndarray
    s: np.ndarray  # arc length along the path
    speed: np.ndarray
    desired_speed: np.ndarray
    go_time: np.ndarray  # pedestrians wait on the kerb until then (and for a gap in traffic)
    parked: np.ndarray
    active: np.ndarray  # False once an agent has driven off the end of its path
    jaywalk_m: np.ndarray  # a jaywalker steps out when the ego is this close (inf: waits for a gap)
    brake: np.ndarray  # (A, 3) start time, hold time after stopping, deceleration: a car that brakes once (start inf: never)

    def __len__(self) -> int:
        return len(self.kind)


@dataclass
class TrafficLights:
    """Signals on the ego's route: stop lines (arc length on the ego lane), heads, cycles."""

    stop_s: np.ndarray  # (L,) stop line, metres along the ego lane
    head_xy: np.ndarray  # (L, 2) the signal head, on the far right corner of the junction
    yaw: np.ndarray  # (L,) direction of the approach (the head faces against it)
    green_s: np.ndarray
    red_s: np.ndarray
    offset_s: np.ndarray  # phase at t = 0

    @staticmethod
    def empty() -> "TrafficLights":
        return TrafficLights(np.zeros(0), np.zeros((0, 2)), *(np.zeros(0) for _ in range(4)))

    def __len__(self) -> int:
        return len(self.stop_s)

    def state(self, t: float) -> np.ndarray:
        """(L,) GREEN / YELLOW / RED at time ``t``."""
        phase = (t + self.offset_s) % (self.green_s + YELLOW_S + self.red_s)
        return np.where(phase < self.green_s, GREEN, np.where(phase < self.green_s + YELLOW_S, YELLOW, RED))


def light_gap(lights: TrafficLights, t: float, front_s: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Gap from each front bumper (arc length ``front_s`` on the ego lane) to the nearest stop line
    it must stop at (inf if none): yellow where stopping needs at most ``YELLOW_STOP_DECEL``, red
    where it is possible at all (a driver who passed on yellow is in the junction by then)."""
    if not len(lights):
        return np.full(len(front_s), np.inf)
    gap = lights.stop_s[None] - front_s[:, None]  # (A, L)
    state = lights.state(t)[None]
    needed = speed[:, None] ** 2 / (2 * np.maximum(gap, 1e-3))
    stop = (gap > -0.5) & (((state == RED) & (needed <= MAX_DECEL)) | ((state == YELLOW) & (needed <= YELLOW_STOP_DECEL)))
    return np.where(stop, np.maximum(gap, 0.0), np.inf).min(axis=1)


def idm_accel(speed: np.ndarray, desired: np.ndarray, gap: np.ndarray, closing_speed: np.ndarray) -> np.ndarray:
    desired_gap = IDM_MIN_GAP_M + speed * IDM_TIME_GAP_S + speed * closing_speed / (2 * np.sqrt(IDM_MAX_ACCEL * IDM_COMFORT_DECEL))
    ratio = np.where(desired > 0.01, speed / np.maximum(desired, 0.01), 10.0)
    accel = IDM_MAX_ACCEL * (1 - ratio**4 - (np.maximum(desired_gap, 0) / np.maximum(gap, 0.1)) ** 2)
    return np.clip(accel, -MAX_DECEL, IDM_MAX_ACCEL)


def leader_gaps(points: np.ndarray, along: np.ndarray, lane_half_width: float, obstacles: np.ndarray,
                obstacle_half: np.ndarray, self_length: np.ndarray, obstacle_speed: np.ndarray,
                exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bumper gap to, speed of and index of (-1: none) the nearest obstacle in each agent's lane ahead.

    ``obstacles`` (K, 2) have half extents ``obstacle_half`` (K, 2: along, across); ``exclude`` (A, K)
    masks an agent itself. An obstacle blocks when its nearest look-ahead point is within half a lane
    plus its half width.
    """
    diff = points[:, :, None, :] - obstacles[None, None]
    d2 = np.einsum("amkc,amkc->amk", diff, diff)  # squared distances (A, M, K)
    nearest = d2.argmin(axis=1)
    lateral = np.sqrt(np.take_along_axis(d2, nearest[:, None], axis=1)[:, 0])
    ahead = np.take_along_axis(along, nearest, axis=1)
    blocking = (lateral < lane_half_width + obstacle_half[None, :, 1]) & (nearest > 0) & ~exclude
    gap = np.where(blocking, ahead - self_length[:, None] / 2 - obstacle_half[None, :, 0], np.inf)
    leader = gap.argmin(axis=1)
    rows = np.arange(len(points))
    found = np.isfinite(gap[rows, leader])
    return gap[rows, leader], np.where(found, obstacle_speed[leader], 0.0), np.where(found, leader, -1)


class World:
    """State of one scene; ``step(dt)`` advances it. The ego follows ``layout.route``."""

    def __init__(self, layout: RoadLayout, paths: PathBank, agents: Agents, ego: EgoState, cruise_speed: float,
                 lights: TrafficLights | None = None):
        self.layout, self.paths, self.agents, self.ego = layout, paths, agents, ego
        self.cruise_speed = cruise_speed
        self.lights = lights if lights is not None else TrafficLights.empty()
        self.ego_cause = NONE  # what set the expert's last control (``CAUSES``)
        self.time = 0.0
        self.route = PathBank([layout.ego_lane], [False])
        self.route_curve_speed = _curve_speed_limit(layout.ego_lane)
        self.ego_s = self._project_ego(0.0, len(layout.ego_lane) * PATH_SPACING_M)
        self.agent_x, self.agent_y, self.agent_yaw = paths.pose(agents.path_id, agents.s)
        # Leaders are searched at 10 Hz (a driver's reaction rate); gaps are dead-reckoned in between.
        self._next_leader_refresh, self._refresh_leaders = 0.0, True
        self._leader_gap, self._leader_speed = np.full(len(agents), np.inf), np.zeros(len(agents))
        self._ego_leader: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def step(self, dt: float, ego_control: EgoControl | None = None, move_agents: bool = True) -> None:
        """Advance by ``dt``: the ego under ``ego_control`` (None: the expert drives), the other agents
        by their own models unless ``move_agents`` is False (a caller that replays them: ``place_agents``)."""
        self._refresh_leaders = self.time >= self._next_leader_refresh
        if self._refresh_leaders:
            self._next_leader_refresh = self.time + LEADER_REFRESH_S - 1e-9
        control = ego_control if ego_control is not None else self.expert_control()
        if self._ego_leader is not None:
            gap, lead_speed, leader = self._ego_leader
            self._ego_leader = (gap - (self.ego.speed - lead_speed) * dt, lead_speed, leader)
        if move_agents:
            self._step_agents(dt)
        self._step_ego(dt, control)
        self.time += dt

    def place_agents(self, pose: np.ndarray, active: np.ndarray) -> None:
        """Put every agent where a log says ((A, 4) x, y, yaw, speed and the active mask): non-reactive replay."""
        self.agent_x, self.agent_y, self.agent_yaw = pose[:, 0].copy(), pose[:, 1].copy(), pose[:, 2].copy()
        self.agents.speed[:], self.agents.active[:] = pose[:, 3], active

    # ---------------------------------------------------------------- ego
    def expert_control(self) -> EgoControl:
        """Pure pursuit on the route lane, IDM behind obstacles and red lights, slowed for curves
        ahead; records in ``ego_cause`` which of these set the acceleration."""
        ego = self.ego
        lookahead = float(np.clip(2.5 + 0.6 * ego.speed, 4.0, 15.0))
        tx, ty, _ = self.route.pose(np.array([0]), np.array([self.ego_s + lookahead]))
        alpha = np.arctan2(ty[0] - ego.y, tx[0] - ego.x) - ego.yaw
        steer = float(np.clip(np.arctan2(2 * WHEELBASE_M * np.sin(alpha), lookahead), -0.6, 0.6))
        points, along = self.route.ahead(np.array([0]), np.array([self.ego_s]))
        i0 = int(self.ego_s / PATH_SPACING_M)
        curve = self.route_curve_speed[np.minimum(i0 + np.arange(1, LOOKAHEAD_STEPS + 1) * LOOKAHEAD_STRIDE,
                                                  len(self.route_curve_speed) - 1)]
        allowed = float(np.min(np.sqrt(curve**2 + 2 * IDM_COMFORT_DECEL * np.maximum(along[0] - 2.0, 0))))
        index, obstacles, half, speed = self._obstacles()
        ego_length = np.array([EGO_LENGTH_M])
        # The ego's reference is the rear axle: shift its look-ahead distances to the box centre.
        centre_along = along - EGO_CENTRE_AHEAD_M
        if self._ego_leader is None or self._refresh_leaders:
            gap, lead_speed, leader = leader_gaps(points, centre_along, self.layout.lane_width / 2, obstacles[:-1], half[:-1],
                                                  ego_length, speed[:-1], np.zeros((1, len(obstacles) - 1), dtype=bool))
            self._ego_leader = (gap, lead_speed, np.where(leader >= 0, index[:-1][np.maximum(leader, 0)], -1))
        gap, lead_speed, leader = self._ego_leader
        v = np.array([ego.speed])
        stop_gap = light_gap(self.lights, self.time, np.array([self.ego_s + EGO_LENGTH_M - EGO_REAR_OVERHANG_M]), v)
        desired = min(self.cruise_speed, allowed)
        accel_free = idm_accel(v, np.array([desired]), np.array([np.inf]), np.zeros(1))[0]
        accel_leader = idm_accel(v, np.array([desired]), gap, v - lead_speed)[0]
        accel_light = idm_accel(v, np.array([desired]), stop_gap, v)[0]
        accel = min(accel_leader, accel_light)
        if accel < accel_free - CAUSE_MARGIN_MPS2:
            walker = leader[0] >= 0 and self.agents.kind[leader[0]] == PEDESTRIAN
            self.ego_cause = TRAFFIC_LIGHT if accel_light < accel_leader else PEDESTRIAN_CAUSE if walker else LEAD_VEHICLE
        elif accel_free < idm_accel(v, np.array([self.cruise_speed]), np.array([np.inf]), np.zeros(1))[0] - CAUSE_MARGIN_MPS2:
            self.ego_cause = CURVE
        else:
            self.ego_cause = NONE
        return EgoControl(accel=float(accel), steer=steer)

    def _step_ego(self, dt: float, control: EgoControl) -> None:
        ego = self.ego
        ego.steer = control.steer
        ego.x, ego.y, ego.yaw, new_speed = bicycle_step(ego.x, ego.y, ego.yaw, ego.speed, control.accel, control.steer, dt)
        ego.accel = (new_speed - ego.speed) / dt
        ego.speed = new_speed
        self.ego_s = self._project_ego(self.ego_s - 5.0, self.ego_s + 10.0)

    def _project_ego(self, s_from: float, s_to: float) -> float:
        lane = self.route.points
        i0, i1 = int(max(s_from, 0) / PATH_SPACING_M), int(s_to / PATH_SPACING_M) + 1
        d = np.linalg.norm(lane[i0:i1] - [self.ego.x, self.ego.y], axis=1)
        return (i0 + int(d.argmin())) * PATH_SPACING_M

    # ---------------------------------------------------------------- agents
    def _obstacles(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Agent indices, positions, half extents (along, across) and speeds of everything that can
        block a lane (active agents that are not parked), then the ego last (index -1)."""
        a = self.agents
        index = np.flatnonzero(a.active & ~a.parked)
        centre = np.stack([self.agent_x[index], self.agent_y[index]], axis=1)
        ego_centre = np.array([self.ego.x, self.ego.y]) + unit(self.ego.yaw) * EGO_CENTRE_AHEAD_M
        half = np.stack([a.size[index, 0] / 2, np.where(a.kind[index] == PEDESTRIAN, 1.2, a.size[index, 1] / 2)], axis=1)
        return (np.append(index, -1), np.vstack([centre, ego_centre]),
                np.vstack([half, [EGO_LENGTH_M / 2, EGO_WIDTH_M / 2]]), np.append(a.speed[index], self.ego.speed))

    def _step_agents(self, dt: float) -> None:
        a = self.agents
        vehicles = np.flatnonzero(a.active & (a.kind != PEDESTRIAN) & ~a.parked)
        if self._refresh_leaders:
            index, obstacles, half, speed = self._obstacles()
            points, along = self.paths.ahead(a.path_id[vehicles], a.s[vehicles])
            gap, lead_speed, _ = leader_gaps(points, along, self.layout.lane_width / 2, obstacles, half,
                                             a.size[vehicles, 0], speed, vehicles[:, None] == index[None])
            self._leader_gap[:], self._leader_speed[:] = np.inf, 0.0
            self._leader_gap[vehicles], self._leader_speed[vehicles] = gap, lead_speed
        if len(vehicles):
            gap, lead_speed = self._leader_gap[vehicles], self._leader_speed[vehicles]
            path_id = a.path_id[vehicles]
            end_gap = np.where(self.paths.vanish_at_end[path_id], np.inf,
                               self.paths.length[path_id] - a.s[vehicles] - a.size[vehicles, 0] / 2)
            lead_speed = np.where(end_gap < gap, 0.0, lead_speed)
            gap = np.minimum(gap, end_gap)
            accel = idm_accel(a.speed[vehicles], a.desired_speed[vehicles], gap, a.speed[vehicles] - lead_speed)
            on_route = path_id == 0  # the ego's lane: the same signals bind (path 0 is the ego lane, same arc length)
            if len(self.lights) and on_route.any():
                front = a.s[vehicles[on_route]] + a.size[vehicles[on_route], 0] / 2
                stop_gap = light_gap(self.lights, self.time, front, a.speed[vehicles[on_route]])
                accel[on_route] = np.minimum(accel[on_route], idm_accel(
                    a.speed[vehicles[on_route]], a.desired_speed[vehicles[on_route]], stop_gap, a.speed[vehicles[on_route]]))
            start, hold, decel = a.brake[vehicles].T
            braking = (self.time >= start) & (self.time < start + hold + a.desired_speed[vehicles] / np.maximum(decel, 0.1))
            accel = np.where(braking, np.minimum(accel, -decel), accel)
            new_speed = np.maximum(0.0, a.speed[vehicles] + accel * dt)
            # Between leader refreshes the gap shrinks by the relative motion.
            self._leader_gap[vehicles] -= (0.5 * (a.speed[vehicles] + new_speed) - lead_speed) * dt
            a.speed[vehicles] = new_speed
        walkers = np.flatnonzero(a.kind == PEDESTRIAN)
        if len(walkers):
            self._step_pedestrians(walkers)
        a.s += np.where(a.active, a.speed * dt, 0.0)
        a.active &= ~(self.paths.vanish_at_end[a.path_id] & (a.s >= self.paths.length[a.path_id]))
        self.agent_x, self.agent_y, self.agent_yaw = self.paths.pose(a.path_id, a.s)

    def _step_pedestrians(self, walkers: np.ndarray) -> None:
        """Wait on the kerb until ``go_time`` and a 25 m gap in traffic (a jaywalker: until the ego
        comes within ``jaywalk_m`` of the crossing), then walk across without stopping."""
        a = self.agents
        waiting = walkers[(a.s[walkers] == 0.0) & (a.speed[walkers] == 0.0)]
        if len(waiting):
            movers = np.flatnonzero(a.active & (a.kind != PEDESTRIAN) & ~a.parked)
            vehicles = np.vstack([np.stack([self.agent_x[movers], self.agent_y[movers]], axis=1), [[self.ego.x, self.ego.y]]])
            mid_x, mid_y, _ = self.paths.pose(a.path_id[waiting], self.paths.length[a.path_id[waiting]] / 2)
            clear = np.min(np.hypot(vehicles[None, :, 0] - mid_x[:, None], vehicles[None, :, 1] - mid_y[:, None]), axis=1) > 25.0
            ahead = (mid_x - self.ego.x) * np.cos(self.ego.yaw) + (mid_y - self.ego.y) * np.sin(self.ego.yaw) > 0
            ego_near = ahead & (np.hypot(self.ego.x - mid_x, self.ego.y - mid_y) < a.jaywalk_m[waiting])
            go = waiting[np.where(np.isfinite(a.jaywalk_m[waiting]), ego_near, clear) & (a.go_time[waiting] <= self.time)]
            a.speed[go] = a.desired_speed[go]
        arrived = walkers[a.s[walkers] >= self.paths.length[a.path_id[walkers]]]
        a.speed[arrived] = 0.0


def _curve_speed_limit(lane: np.ndarray) -> np.ndarray:
    h = np.unwrap(headings(lane))
    curvature = np.abs(np.gradient(h)) / PATH_SPACING_M
    return np.sqrt(MAX_LATERAL_ACCEL / np.maximum(curvature, 1e-4))


def build_world(config: SynthConfig, rng: np.random.Generator) -> World:
    """A new random scene: layout, traffic and the ego at the start of its route."""
    traffic = config.traffic
    cruise = uniform(rng, traffic.ego_speed_mps)
    route_length = BEHIND_START_M + traffic.ego_speed_mps[1] * config.scene.duration_s + 160.0
    layout = generate_layout(config.road, rng, route_length, BEHIND_START_M)
    low, _ = layout_extent(layout, MAP_MARGIN_M)
    layout = layout.translated(-low)  # global map coordinates are positive (nuScenes map masks start at 0, 0)
    builder = _TrafficBuilder(config, layout, rng)
    ego_lane = layout.ego_lane
    start_s = BEHIND_START_M
    i = int(start_s / PATH_SPACING_M)
    heading = float(headings(ego_lane)[i])
    ego = EgoState(x=float(ego_lane[i, 0]), y=float(ego_lane[i, 1]), yaw=heading, speed=cruise * float(rng.uniform(0.6, 1.0)))
    builder.populate(start_s)
    paths, agents = builder.finish()
    # Drawn last, so that worlds without these situations keep every earlier random draw.
    lights = _place_lights(layout, traffic, rng) if traffic.traffic_light_probability > 0 else None
    _draw_jaywalkers_and_brakers(agents, traffic, config.scene.duration_s, rng)
    return World(layout, paths, agents, ego, cruise, lights)


def _place_lights(layout: RoadLayout, traffic, rng: np.random.Generator) -> TrafficLights:
    """A signal at each route intersection with ``traffic_light_probability``: stop line before the
    zebra, head across the junction on the right, facing the ego (visible while it waits)."""
    lane = layout.ego_lane
    rows = []
    for inter in layout.intersections:
        if rng.random() >= traffic.traffic_light_probability:
            continue
        right = unit(inter.heading - np.pi / 2)
        entry = inter.center - unit(inter.heading) * inter.size / 2 + right * layout.lane_width / 2
        stop_s = int(np.linalg.norm(lane - entry, axis=1).argmin()) * PATH_SPACING_M - STOP_LINE_BEFORE_SQUARE_M
        head = inter.center + unit(inter.heading) * inter.size / 2 + right * (layout.lane_width / 2 + layout.shoulder_width + 0.8)
        cycle = (uniform(rng, traffic.light_green_s), uniform(rng, traffic.light_red_s))
        rows.append((stop_s, head, inter.heading, *cycle, rng.uniform(0.0, cycle[0] + YELLOW_S + cycle[1])))
    if not rows:
        return TrafficLights.empty()
    stop_s, head, yaw, green, red, offset = zip(*rows)
    return TrafficLights(np.array(stop_s), np.array(head), np.array(yaw), np.array(green), np.array(red), np.array(offset))


def _draw_jaywalkers_and_brakers(agents: Agents, traffic, duration_s: float, rng: np.random.Generator) -> None:
    """Marks walkers who step out when the ego approaches and cars in the ego's lane that brake once."""
    if traffic.jaywalker_fraction > 0:
        for i in np.flatnonzero(agents.kind == PEDESTRIAN):
            if rng.random() < traffic.jaywalker_fraction:
                agents.jaywalk_m[i] = rng.uniform(15.0, 35.0)
                agents.go_time[i] = 0.0
    if traffic.lead_brake_probability > 0:
        for i in np.flatnonzero((agents.path_id == 0) & (agents.kind != PEDESTRIAN) & ~agents.parked):
            if rng.random() < traffic.lead_brake_probability:
                agents.brake[i] = (rng.uniform(1.0, max(duration_s - 4.0, 1.5)), rng.uniform(1.0, 4.0), rng.uniform(2.0, 4.5))


class _TrafficBuilder:
    """Places moving cars, parked cars and pedestrians along a layout."""

    def __init__(self, config: SynthConfig, layout: RoadLayout, rng: np.random.Generator):
        self.config, self.layout, self.rng = config, layout, rng
        self.paths: list[np.ndarray] = []
        self.vanish: list[bool] = []
        self.rows: list[tuple] = []  # (kind, size, colour, path_id, s, speed, desired, go_time, parked)

    def _path(self, points: np.ndarray, vanish_at_end: bool) -> int:
        self.paths.append(resample(points))
        self.vanish.append(vanish_at_end)
        return len(self.paths) - 1

    def _vehicle(self, path_id: int, s: float, speed: float, parked: bool = False) -> None:
        rng, traffic = self.rng, self.config.traffic
        truck = rng.random() < traffic.truck_fraction
        size = (rng.uniform(6.0, 8.5), rng.uniform(2.3, 2.5), rng.uniform(2.8, 3.4)) if truck else \
               (rng.uniform(4.1, 4.9), rng.uniform(1.75, 1.95), rng.uniform(1.45, 1.7))
        palette = self.config.appearance.vehicle_palette_rgb
        colour = palette[rng.integers(len(palette))]
        self.rows.append((TRUCK if truck else CAR, size, colour, path_id, s, speed, 0.0 if parked else speed, 0.0, parked))

    def _spawn_along(self, path_id: int, density_per_100m: float, speed_range, keep_clear: tuple[float, float] | None) -> None:
        length = (len(self.paths[path_id]) - 1) * PATH_SPACING_M
        s = self.rng.uniform(5.0, 25.0)
        mean_gap = 100.0 / max(density_per_100m, 1e-3)
        while s < length - 10.0:
            if keep_clear is None or not keep_clear[0] <= s <= keep_clear[1]:
                self._vehicle(path_id, s, uniform(self.rng, speed_range))
            s += max(14.0, self.rng.exponential(mean_gap))

    def populate(self, ego_start_s: float) -> None:
        rng, traffic, layout = self.rng, self.config.traffic, self.layout
        density = uniform(rng, traffic.cars_per_100m)
        ego_path = self._path(layout.ego_lane, vanish_at_end=True)
        self._spawn_along(ego_path, density, traffic.car_speed_mps, keep_clear=(ego_start_s - 12.0, ego_start_s + 15.0))
        self._spawn_along(self._path(layout.oncoming_lane, vanish_at_end=True), density, traffic.car_speed_mps, None)
        for arm in layout.arms:
            if rng.random() < 0.6:  # a car approaching the junction, stopping at its edge
                inbound = self._path(offset_left(arm, -layout.lane_width / 2)[::-1], vanish_at_end=False)
                self._vehicle(inbound, rng.uniform(0.0, 20.0), uniform(rng, traffic.car_speed_mps))
            if rng.random() < 0.5:  # a car leaving it
                outbound = self._path(offset_left(arm, layout.lane_width / 2), vanish_at_end=True)
                self._vehicle(outbound, rng.uniform(2.0, 10.0), uniform(rng, traffic.car_speed_mps))
        self._park(uniform(rng, traffic.parked_per_100m))
        self._pedestrians(uniform(rng, traffic.pedestrians_per_100m), ego_start_s)

    def _park(self, density_per_100m: float) -> None:
        layout, rng = self.layout, self.rng
        kerb_offset = layout.lane_width + layout.shoulder_width / 2
        for road in self.layout.roads:
            h = headings(road)
            for side in (-1.0, 1.0):
                s = rng.uniform(0, 10)
                while s < (len(road) - 1) * PATH_SPACING_M:
                    i = int(s / PATH_SPACING_M)
                    point = road[i] + side * kerb_offset * unit(h[i] + np.pi / 2)
                    if all(np.linalg.norm(point - j.center) > j.size for j in layout.intersections):
                        yaw = h[i] if side < 0 else h[i] + np.pi
                        path = self._path(np.stack([point, point + 0.5 * unit(yaw)]), vanish_at_end=False)
                        self._vehicle(path, 0.0, 0.0, parked=True)
                    s += max(7.0, rng.exponential(100.0 / max(density_per_100m, 1e-3)))

    def _pedestrians(self, density_per_100m: float, ego_start_s: float) -> None:
        """Crossings at the zebras and mid-block, plus walkers along the pavement."""
        layout, rng, traffic = self.layout, self.rng, self.config.traffic
        kerb = layout.half_width + layout.sidewalk_width / 2
        route, h = layout.route, headings(layout.route)
        count = rng.poisson(density_per_100m * (len(route) * PATH_SPACING_M - ego_start_s) / 100.0)
        crossings = [c for c in layout.crossings]
        for _ in range(count):
            if crossings and rng.random() < 0.5:
                segment = crossings[rng.integers(len(crossings))]
                direction = (segment[1] - segment[0]) / np.linalg.norm(segment[1] - segment[0])
                start, end = segment[0] - direction * (layout.sidewalk_width / 2), segment[1] + direction * (layout.sidewalk_width / 2)
            else:
                i = int(rng.uniform(ego_start_s + 15.0, len(route) * PATH_SPACING_M - 10.0) / PATH_SPACING_M)
                normal = unit(h[i] + np.pi / 2)
                start, end = route[i] - normal * kerb, route[i] + normal * kerb
            if rng.random() < 0.5:
                start, end = end, start
            if rng.random() < 0.25:  # a walker along the pavement instead
                along = unit(float(np.arctan2(*(end - start)[::-1])) + np.pi / 2)
                end = start + along * rng.uniform(15.0, 40.0)
            path = self._path(np.stack([start, end]), vanish_at_end=False)
            height = rng.uniform(1.55, 1.9)
            colour = tuple(int(c) for c in rng.integers(30, 230, size=3))
            go = rng.uniform(0.0, max(self.config.scene.duration_s - 6.0, 0.5))
            self.rows.append((PEDESTRIAN, (0.6, 0.65, height), colour, path, 0.0, 0.0,
                              uniform(rng, traffic.pedestrian_speed_mps), go, False))

    def finish(self) -> tuple[PathBank, Agents]:
        columns = list(zip(*self.rows)) if self.rows else [[]] * 9
        kind, size, colour, path_id, s, speed, desired, go, parked = columns
        agents = Agents(
            kind=np.array(kind, dtype=int), size=np.array(size, dtype=float).reshape(-1, 3),
            colour=np.array(colour, dtype=np.uint8).reshape(-1, 3), path_id=np.array(path_id, dtype=int),
            s=np.array(s, dtype=float), speed=np.array(speed, dtype=float), desired_speed=np.array(desired, dtype=float),
            go_time=np.array(go, dtype=float), parked=np.array(parked, dtype=bool), active=np.ones(len(kind), dtype=bool),
            jaywalk_m=np.full(len(kind), np.inf), brake=np.tile([np.inf, 0.0, 0.0], (len(kind), 1)),
        )
        return PathBank(self.paths, self.vanish), agents


@dataclass
class SceneLog:
    """A simulated scene sampled at the world rate; ``*_at(t)`` interpolates in between."""

    layout: RoadLayout
    agents: Agents  # static attributes (kind, size, colour, parked)
    times: np.ndarray  # (T,) seconds from the scene start
    ego: np.ndarray  # (T, 6) x, y, yaw, speed, accel, steer
    agent_pose: np.ndarray  # (T, A, 4) x, y, yaw, speed
    agent_active: np.ndarray  # (T, A)
    ego_cause: np.ndarray  # (T,) ``CAUSES`` index: what set the expert's acceleration at each step
    lights: TrafficLights

    def _bracket(self, t: float) -> tuple[int, float]:
        f = float(np.clip(np.interp(t, self.times, np.arange(len(self.times))), 0, len(self.times) - 1.000001))
        return int(f), f - int(f)

    def ego_at(self, t: float) -> np.ndarray:
        """x, y, yaw, speed, accel, steer at time ``t``."""
        i, w = self._bracket(t)
        a, b = self.ego[i], self.ego[i + 1].copy()
        b[2] = a[2] + wrap_angle(b[2] - a[2])
        return a * (1 - w) + b * w

    def keyframe_cause(self, t: float, horizon_s: float = 3.0, turn_deg: float = 10.0) -> str:
        """Why the expert's next ``horizon_s`` differ from steady driving: the highest-priority
        constraint that set its acceleration in that window (signal > pedestrian > lead vehicle),
        else ``curve`` when its heading turns by more than ``turn_deg`` or a curve slowed it, else
        ``none``. A label of what the world did, not of how far a predictor errs."""
        window = (self.times >= t - 1e-9) & (self.times <= t + horizon_s + 1e-9)
        seen = set(self.ego_cause[window].tolist())
        for cause in (TRAFFIC_LIGHT, PEDESTRIAN_CAUSE, LEAD_VEHICLE):
            if cause in seen:
                return CAUSES[cause]
        turned = abs(wrap_angle(self.ego_at(min(t + horizon_s, float(self.times[-1])))[2] - self.ego_at(t)[2]))
        return CAUSES[CURVE] if CURVE in seen or turned > np.deg2rad(turn_deg) else CAUSES[NONE]

    def agents_at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(A, 4) x, y, yaw, speed and the active mask at time ``t``."""
        i, w = self._bracket(t)
        a, b = self.agent_pose[i], self.agent_pose[i + 1].copy()
        b[:, 2] = a[:, 2] + wrap_angle(b[:, 2] - a[:, 2])
        return a * (1 - w) + b * w, self.agent_active[i] & self.agent_active[i + 1]


def simulate(world: World, duration_s: float, hz: int) -> SceneLog:
    """Run the world with the expert in control and record every step (inclusive of ``duration_s``)."""
    steps = int(round(duration_s * hz))
    ego = np.zeros((steps + 1, 6))
    pose = np.zeros((steps + 1, len(world.agents), 4))
    active = np.zeros((steps + 1, len(world.agents)), dtype=bool)
    cause = np.zeros(steps + 1, dtype=np.uint8)
    for k in range(steps + 1):
        if k:
            world.step(1.0 / hz)
            cause[k - 1] = world.ego_cause  # the control applied from step k-1 to k
        e, a = world.ego, world.agents
        ego[k] = (e.x, e.y, e.yaw, e.speed, e.accel, e.steer)
        pose[k] = np.stack([world.agent_x, world.agent_y, world.agent_yaw, a.speed], axis=1)
        active[k] = a.active
    ego[0, 4] = ego[1, 4] if steps else 0.0  # the first step has no acceleration history
    cause[-1] = cause[-2] if steps else NONE
    return SceneLog(world.layout, world.agents, np.arange(steps + 1) / hz, ego, pose, active, cause, world.lights)
