"""An in-process stand-in for the CARLA server, as much of its API as ``evodrive carla`` calls.

The geometry types are the carla package's own (``Location``, ``Rotation``, ``Transform``,
``Vector3D``, ``VehicleControl``); the server side is ours: a road in CARLA's left-handed frame that
runs 120 m along +x and then bends to the right (+y), a vehicle that moves as a kinematic bicycle
under the last ``VehicleControl``, cameras that deliver a BGRA frame on every tick, a collision
sensor that fires while the vehicle overlaps a static prop on the road, a lane-invasion sensor.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import carla
import numpy as np

ROAD_STEP_M = 0.5
PROP_X = 60.0  # a static prop in the middle of the road


def _road() -> np.ndarray:
    straight = np.stack([np.arange(0.0, 120.0, ROAD_STEP_M), np.zeros(240)], axis=1)
    angles = np.arange(1, 200) * ROAD_STEP_M / 40.0  # a right-hand bend of radius 40 m (CARLA: +y is right)
    bend = np.stack([120.0 + 40.0 * np.sin(angles), 40.0 - 40.0 * np.cos(angles)], axis=1)
    return np.vstack([straight, bend])


class Waypoint:
    def __init__(self, road: np.ndarray, index: int):
        self.road, self.index = road, index
        x, y = road[index]
        self.transform = carla.Transform(carla.Location(x=float(x), y=float(y), z=0.0))

    def next(self, distance: float) -> list[Waypoint]:
        index = self.index + int(round(distance / ROAD_STEP_M))
        return [Waypoint(self.road, index)] if index < len(self.road) else []


class Map:
    def __init__(self):
        self.road = _road()

    def get_spawn_points(self) -> list:
        return [carla.Transform(carla.Location(x=0.0, y=0.0, z=0.5), carla.Rotation(yaw=0.0))]

    def get_waypoint(self, location) -> Waypoint:
        return Waypoint(self.road, int(np.argmin(np.hypot(self.road[:, 0] - location.x, self.road[:, 1] - location.y))))


class Blueprint:
    def __init__(self, id: str):
        self.id, self.attributes = id, {}

    def set_attribute(self, key: str, value: str) -> None:
        self.attributes[key] = value


class Actor:
    _next_id = 1

    def __init__(self, world: World, blueprint: Blueprint, transform, parent=None):
        self.world, self.type_id, self.attributes, self.relative, self.parent = world, blueprint.id, dict(blueprint.attributes), transform, parent
        self.id, Actor._next_id = Actor._next_id, Actor._next_id + 1
        self.callback, self.alive = None, True

    def listen(self, callback) -> None:
        self.callback = callback

    def stop(self) -> None:
        self.callback = None

    def destroy(self) -> None:
        self.alive = False


class Vehicle(Actor):
    WHEELBASE_M = 2.9

    def __init__(self, world, blueprint, transform):
        super().__init__(world, blueprint, transform)
        self.x, self.y, self.yaw_deg, self.speed, self.yaw_rate_deg = transform.location.x, transform.location.y, transform.rotation.yaw, 0.0, 0.0
        self.control = carla.VehicleControl()

    def get_transform(self):
        return carla.Transform(carla.Location(x=self.x, y=self.y, z=0.0), carla.Rotation(yaw=self.yaw_deg))

    def get_velocity(self):
        yaw = math.radians(self.yaw_deg)
        return carla.Vector3D(x=self.speed * math.cos(yaw), y=self.speed * math.sin(yaw), z=0.0)

    def get_angular_velocity(self):
        return carla.Vector3D(x=0.0, y=0.0, z=self.yaw_rate_deg)

    def get_physics_control(self):
        return SimpleNamespace(wheels=[SimpleNamespace(max_steer_angle=70.0)])

    def get_control(self):
        return self.control

    def apply_control(self, control) -> None:
        self.control = control

    def step(self, dt: float) -> None:
        """A kinematic bicycle in CARLA's frame: positive steer turns right (yaw grows)."""
        accel = 3.0 * self.control.throttle - 8.0 * self.control.brake
        self.speed = max(0.0, self.speed + accel * dt)
        self.yaw_rate_deg = math.degrees(self.speed * math.tan(math.radians(70.0) * self.control.steer) / self.WHEELBASE_M)
        yaw = math.radians(self.yaw_deg)
        self.x += self.speed * math.cos(yaw) * dt
        self.y += self.speed * math.sin(yaw) * dt
        self.yaw_deg += self.yaw_rate_deg * dt


class World:
    def __init__(self):
        self.settings = SimpleNamespace(synchronous_mode=False, fixed_delta_seconds=None)
        self.applied: list[tuple[bool, float | None]] = []
        self.map, self.actors, self.frame = Map(), [], 100

    def get_settings(self):
        return SimpleNamespace(**vars(self.settings))

    def apply_settings(self, settings) -> None:
        self.settings = SimpleNamespace(**vars(settings))
        self.applied.append((settings.synchronous_mode, settings.fixed_delta_seconds))

    def get_map(self) -> Map:
        return self.map

    def get_blueprint_library(self):
        return SimpleNamespace(find=Blueprint)

    def spawn_actor(self, blueprint: Blueprint, transform, attach_to=None) -> Actor:
        actor = Vehicle(self, blueprint, transform) if blueprint.id.startswith("vehicle.") else Actor(self, blueprint, transform, attach_to)
        self.actors.append(actor)
        return actor

    def tick(self) -> int:
        assert self.settings.synchronous_mode, "the client must drive the server in synchronous mode"
        self.frame += 1
        vehicles = [a for a in self.actors if isinstance(a, Vehicle) and a.alive]
        for vehicle in vehicles:
            vehicle.step(self.settings.fixed_delta_seconds)
        for sensor in [a for a in self.actors if a.callback is not None and a.alive]:
            if sensor.type_id == "sensor.camera.rgb":
                width, height = int(sensor.attributes["image_size_x"]), int(sensor.attributes["image_size_y"])
                bgra = np.full((height, width, 4), (40, 90, 160, 255), dtype=np.uint8)  # a sky-and-road colour, BGRA
                sensor.callback(SimpleNamespace(frame=self.frame, width=width, height=height, raw_data=bgra.tobytes()))
            elif sensor.type_id == "sensor.other.collision" and abs(sensor.parent.x - PROP_X) < 2.5 and abs(sensor.parent.y) < 1.5:
                sensor.callback(SimpleNamespace(frame=self.frame, other_actor=SimpleNamespace(type_id="static.prop.trafficcone01", id=999)))
        return self.frame


class Client:
    worlds: list[World] = []

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    def set_timeout(self, seconds: float) -> None:
        self.timeout = seconds

    def get_world(self) -> World:
        Client.worlds.append(World())
        return Client.worlds[-1]


module = SimpleNamespace(Client=Client, Location=carla.Location, Rotation=carla.Rotation, Transform=carla.Transform,
                         VehicleControl=carla.VehicleControl)
