"""`evodrive carla` against the in-process stand-in for a CARLA server (no live server exists here):
synchronous mode on and restored, the rig mounted in CARLA's frame, images in RGB at the model's
size, the route command right where CARLA's road bends right, collisions scored, actors cleaned up."""

import argparse
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("carla")
pytest.importorskip("torch")

import carla_standin  # noqa: E402
from evodrive_ros.core.preprocessing import ImageSpec  # noqa: E402
from evodrive_ros.runtime.interface import PlannerInput, PlanResult  # noqa: E402
from evodrive_training import carla_client  # noqa: E402


class CommandFollower:
    """Drives at 8 m/s straight on FORWARD, on a 40 m arc on RIGHT/LEFT: follows the stand-in's road
    only if the command (hence every frame conversion) is right."""

    image_spec = ImageSpec(112, 196)
    model_id = "command-follower"

    def __init__(self):
        self.inputs: list[PlannerInput] = []

    def plan(self, inputs: PlannerInput) -> PlanResult:
        self.inputs.append(inputs)
        s = 8.0 * np.arange(1, 7) * 0.5
        if inputs.command == "FORWARD":
            return PlanResult(waypoints=np.stack([s, np.zeros(6)], axis=1))
        side = -1.0 if inputs.command == "RIGHT" else 1.0
        return PlanResult(waypoints=np.stack([40.0 * np.sin(s / 40.0), side * 40.0 * (1 - np.cos(s / 40.0))], axis=1))


def _args(**overrides) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    carla_client.add_arguments(parser)
    args = parser.parse_args(["unused"])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def test_a_route_through_the_standin_server():
    planner = CommandFollower()
    result = carla_client.drive(carla_standin.module, _args(duration_s=60.0), planner)
    world = carla_standin.Client.worlds[-1]

    assert world.applied[0] == (True, 0.05) and world.applied[-1] == (False, None)  # synchronous while driving, then restored
    assert all(not actor.alive for actor in world.actors) and len(world.actors) == 1 + 6 + 2

    cameras = {a.relative.rotation.yaw: a for a in world.actors if a.type_id == "sensor.camera.rgb"}
    assert sorted(round(y) for y in cameras) == [-180, -110, -55, 0, 55, 110]  # ours: left positive; CARLA: right positive
    front = cameras[0.0]
    assert front.relative.location.x == pytest.approx(1.70 - carla_client.REAR_AXLE_BEHIND_ORIGIN_M) and front.relative.location.z == pytest.approx(1.51)
    assert float(front.attributes["fov"]) == pytest.approx(math.degrees(2 * math.atan(800 / 1266.4)), abs=0.1)

    # the carla preset's topics are carla-ros-bridge's /carla/<role>/<sensor role>/image for these actors
    import yaml

    preset = yaml.safe_load(Path("config/planner_carla.yaml").read_text())["evodrive_planner"]["ros__parameters"]
    vehicle = next(a for a in world.actors if a.type_id.startswith("vehicle."))
    roles = {a.attributes["role_name"] for a in world.actors if a.type_id == "sensor.camera.rgb"}
    assert {f"/carla/{vehicle.attributes['role_name']}/{role}/image" for role in roles} == set(preset["camera_topics"])
    assert preset["odom_topic"] == f"/carla/{vehicle.attributes['role_name']}/odometry"

    image = planner.inputs[0].images["CAM_FRONT"]
    assert image.shape == (112, 196, 3) and tuple(image[0, 0]) == (160, 90, 40)  # BGRA from CARLA -> RGB
    commands = [i.command for i in planner.inputs]
    assert commands[0] == "FORWARD" and "RIGHT" in commands and "LEFT" not in commands  # CARLA's +y bend is our right turn

    assert result["route_completion"] > 0.9 and result["lane_invasions"] == 0
    assert result["collisions"] == {"pedestrian": 0, "vehicle": 0, "static": 1}  # the prop, counted once
    assert result["driving_score"] == pytest.approx(result["route_completion"] * 0.65)
    assert result["plan_cycles"] == len(planner.inputs) and result["skipped_cycles"] == 0


def test_missing_client_says_what_to_install(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name)) if name == "carla" else real_import(name, *a, **k))
    assert carla_client.run(_args(out=Path("unused"))) == 2 and "requirements/carla.txt" in capsys.readouterr().out
