"""``evodrive carla --host H --port P``: the planner drives a CARLA vehicle (client for CARLA 0.9.16).

A thin layer over the closed-loop core: CARLA gives the world, the vehicle and its sensors; the
frames are converted by ``closedloop.carla_frames`` only; odometry feeds the node's
``OdometryBuffer``; the route and its command come from ``closedloop.route``; ``PlanFollower``
tracks the plans (the node's policy for cycles without one); the planner is any runtime backend.

Per run: synchronous mode at ``--dt`` (the world advances only on ``tick``), the ego spawned at
``--spawn`` with the six-camera nuScenes rig (each camera's pose, size and field of view from our rig
and the model's input size), a collision and a lane-invasion sensor, a route of ``--route-m`` metres
of lane centre from the spawn point (junction branches drawn with ``--seed``). A route follower
drives the first ``--warmup-s`` seconds (our pure pursuit on the route at ``--warmup-speed``) so the
odometry history is full; then the planner plans at 10 Hz. The run ends when the route is complete,
at ``--duration-s``, or when the car has stood still for ``STUCK_S``. Reported: route completion,
collisions by kind (each actor once per second of contact), lane invasions and a driving score with
the CARLA leaderboard's collision penalties (``pdm_metrics.driving_score``).

No CARLA server runs on our machines: this module is tested against an in-process stand-in for the
server API (``test/carla_standin.py``), never against a live server.
"""

from __future__ import annotations

import argparse
import json
import math
import queue
from pathlib import Path
from types import ModuleType

import numpy as np

from evodrive_ros.closedloop import carla_frames, pdm_metrics
from evodrive_ros.closedloop.controller import ControllerLimits, PlanFollower, TrackingController
from evodrive_ros.closedloop.route import Route
from evodrive_ros.core.conventions import CAMERAS, FUTURE_TIMES_S
from evodrive_ros.core.ego_state import OdometryBuffer, OdomSample
from evodrive_ros.core.plan_validation import plan_error
from evodrive_ros.core.preprocessing import resize_rgb
from evodrive_ros.runtime.interface import Planner, PlannerInput

# Role names as config/planner_carla.yaml expects them from carla-ros-bridge (/carla/<ego>/<camera>/image),
# so a bridge running beside this client publishes the topics that preset subscribes to.
EGO_ROLE = "ego_vehicle"
STUCK_S = 20.0
SENSOR_WAIT_S = 5.0
ROUTE_STEP_M = 2.0
REAR_AXLE_BEHIND_ORIGIN_M = 1.4  # our ego origin (rear axle) behind CARLA's vehicle origin (about the centre)
MAX_ACCEL_AT_FULL_THROTTLE = 3.0  # m/s^2: a linear map from the controller's acceleration to throttle and brake
MAX_DECEL_AT_FULL_BRAKE = 8.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model directory (or 'kinematic' for the model-free ctrv planner)")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=2000)
    parser.add_argument("--town", help="load this map first (default: the server's current one)")
    parser.add_argument("--spawn", type=int, default=0, help="index of the map's spawn point")
    parser.add_argument("--seed", type=int, default=0, help="junction choices of the route")
    parser.add_argument("--route-m", type=float, default=400.0)
    parser.add_argument("--duration-s", type=float, default=120.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--warmup-speed", type=float, default=6.0)
    parser.add_argument("--dt", type=float, default=0.05, help="synchronous-mode step (the planner runs every 0.1 s)")
    parser.add_argument("--vehicle", default="vehicle.tesla.model3")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the server")
    parser.add_argument("--out", type=Path, default=Path("out/carla"), help="where carla.json goes")


def run(args: argparse.Namespace) -> int:
    try:
        import carla
    except ImportError:
        print("evodrive carla: the CARLA client is not installed: pip install -r requirements/carla.txt")
        return 2
    result = drive(carla, args, load(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "carla.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


def load(args: argparse.Namespace) -> Planner:
    if args.model == "kinematic":
        from evodrive_ros.runtime.kinematic import KinematicPlanner

        return KinematicPlanner()
    from evodrive_ros.runtime.loader import load_planner

    return load_planner(args.model, args.backend)


def drive(carla: ModuleType, args: argparse.Namespace, planner: Planner) -> dict:
    """One route with ``planner`` in control; ``carla`` is the client module (or a stand-in for it)."""
    client = carla.Client(args.host, args.port)
    client.set_timeout(args.timeout)
    world = client.load_world(args.town) if args.town else client.get_world()
    original_settings = world.get_settings()
    settings = world.get_settings()
    settings.synchronous_mode, settings.fixed_delta_seconds = True, args.dt
    world.apply_settings(settings)
    actors = []
    try:
        library = world.get_blueprint_library()
        blueprint = library.find(args.vehicle)
        blueprint.set_attribute("role_name", EGO_ROLE)
        spawn = world.get_map().get_spawn_points()[args.spawn]
        vehicle = world.spawn_actor(blueprint, spawn)
        actors.append(vehicle)
        route = plan_route(world.get_map(), spawn.location, args.route_m, np.random.default_rng(args.seed))
        sensors = Sensors(carla, world, vehicle, planner, actors)
        return _loop(carla, world, vehicle, planner, route, sensors, args)
    finally:
        for actor in reversed(actors):
            if hasattr(actor, "stop"):
                actor.stop()
            actor.destroy()
        world.apply_settings(original_settings)


class Sensors:
    """The six cameras (images queued by frame), a collision and a lane-invasion sensor."""

    def __init__(self, carla: ModuleType, world, vehicle, planner: Planner, actors: list):
        from evodrive_training.synth.camera_rig import build_rig

        library = world.get_blueprint_library()
        spec = planner.image_spec
        self.images: dict[str, queue.Queue] = {name: queue.Queue() for name in CAMERAS}
        self.spec = spec
        if spec is not None:
            for camera in build_rig(spec.width, spec.height):
                blueprint = library.find("sensor.camera.rgb")
                for key, value in (("role_name", camera_role(camera.channel)), ("image_size_x", spec.width), ("image_size_y", spec.height),
                                   ("fov", carla_frames.horizontal_fov_deg(spec.width, camera.intrinsic[0, 0]))):
                    blueprint.set_attribute(key, str(value))
                (x, y, z), (roll, pitch, yaw) = carla_frames.camera_mount(camera.translation, camera.rotation, REAR_AXLE_BEHIND_ORIGIN_M)
                mount = carla.Transform(carla.Location(x=x, y=y, z=z), carla.Rotation(pitch=pitch, yaw=yaw, roll=roll))
                sensor = world.spawn_actor(blueprint, mount, attach_to=vehicle)
                actors.append(sensor)
                sensor.listen(self.images[camera.channel].put)
        self.collisions: list[tuple[int, str, int]] = []  # (frame, kind, other actor id)
        self.lane_invasions = 0
        collision = world.spawn_actor(library.find("sensor.other.collision"), carla.Transform(), attach_to=vehicle)
        actors.append(collision)
        collision.listen(lambda event: self.collisions.append((event.frame, collision_kind(event.other_actor.type_id), event.other_actor.id)))
        invasion = world.spawn_actor(library.find("sensor.other.lane_invasion"), carla.Transform(), attach_to=vehicle)
        actors.append(invasion)
        invasion.listen(lambda event: setattr(self, "lane_invasions", self.lane_invasions + 1))

    def frame_images(self, frame: int) -> dict[str, np.ndarray]:
        """RGB images of ``frame`` at the model's size (older queued images are dropped)."""
        images = {}
        for name, pending in self.images.items():
            image = pending.get(timeout=SENSOR_WAIT_S)
            while image.frame < frame:
                image = pending.get(timeout=SENSOR_WAIT_S)
            bgra = np.frombuffer(image.raw_data, dtype=np.uint8).reshape(image.height, image.width, 4)
            images[name] = resize_rgb(np.ascontiguousarray(bgra[..., 2::-1]), self.spec)
        return images


def camera_role(channel: str) -> str:
    """CAM_FRONT_LEFT -> rgb_front_left (the bridge's sensor id in the ``carla`` preset's topics)."""
    return "rgb_" + channel.removeprefix("CAM_").lower()


def collision_kind(type_id: str) -> int:
    """A CARLA actor type as a ``pdm_metrics`` kind."""
    if type_id.startswith("walker."):
        return pdm_metrics.PEDESTRIAN
    return pdm_metrics.VEHICLE if type_id.startswith("vehicle.") else pdm_metrics.STATIC


def plan_route(carla_map, start, length_m: float, rng: np.random.Generator) -> Route:
    """Lane-centre points every ``ROUTE_STEP_M`` from the waypoint at ``start``, a random branch at forks."""
    waypoint = carla_map.get_waypoint(start)
    points = []
    for _ in range(int(length_m / ROUTE_STEP_M)):
        location = waypoint.transform.location
        points.append(carla_frames.location_to_ros(location.x, location.y, location.z)[:2])
        options = waypoint.next(ROUTE_STEP_M)
        if not options:
            break
        waypoint = options[int(rng.integers(len(options)))]
    return Route(np.array(points))


def ego_odometry(vehicle, time_s: float) -> OdomSample:
    """Our odometry of the rear axle: position, yaw, forward speed, yaw rate (CARLA's, converted)."""
    transform = vehicle.get_transform()
    roll, pitch, yaw = carla_frames.rotation_to_ros(transform.rotation.roll, transform.rotation.pitch, transform.rotation.yaw)
    origin = carla_frames.location_to_ros(transform.location.x, transform.location.y, transform.location.z)[:2]
    heading = np.array([math.cos(yaw), math.sin(yaw)])
    velocity = vehicle.get_velocity()
    speed = float(carla_frames.location_to_ros(velocity.x, velocity.y, velocity.z)[:2] @ heading)
    yaw_rate = -math.radians(vehicle.get_angular_velocity().z)
    rear = origin - heading * REAR_AXLE_BEHIND_ORIGIN_M
    return OdomSample(time_s, float(rear[0]), float(rear[1]), yaw, speed, yaw_rate)


def vehicle_control(carla: ModuleType, accel: float, steer: float, max_steer_rad: float):
    """Our (acceleration, road-wheel angle; positive left) -> CARLA's throttle, brake and steer (positive right)."""
    throttle = float(np.clip(accel / MAX_ACCEL_AT_FULL_THROTTLE, 0.0, 1.0))
    brake = float(np.clip(-accel / MAX_DECEL_AT_FULL_BRAKE, 0.0, 1.0))
    return carla.VehicleControl(throttle=throttle, steer=float(np.clip(-steer / max_steer_rad, -1.0, 1.0)), brake=brake)


def _route_plan(route: Route, s: float, speed: float) -> np.ndarray:
    return np.stack([route.point_at(s + speed * t) for t in FUTURE_TIMES_S])


def _loop(carla: ModuleType, world, vehicle, planner: Planner, route: Route, sensors: Sensors, args: argparse.Namespace) -> dict:
    max_steer = math.radians(vehicle.get_physics_control().wheels[0].max_steer_angle)
    follower = PlanFollower(controller=TrackingController(ControllerLimits(max_steer=max_steer)))
    buffer = OdometryBuffer()
    plan_every = max(1, int(round(0.1 / args.dt)))
    progress, still_since, cycles, skipped, step = 0.0, 0.0, 0, 0, 0
    time_s = 0.0
    while time_s < args.duration_s:
        frame = world.tick()
        step += 1
        time_s = step * args.dt
        odom = ego_odometry(vehicle, time_s)
        buffer.add(odom)
        xy = np.array([odom.x, odom.y])
        progress = route.progress(xy, progress)
        still_since = still_since if odom.speed < 0.1 else time_s
        if progress >= route.length - 2 * ROUTE_STEP_M or time_s - still_since > STUCK_S:
            break
        if step % plan_every:
            continue
        if time_s < args.warmup_s:
            follower.adopt(time_s, _route_plan(route, progress, args.warmup_speed))
        else:
            cycles += 1
            state = buffer.ego_state(time_s)
            images = sensors.frame_images(frame) if sensors.spec is not None else {}
            command = route.command(progress, xy, odom.yaw, odom.speed)
            result = planner.plan(PlannerInput.from_ego_state(images, state, command))
            if result.ok and plan_error(result.waypoints, odom.speed) is None:
                follower.adopt(time_s, state.ego_to_odom(result.waypoints))
            else:
                skipped += 1
        steer_now = -vehicle.get_control().steer * max_steer  # CARLA's normalised steer, positive right
        accel, steer = follower.control(time_s, xy, odom.yaw, odom.speed, steer_now, plan_every * args.dt)
        vehicle.apply_control(vehicle_control(carla, accel, steer, max_steer))
    return summarise(route, progress, sensors, time_s, cycles, skipped, args.dt)


def summarise(route: Route, progress: float, sensors: Sensors, time_s: float, cycles: int, skipped: int, dt: float) -> dict:
    counts, last_contact = {kind: 0 for kind in pdm_metrics.COLLISION_PENALTY}, {}
    for frame, kind, actor in sensors.collisions:  # each actor once per second of contact
        if frame - last_contact.get(actor, -10**9) > 1.0 / dt:
            counts[kind] += 1
        last_contact[actor] = frame
    completion = float(np.clip(progress / route.length, 0.0, 1.0))
    return {"route_completion": completion, "driving_score": pdm_metrics.driving_score(completion, counts), "route_m": route.length,
            "progress_m": progress, "collisions": {pdm_metrics.KIND_NAMES[kind]: n for kind, n in counts.items()},
            "lane_invasions": sensors.lane_invasions,
            "seconds": round(time_s, 2), "plan_cycles": cycles, "skipped_cycles": skipped}
