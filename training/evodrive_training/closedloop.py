"""``evodrive closedloop``: the planner drives the synthetic world, scored as NAVSIM and CARLA score.

Open-loop L2 rewards copying the ego's own history; here the plans move the car. Per scenario (a
synthetic scene fixed by ``--seed`` and its index, so rows of one table are comparable):

1. the world's expert drives the first ``takeover_s`` seconds, so the odometry history is full;
2. then, at ``plan_hz``, the six cameras are rendered at the ego's actual pose (straight at the
   model's input size, JPEG-encoded as the training images were and decoded by the node's decoder), the ego state is rebuilt
   from the simulated odometry by the node's own ``OdometryBuffer``, the route command is read off
   the route ahead, and the planner plans in this process (lockstep: the world waits for it);
3. ``TrackingController`` (pure pursuit + speed PID, actuator limits) turns the plan into an
   acceleration and a steering angle held for one planning period, and the world advances at its
   own rate. A cycle without a plan (the node's skip reasons: missing or corrupt camera, stale
   odometry, planner busy or refusing, a plan failing ``plan_validation``) keeps the last valid plan
   while it is at most ``max_plan_age_s`` old, then the car brakes at ``FALLBACK_DECEL``.

Other agents replay the expert run's motion (non-reactive, as NAVSIM) or, with ``--reactive``, keep
following their IDM models, which see the ego. Scores (``pdm_metrics``): NC, DAC, TTC, comfort and
ego progress against the expert's run of the same scenario, combined into PDMS over the controlled
part of the run (NAVSIM scores 4 s windows; ours are the whole ``duration_s - takeover_s``), plus
route completion (on-road progress / the expert's), at-fault collisions per km, off-road seconds and
a CARLA-style driving score (route completion × 0.50 per pedestrian, 0.60 per vehicle, 0.65 per
static-object collision; off-road progress does not count toward completion).

Two ceilings: ``expert`` (the world's expert drives throughout) and ``log-future`` (the expert's
path ahead handed to the same controller as a plan, ``LogFuturePlanner``): a planner that fails where
``log-future`` does not fails by its plans, not by the loop.

``--robustness`` drives every planner again under each of ``FAULT_PROFILES`` (faults on the sensor
path, ``Faults``). ``--gif N`` animates the first N scenarios (``closedloop_animation``).
``--through-node`` plans over DDS from the real node's process (``closedloop_node``).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from evodrive_ros.closedloop import pdm_metrics
from evodrive_ros.closedloop.controller import ControllerLimits, PlanFollower, TrackingController
from evodrive_ros.closedloop.route import Route
from evodrive_ros.core.conventions import CAMERAS, FUTURE_STEPS, STEP_S
from evodrive_ros.core.ego_state import OdometryBuffer, OdomSample
from evodrive_ros.core.frames import world_to_ego_xy
from evodrive_ros.core.plan_validation import limit_speed, plan_error
from evodrive_ros.core.preprocessing import decode_image
from evodrive_ros.core.skip_reasons import SkipReason
from evodrive_ros.runtime.interface import Planner, PlannerInput
from evodrive_training import closedloop_node
from evodrive_training.closedloop_node import NodeLink
from evodrive_training.synth import SynthConfig
from evodrive_training.synth.config import WORLDS
from evodrive_training.synth.dataset import scene_renderer, scene_world
from evodrive_training.synth.render import frame_parts
from evodrive_training.synth.world import (
    EGO_CENTRE_AHEAD_M, EGO_LENGTH_M, EGO_REAR_OVERHANG_M, EGO_WIDTH_M, PEDESTRIAN, RED, EgoControl, TrafficLights, World,
)

FALLBACK_DECEL = 4.0  # m/s^2 once no fresh plan is left
SCORING_RADIUS_M = 20.0  # agents farther than this from the ego cannot touch it within a step; skipped when scoring
EXPERT = "expert"
LOG_FUTURE = "log-future"


@dataclass(frozen=True)
class LoopConfig:
    scenarios: int = 20
    seed: int = 3  # the synthetic world seed: the ablation trains on 1 and validates on 2
    duration_s: float = 15.0
    takeover_s: float = 2.0
    plan_hz: float = 10.0
    reactive: bool = False
    max_plan_age_s: float = 0.5
    max_speed_mps: float = 0.0  # the node's speed limit on plans (``plan_validation.limit_speed``; 0: none)
    camera_hw: tuple[int, int] = (112, 196)  # rendered size when the planner has no fixed input size
    vision_world: bool = False  # signals, walkers stepping out, braking lead cars (``synth.config.WORLDS``)

    def synth_config(self, camera_hw: tuple[int, int]) -> SynthConfig:
        height, width = camera_hw
        return SynthConfig.from_dict({"camera": {"width": width, "height": height}, "scene": {"duration_s": self.duration_s},
                                      **WORLDS["vision" if self.vision_world else "default"]})


@dataclass(frozen=True)
class Faults:
    """Faults injected on the sensor path (robustness mode), each drawn per planning cycle from a
    generator seeded by the scenario. What the planner then sees is decided as the node decides it:
    a missing camera or an image that does not decode skips the cycle, odometry older than
    ``max_input_age_s`` skips it, a plan still in flight makes the next cycles ``busy``, and a plan
    that fails ``plan_validation`` is not used. A skipped cycle leaves the last valid plan to the
    controller while it is at most ``LoopConfig.max_plan_age_s`` old; after that the car brakes."""

    camera_dropout: float = 0.0  # probability that one camera's frame is missing
    jpeg_corruption: float = 0.0  # probability that one camera's JPEG is cut short (decodes damaged, or not at all)
    odometry_noise: tuple[float, float, float] = (0.0, 0.0, 0.0)  # std of position m, yaw rad, speed m/s per sample
    odometry_delay_s: float = 0.0  # odometry reaches the planner this late
    latency_spike: float = 0.0  # probability that a plan takes ``spike_s`` to arrive
    spike_s: float = 0.35
    max_input_age_s: float = 0.3  # the node's default (config/planner.yaml)


FAULT_PROFILES = {
    "none": Faults(),
    "camera_dropout": Faults(camera_dropout=0.2),
    "jpeg_corruption": Faults(jpeg_corruption=0.2),
    "odometry_noise": Faults(odometry_noise=(0.05, 0.005, 0.1)),
    "odometry_delay": Faults(odometry_delay_s=0.15),
    "latency_spikes": Faults(latency_spike=0.1),
}


@dataclass
class Rollout:
    """What one run recorded at the world rate: the ego (x, y, yaw, speed), its progress along the
    route, the agents' poses (T, A, 4) and active masks, and the planner's cycles."""

    times: list[float] = field(default_factory=list)
    ego: list[tuple[float, float, float, float]] = field(default_factory=list)
    route_s: list[float] = field(default_factory=list)
    agent_pose: list[np.ndarray] = field(default_factory=list)
    agent_active: list[np.ndarray] = field(default_factory=list)
    plans: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (time, world-frame waypoints) of each valid plan
    cycles: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # SkipReason value -> cycles that produced no plan
    fallback_cycles: int = 0  # cycles driven without a fresh plan (braking)

    @property
    def failed_cycles(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: SkipReason | str) -> None:
        key = reason.value if isinstance(reason, SkipReason) else reason
        self.skipped[key] = self.skipped.get(key, 0) + 1

    def record(self, world: World) -> None:
        e, a = world.ego, world.agents
        self.times.append(world.time)
        self.ego.append((e.x, e.y, e.yaw, e.speed))
        self.route_s.append(world.ego_s)
        self.agent_pose.append(np.stack([world.agent_x, world.agent_y, world.agent_yaw, a.speed], axis=1))
        self.agent_active.append(a.active.copy())


class Scenario:
    """One scenario: a fresh world (``world()``), its renderer (and ground map), the agents' kinds,
    and the expert's run of it (``reference``: progress to compare with, agents to replay)."""

    def __init__(self, config: LoopConfig, index: int, camera_hw: tuple[int, int]):
        self.config, self.index = config, index
        self.synth = config.synth_config(camera_hw)
        world = self.world()
        self.renderer, self.scenery = scene_renderer(self.synth, config.seed, index, world)
        agents = world.agents
        self.agent_kinds = np.where(agents.parked, pdm_metrics.STATIC,
                                    np.where(agents.kind == PEDESTRIAN, pdm_metrics.PEDESTRIAN, pdm_metrics.VEHICLE))
        self.agents = agents  # kinds, sizes and colours (never stepped: rollouts build their own worlds)
        self.lights = world.lights
        self.route = Route(world.layout.ego_lane)
        self.reference = rollout(self, None)
        self.situation = situation(world.layout, np.asarray(self.reference.ego)[int(round(config.takeover_s / self.dt)):, :2])

    def world(self) -> World:
        return scene_world(self.synth, self.config.seed, self.index)

    @property
    def dt(self) -> float:
        return 1.0 / self.synth.scene.sim_hz

    def on_road(self, points: np.ndarray) -> np.ndarray:
        return self.renderer.ground.drivable_at(points)

    def jpegs(self, world: World) -> list[bytes]:
        """The six cameras at the ego's pose, JPEG-encoded as the dataset's images were."""
        pose = np.stack([world.agent_x, world.agent_y, world.agent_yaw, world.agents.speed], axis=1)
        parts = frame_parts(world.agents, pose, world.agents.active, self.scenery, world.lights, world.time)
        return [self.renderer.encode(image) for image, _ in self.renderer.render(np.array([world.ego.x, world.ego.y, world.ego.yaw]), parts)]


SITUATIONS = ("junction turn", "junction straight", "no junction")


def situation(layout, path_xy: np.ndarray) -> str:
    """What the expert's path under control crosses: a junction where the route turns, one it goes
    straight through, or none (a road that may still curve)."""
    found = "no junction"
    for junction, maneuver in zip(layout.intersections, layout.maneuvers):
        if np.min(np.abs(path_xy - junction.center).max(axis=1)) < junction.size / 2:
            if maneuver in ("LEFT", "RIGHT"):
                return "junction turn"
            found = "junction straight"
    return found


def route_command(scenario: Scenario, world: World) -> str:
    """The route command of the car's current state (``Route.command``: the dataset's rule on the route ahead)."""
    return scenario.route.command(world.ego_s, np.array([world.ego.x, world.ego.y]), world.ego.yaw, world.ego.speed)


def rollout(scenario: Scenario, planner: Planner | NodeLink | None, replay: Rollout | None = None, progress: tqdm | None = None,
            faults: Faults = Faults()) -> Rollout:
    """Run ``scenario`` with ``planner`` in control after the take-over (None: the expert drives
    throughout; a ``NodeLink``: the node process plans). ``replay``: the expert's rollout whose
    agents are replayed (non-reactive)."""
    config = scenario.config
    world = scenario.world()
    steps = int(round(config.duration_s / scenario.dt))
    plan_every = max(1, int(round(1.0 / (config.plan_hz * scenario.dt))))
    takeover = int(round(config.takeover_s / scenario.dt))
    cycle = None if planner is None else NodeCycle(scenario, planner) if isinstance(planner, NodeLink) else PlanningCycle(scenario, planner, faults)
    run = Rollout()
    run.record(world)
    control = None
    for k in range(steps):
        if cycle is not None:
            cycle.sense(world)
            if k >= takeover and (k - takeover) % plan_every == 0:
                control = cycle.plan_and_control(world, run, plan_every * scenario.dt)
                if progress is not None:
                    progress.update()
        world.step(scenario.dt, control, move_agents=replay is None or k < takeover)
        if replay is not None and k >= takeover:
            world.place_agents(replay.agent_pose[k + 1], replay.agent_active[k + 1])
        run.record(world)
    return run


class Tracker:
    """The controller's side of a cycle: ``PlanFollower`` (the last valid plan while fresh, else braking)."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.follower = PlanFollower(scenario.config.max_plan_age_s, FALLBACK_DECEL, TrackingController(ControllerLimits()))

    def adopt(self, plan: tuple[float, np.ndarray], run: Rollout) -> None:
        self.follower.adopt(*plan)
        run.plans.append(plan)

    def track(self, world: World, run: Rollout, period_s: float) -> EgoControl:
        e = world.ego
        if not self.follower.fresh(world.time):
            run.fallback_cycles += 1
        accel, steer = self.follower.control(world.time, np.array([e.x, e.y]), e.yaw, e.speed, e.steer, period_s)
        return EgoControl(accel=accel, steer=steer)


class PlanningCycle(Tracker):
    """The planner in this process, fed as the node feeds it: odometry into an ``OdometryBuffer``,
    cameras through the node's JPEG decoder, the node's input checks and plan validation."""

    def __init__(self, scenario: Scenario, planner: Planner, faults: Faults):
        super().__init__(scenario)
        self.planner, self.faults = planner, faults
        self.rng = np.random.default_rng([scenario.config.seed, scenario.index, 7])
        self.buffer = OdometryBuffer()
        self.in_transit: list[OdomSample] = []  # odometry not yet delivered (delay)
        self.pending: tuple[float, tuple[float, np.ndarray]] | None = None  # (arrival time, plan) of a slow plan

    def sense(self, world: World) -> None:
        """One odometry sample per world step, with the configured noise, delivered after the delay."""
        e, (sigma_xy, sigma_yaw, sigma_speed) = world.ego, self.faults.odometry_noise
        noise = self.rng.normal(0.0, 1.0, 4) * (sigma_xy, sigma_xy, sigma_yaw, sigma_speed) if sigma_xy or sigma_yaw or sigma_speed else np.zeros(4)
        self.in_transit.append(OdomSample(world.time, e.x + noise[0], e.y + noise[1], e.yaw + noise[2], e.speed + noise[3], e.yaw_rate))
        while self.in_transit and self.in_transit[0].stamp_s <= world.time - self.faults.odometry_delay_s + 1e-9:
            self.buffer.add(self.in_transit.pop(0))

    def plan_and_control(self, world: World, run: Rollout, period_s: float) -> EgoControl:
        run.cycles += 1
        if self.pending is not None and world.time < self.pending[0] - 1e-9:
            run.skip(SkipReason.BUSY)
        else:
            if self.pending is not None:
                self.adopt(self.pending[1], run)
                self.pending = None
            plan = self._plan(world, run)
            if plan is not None and self.rng.random() < self.faults.latency_spike:
                self.pending = (world.time + self.faults.spike_s, plan)
                run.skip(SkipReason.BUSY)
            elif plan is not None:
                self.adopt(plan, run)
        return self.track(world, run, period_s)

    def _plan(self, world: World, run: Rollout) -> tuple[float, np.ndarray] | None:
        """A new plan from this cycle's inputs, or None (the skip counted)."""
        latest = self.buffer.latest_stamp
        if latest is None or world.time - latest > self.faults.max_input_age_s:
            run.skip(SkipReason.STALE_ODOMETRY)
            return None
        spec = self.planner.image_spec
        images = {}
        if spec is not None:
            jpegs = self.scenario.jpegs(world)
            if self.rng.random() < self.faults.camera_dropout:
                run.skip(SkipReason.MISSING_CAMERA)
                return None
            if self.rng.random() < self.faults.jpeg_corruption:
                k = int(self.rng.integers(len(jpegs)))
                jpegs[k] = jpegs[k][: int(len(jpegs[k]) * self.rng.uniform(0.2, 0.8))]
            try:
                images = {name: decode_image(data, spec) for name, data in zip(CAMERAS, jpegs)}  # the node's decoder
            except ValueError:
                run.skip(SkipReason.CORRUPT_IMAGE)
                return None
        state = self.buffer.ego_state(world.time)
        if isinstance(self.planner, LogFuturePlanner):  # privileged: reads the world, not the sensors
            result = self.planner.plan_from(self.scenario.reference, world)
        else:
            result = self.planner.plan(PlannerInput.from_ego_state(images, state, route_command(self.scenario, world)))
        if not result.ok:
            run.skip(SkipReason.PLANNER_REFUSED)
            return None
        invalid = plan_error(result.waypoints, float(state.dynamics[-1, 0]))
        if invalid is not None:
            run.skip(invalid)
            return None
        return world.time, state.ego_to_odom(limit_speed(result.waypoints, self.scenario.config.max_speed_mps))


class NodeCycle(Tracker):
    """The loop's side of one scenario driven by the node: publish, take the node's plans, track them."""

    def __init__(self, scenario: Scenario, link: NodeLink):
        super().__init__(scenario)
        self.link = link
        self.offset_s = closedloop_node.START_S + scenario.index * closedloop_node.SCENARIO_SPACING_S if link.lockstep else None  # realtime: set at the first step
        self.last_stamp = -np.inf

    def _stamp(self, world: World) -> float:
        if self.offset_s is None:
            self.offset_s = time.time() - world.time
        return self.offset_s + world.time

    def sense(self, world: World) -> None:
        """Odometry at every world step; realtime: the world first waits for the wall clock."""
        stamp = self._stamp(world)
        time.sleep(closedloop_node.LOCKSTEP_ODOMETRY_PACE_S if self.link.lockstep else max(0.0, stamp - time.time()))
        self.link.tick(stamp)
        e = world.ego
        self.link.publish_odometry(stamp, e.x, e.y, e.yaw, e.speed, e.yaw_rate)

    def plan_and_control(self, world: World, run: Rollout, period_s: float) -> EgoControl:
        run.cycles += 1
        stamp = self._stamp(world)
        self.link.publish_command(route_command(self.scenario, world))
        if self.link.lockstep:  # the first cycle follows the whole take-over's odometry: give the node longer to take it in
            time.sleep(closedloop_node.ODOMETRY_SETTLE_S * (20 if run.cycles == 1 else 1))
            self.link.publish_frames(stamp, self.scenario.jpegs(world))
            waypoints = self.link.plan_for(stamp)
            if waypoints is None:
                run.skip("no_plan_from_node")
            else:
                self.adopt((world.time, waypoints), run)
        else:
            newest = self.link.plan_since(self.last_stamp)  # what arrived during the last period
            if newest is None:
                run.skip("no_new_plan_from_node")
            else:
                self.last_stamp = newest[0]
                self.adopt((newest[0] - self.offset_s, newest[1]), run)
            self.link.publish_frames(stamp, self.scenario.jpegs(world))
        return self.track(world, run, period_s)


# --- scoring -----------------------------------------------------------------------------------


def ego_boxes(ego: np.ndarray) -> np.ndarray:
    """(T, 4) rear-axle x, y, yaw, speed -> (T, 5) centre boxes."""
    centre = ego[:, :2] + np.stack([np.cos(ego[:, 2]), np.sin(ego[:, 2])], axis=1) * EGO_CENTRE_AHEAD_M
    return np.column_stack([centre, ego[:, 2], np.full(len(ego), EGO_LENGTH_M), np.full(len(ego), EGO_WIDTH_M)])


def score(scenario: Scenario, run: Rollout, reference: Rollout) -> dict[str, float]:
    """PDM sub-scores, PDMS and the CARLA-style numbers over the controlled part, at 10 Hz."""
    config = scenario.config
    stride = max(1, int(round(0.1 / scenario.dt)))
    first = int(round(config.takeover_s / scenario.dt))
    index = np.arange(first, len(run.times), stride)
    ego = np.asarray(run.ego)[index]
    boxes = ego_boxes(ego)
    kinds = scenario.agent_kinds
    pose = np.asarray(run.agent_pose)[index]
    agents = np.concatenate([pose[..., :3], np.broadcast_to(scenario.agents.size[None, :, :2], pose.shape[:2] + (2,))], axis=-1)
    near = np.hypot(*(pose[..., :2] - boxes[:, None, :2]).transpose(2, 0, 1)) < SCORING_RADIUS_M
    agents = np.where((np.asarray(run.agent_active)[index] & near)[..., None], agents, np.nan)
    velocity = ego[:, 3:4] * np.stack([np.cos(ego[:, 2]), np.sin(ego[:, 2])], axis=1)

    progress = run.route_s[-1] - run.route_s[first]
    reference_progress = reference.route_s[-1] - reference.route_s[first]
    corners_on_road = scenario.on_road(pdm_metrics.box_corners(boxes).reshape(-1, 2)).reshape(len(boxes), 4).all(axis=1)
    step_progress = np.diff(np.asarray(run.route_s)[index], prepend=run.route_s[first])
    on_road_progress = float(np.sum(np.where(corners_on_road, step_progress, 0.0)))
    pdm = pdm_metrics.PdmScore(
        nc=pdm_metrics.no_at_fault_collision(boxes, agents, kinds, ego[:, 3]),
        dac=pdm_metrics.drivable_area_compliance(boxes, scenario.on_road),
        ttc=pdm_metrics.time_to_collision(boxes, velocity, agents, kinds),
        comfort=pdm_metrics.comfort(ego[:, 0], ego[:, 1], ego[:, 2], stride * scenario.dt),
        ep=pdm_metrics.ego_progress(progress, reference_progress),
    )
    collisions = collision_events(boxes, agents, kinds, ego[:, 3])
    front_s = np.asarray(run.route_s)[first:] + EGO_LENGTH_M - EGO_REAR_OVERHANG_M
    red_lights = red_lights_run(front_s, np.asarray(run.times)[first:], scenario.lights)
    distance_km = float(np.sum(np.hypot(*np.diff(ego[:, :2], axis=0).T))) / 1000.0
    route_completion = 1.0 if reference_progress < pdm_metrics.MIN_REFERENCE_PROGRESS_M else float(np.clip(on_road_progress / reference_progress, 0, 1))
    return {**pdm.as_dict(), "route_completion": route_completion,
            "driving_score": pdm_metrics.driving_score(route_completion, collisions, red_lights),
            "collisions": sum(collisions.values()), "collisions_per_km": sum(collisions.values()) / max(distance_km, 1e-3),
            "red_lights": red_lights,
            "off_road_s": float(np.sum(~corners_on_road)) * stride * scenario.dt, "progress_m": progress,
            "reference_progress_m": reference_progress, "cycles": run.cycles, "failed_cycles": run.failed_cycles,
            "skipped": dict(run.skipped), "fallback_cycles": run.fallback_cycles}


def red_lights_run(front_s: np.ndarray, times: np.ndarray, lights: TrafficLights) -> int:
    """Stop lines the ego's front bumper (``front_s``: metres along the route per step) crossed
    while their signal was red."""
    count = 0
    for k, stop_s in enumerate(lights.stop_s):
        crossed = np.flatnonzero((front_s[:-1] < stop_s) & (front_s[1:] >= stop_s))
        count += sum(int(lights.state(float(times[i + 1]))[k] == RED) for i in crossed)
    return count


def collision_events(ego: np.ndarray, agents: np.ndarray, kinds: np.ndarray, ego_speed: np.ndarray) -> dict[int, int]:
    """At-fault collisions (NAVSIM's fault rule; any contact with a static object), each agent counted
    once per contact, by kind."""
    counts = {kind: 0 for kind in pdm_metrics.COLLISION_PENALTY}
    touching = np.zeros(agents.shape[1], dtype=bool)
    for t in range(len(ego)):
        for m in np.flatnonzero(~np.isnan(agents[t, :, 0])):
            contact = pdm_metrics.boxes_overlap(ego[t], agents[t, m])
            if contact and not touching[m] and (kinds[m] == pdm_metrics.STATIC or pdm_metrics.at_fault(ego[t], agents[t, m], float(ego_speed[t]))):
                counts[int(kinds[m])] += 1
            touching[m] = contact
    return counts


# --- planners ----------------------------------------------------------------------------------


class EgoMlpPlanner:
    """The ego-status MLP floor, trained on a cached split (no images); plans as the runtime's
    numpy ``EgoDraft``, the network a draft-residual model ships."""

    image_spec = None
    model_id = "ego-mlp"

    def __init__(self, train_samples: Path, seed: int = 0, epochs: int = 300):
        from evodrive_ros.core.driving_samples import load_split
        from evodrive_ros.core.ego_draft import EGO_FIELDS
        from evodrive_training.baselines.ego_mlp import EgoMLPConfig, as_draft, train_ego_mlp

        self.draft = as_draft(train_ego_mlp(load_split(train_samples, EGO_FIELDS).arrays, EgoMLPConfig(seed=seed, epochs=epochs)))

    def plan(self, inputs: PlannerInput):
        from evodrive_ros.runtime.interface import PlanResult

        return PlanResult(waypoints=self.draft.plan(inputs.history_xy, inputs.history_valid, inputs.dynamics, inputs.command))


class LogFuturePlanner:
    """The expert's own path as the plan (nuPlan's log-future planner): where the expert's run was
    0.5 … 3 s after its point nearest to the car, in the car's frame. It reads the world, so it is
    no planner a car could run: it is the ceiling of what the loop's controller lets a planner
    score, which tells a planner's failure from the loop's."""

    image_spec = None
    model_id = LOG_FUTURE

    def plan_from(self, reference: Rollout, world: World):
        from evodrive_ros.runtime.interface import PlanResult

        ego = np.asarray(reference.ego)
        here = np.array([world.ego.x, world.ego.y])
        nearest = int(np.argmin(np.hypot(*(ego[:, :2] - here).T)))
        dt = reference.times[1] - reference.times[0]
        index = nearest + int(round(STEP_S / dt)) * np.arange(1, FUTURE_STEPS + 1)
        last = ego[-1]  # past the end of the expert's run: on at its last speed and heading
        beyond = np.maximum(index - (len(ego) - 1), 0)[:, None] * dt * last[3] * np.array([np.cos(last[2]), np.sin(last[2])])
        ahead = ego[np.minimum(index, len(ego) - 1), :2] + beyond
        return PlanResult(waypoints=world_to_ego_xy(ahead, here, world.ego.yaw))


def load(name: str, args: argparse.Namespace) -> Planner | LogFuturePlanner | None:
    """A planner by name: ``expert`` (None: the world drives), ``log-future`` (the expert's path,
    tracked), ``cv``/``ctra``/… kinematic, ``ego-mlp``, or a model directory (in this process, or
    with ``--through-node`` the node process)."""
    from evodrive_ros.core.kinematic_prediction import KINEMATIC_MODELS
    from evodrive_ros.runtime.kinematic import KinematicPlanner

    if name == EXPERT:
        return None
    if name == LOG_FUTURE:
        return LogFuturePlanner()
    if name in KINEMATIC_MODELS:
        return KinematicPlanner(name)
    if name == "ego-mlp":
        if args.train_samples is None:
            raise SystemExit("evodrive closedloop: ego-mlp needs --train-samples (a cached split to fit it on)")
        return EgoMlpPlanner(args.train_samples)  # seed 0, as in the ablation's first seed
    if args.through_node:
        return NodeLink(Path(name), args.backend, args.out / "node" / f"{Path(name).name}.log", args.lockstep, args.max_speed)
    from evodrive_ros.runtime.loader import load_planner

    return load_planner(name, args.backend, threads=args.threads)


# --- command -----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("planners", nargs="+", help="model directories and/or baselines: expert, log-future (the expert's path, tracked), cv, ca, ctrv, ctra, ego-mlp")
    parser.add_argument("--scenarios", type=int, default=LoopConfig.scenarios, help=f"scenarios (default {LoopConfig.scenarios})")
    parser.add_argument("--seed", type=int, default=LoopConfig.seed, help=f"synthetic world seed of the scenario set (default {LoopConfig.seed})")
    parser.add_argument("--duration-s", type=float, default=LoopConfig.duration_s, help="scenario length, take-over included")
    parser.add_argument("--reactive", action="store_true", help="other agents react to the ego (IDM) instead of replaying the expert run")
    parser.add_argument("--vision-world", action="store_true",
                        help="scenarios of the vision world: signals (red lights run cost the driving score), walkers stepping out, braking lead cars")
    parser.add_argument("--robustness", action="store_true",
                        help=f"also drive every planner under each fault profile ({', '.join(p for p in FAULT_PROFILES if p != 'none')})")
    parser.add_argument("--through-node", action="store_true",
                        help="the model directory plans in the real evodrive_planner node (separate process, DDS topics of config/planner.yaml)")
    parser.add_argument("--lockstep", action="store_true",
                        help="with --through-node: the world waits for each plan on /clock (default: real time, the node's latency acts)")
    parser.add_argument("--train-samples", type=Path, help="cached split the ego-mlp baseline is fitted on")
    parser.add_argument("--max-speed", type=float, default=LoopConfig.max_speed_mps, metavar="M/S",
                        help="the node's max_speed_mps: plans faster than this are slowed to it along their path (default 0: no limit)")
    parser.add_argument("--backend", default="onnxruntime", help="runtime backend for model directories (default onnxruntime)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--out", type=Path, default=Path("out/closedloop"), help="where closedloop.json/.md go (default out/closedloop)")
    parser.add_argument("--gif", type=int, default=1, metavar="N",
                        help="animate the first N scenarios of every planner (BEV with the plan + front camera) into OUT/gifs (default 1)")


METRICS = ("pdms", "nc", "dac", "ttc", "comfort", "ep", "route_completion", "driving_score", "collisions_per_km", "red_lights",
           "off_road_s", "skipped_share")


def run(args: argparse.Namespace) -> int:
    config = LoopConfig(scenarios=args.scenarios, seed=args.seed, duration_s=args.duration_s, reactive=args.reactive,
                        vision_world=args.vision_world, max_speed_mps=args.max_speed)
    if args.through_node:
        models = [name for name in args.planners if Path(name).is_dir()]
        if len(models) != 1 or args.robustness:
            print("evodrive closedloop: --through-node drives exactly one model directory (one node on the topics), without --robustness")
            return 2
    planners = {name: load(name, args) for name in args.planners}
    try:
        return _drive(args, config, planners)
    finally:
        for planner in planners.values():
            if isinstance(planner, NodeLink):
                planner.close()


def _drive(args: argparse.Namespace, config: LoopConfig, planners: dict) -> int:
    started = time.perf_counter()
    profiles = FAULT_PROFILES if args.robustness else {"none": FAULT_PROFILES["none"]}
    rows = [(name, profile) for name, planner in planners.items() for profile in (profiles if planner is not None else ("none",))]
    label = lambda name, profile: name if profile == "none" else f"{name} [{profile}]"  # noqa: E731
    results: dict[str, list[dict]] = {label(*row): [] for row in rows}
    cycles = int(round((config.duration_s - config.takeover_s) * config.plan_hz))
    names = [Path(name).name for name in planners]  # file names of the animations: the folder's name, the whole path where two share it
    short = {name: Path(name).name if names.count(Path(name).name) == 1 else name.strip("/").replace("/", "_") for name in planners}
    with tqdm(total=config.scenarios * cycles * sum(planners[name] is not None for name, _ in rows), unit="plan", desc="closed loop") as bar:
        for index in range(config.scenarios):
            scenarios: dict[tuple[int, int], Scenario] = {}
            for name, profile in rows:
                planner = planners[name]
                spec = getattr(planner, "image_spec", None)
                hw = (spec.height, spec.width) if spec is not None else config.camera_hw
                if hw not in scenarios:
                    scenarios[hw] = Scenario(config, index, hw)
                scenario = scenarios[hw]
                run_ = scenario.reference if planner is None else rollout(
                    scenario, planner, None if config.reactive else scenario.reference, bar, profiles[profile])
                result = score(scenario, run_, scenario.reference)
                result["skipped_share"] = result["failed_cycles"] / max(result["cycles"], 1)
                results[label(name, profile)].append({"scenario": index, "situation": scenario.situation, "faults": profile, **result})
                if index < args.gif and profile == "none":
                    from evodrive_training.closedloop_animation import write_gif

                    write_gif(scenario, run_, args.out / "gifs" / f"{short[name]}-scenario{index}.gif", f"{short[name]}, scenario {index}")
    summary = {key: {metric: float(np.mean([r[metric] for r in rows_])) for metric in METRICS} for key, rows_ in results.items()}
    report = {"config": {**asdict(config), "fault_profiles": {k: asdict(v) for k, v in profiles.items()},
                         "through_node": args.through_node, "lockstep": args.lockstep,
                         "wall_minutes": round((time.perf_counter() - started) / 60, 2)}, "summary": summary,
              "node_latency_ms": {name: p.latency_summary() for name, p in planners.items() if isinstance(p, NodeLink)},
              "per_scenario": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "closedloop.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "closedloop.md").write_text(markdown(report))
    print((args.out / "closedloop.md").read_text())
    return 0


def markdown(report: dict) -> str:
    config = report["config"]
    lines = [f"# Closed loop on the synthetic world: {config['scenarios']} scenarios (seed {config['seed']}), "
             f"{config['duration_s'] - config['takeover_s']:g} s each under the planner, "
             f"{'reactive' if config['reactive'] else 'non-reactive'} agents; wall {config['wall_minutes']} min", "",
             "| planner | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for name, summary in report["summary"].items():
        lines.append(f"| {name} | " + " | ".join(f"{summary[m]:.3f}" for m in METRICS) + " |")
    counts = {s: sum(r["situation"] == s for r in next(iter(report["per_scenario"].values()))) for s in SITUATIONS}
    lines += ["", "PDMS by what the route does while the planner drives (scenarios: "
              + ", ".join(f"{s} {n}" for s, n in counts.items()) + "):", "",
              "| planner | " + " | ".join(SITUATIONS) + " |", "|---|" + "---|" * len(SITUATIONS)]
    for name, rows in report["per_scenario"].items():
        cells = [f"{np.mean([r['pdms'] for r in rows if r['situation'] == s]):.3f}" if counts[s] else "–" for s in SITUATIONS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, latency in report["node_latency_ms"].items():
        mode = "lockstep: inference off the world's clock" if config["lockstep"] else "real time: acting on the car"
        lines.append(f"\n{name} planned in the evodrive_planner node ({mode}); its end-to-end latency over {latency['n']} plans: "
                     + (f"p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms, max {latency['max']:.1f} ms" if latency["n"] else "none received"))
    return "\n".join(lines) + "\n"
