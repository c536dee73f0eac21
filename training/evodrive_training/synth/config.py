"""Settings of the synthetic world, loaded from YAML and validated key by key.

Ranges are ``[low, high]`` pairs: each scene draws its own value uniformly from them, so held-out
variations (other road widths, denser traffic, dusk lighting) are just another YAML file.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """An invalid setting; the message is one line naming the key and what was expected."""


Range = tuple[float, float]
Colour = tuple[int, int, int]


@dataclass
class SceneConfig:
    duration_s: float = field(default=20.0, metadata={"min": 3.5})  # 2 Hz keyframes: 20 s -> 40 keyframes
    sim_hz: int = field(default=50, metadata={"min": 10})  # world step rate; also the CAN pose rate
    camera_hz: int = field(default=12, metadata={"min": 2})  # camera rate in bags (nuScenes: 12 Hz)
    start_utime: int = field(default=1_700_000_000_000_000, metadata={"min": 0})  # first scene, microseconds
    annotation_range_m: float = field(default=80.0, metadata={"min": 10.0})  # boxes annotated within this distance


@dataclass
class RoadConfig:
    lane_width_m: Range = (3.2, 3.8)
    shoulder_width_m: Range = (2.0, 2.8)  # parking strip on each side
    sidewalk_width_m: Range = (2.0, 3.5)
    curve_radius_m: Range = (35.0, 120.0)
    curve_angle_deg: Range = (15.0, 80.0)
    straight_length_m: Range = (25.0, 70.0)
    intersection_probability: float = field(default=0.45, metadata={"min": 0.0, "max": 1.0})
    curve_probability: float = field(default=0.3, metadata={"min": 0.0, "max": 1.0})
    turn_probability: float = field(default=0.65, metadata={"min": 0.0, "max": 1.0})  # LEFT/RIGHT vs FORWARD
    intersection_corner_m: float = field(default=4.0, metadata={"min": 0.0})  # extra square size: turn radius
    building_spacing_m: Range = (14.0, 30.0)
    building_height_m: Range = (5.0, 18.0)


@dataclass
class TrafficConfig:
    cars_per_100m: Range = (0.6, 1.6)  # moving cars per lane and 100 m of route
    parked_per_100m: Range = (0.5, 2.0)  # parked cars per road side and 100 m
    pedestrians_per_100m: Range = (0.5, 1.5)  # crossing pedestrians per 100 m of route
    truck_fraction: float = field(default=0.15, metadata={"min": 0.0, "max": 1.0})
    car_speed_mps: Range = (7.0, 12.0)
    ego_speed_mps: Range = (8.0, 12.0)
    pedestrian_speed_mps: Range = (1.0, 1.6)
    # Situations only the cameras reveal (issue 15). Off by default: the shipped tiny model and the
    # 200-scene ablation were trained without them; ``config/synth_vision.yaml`` turns them on.
    traffic_light_probability: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})  # per route intersection
    light_green_s: Range = (5.0, 12.0)
    light_red_s: Range = (4.0, 10.0)  # the yellow phase is 3 s
    jaywalker_fraction: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})  # walkers who step out in front of the ego
    lead_brake_probability: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})  # per car in the ego's lane


# The vision world's traffic settings (issue 15; ``config/synth_vision.yaml`` holds the same).
VISION_TRAFFIC: dict[str, float] = {"traffic_light_probability": 0.8, "jaywalker_fraction": 0.5, "lead_brake_probability": 0.3}
WORLDS: dict[str, dict] = {"default": {}, "vision": {"traffic": VISION_TRAFFIC}}  # world name -> settings over the defaults


@dataclass
class CameraConfig:
    width: int = field(default=800, metadata={"min": 32})
    height: int = field(default=450, metadata={"min": 32})
    jpeg_quality: int = field(default=90, metadata={"min": 10, "max": 100})
    fog_start_m: float = field(default=60.0, metadata={"min": 1.0})  # ground fades to the horizon colour
    fog_end_m: float = field(default=160.0, metadata={"min": 2.0})


@dataclass
class AppearanceConfig:
    brightness: Range = (0.75, 1.15)  # per-scene multiplier of every colour
    sun_elevation_deg: Range = (20.0, 70.0)
    sky_rgb: Colour = (135, 180, 230)
    horizon_rgb: Colour = (205, 215, 225)
    grass_rgb: Colour = (92, 120, 70)
    sidewalk_rgb: Colour = (165, 160, 150)
    asphalt_rgb: Colour = (78, 80, 84)
    marking_rgb: Colour = (235, 235, 230)
    center_line_rgb: Colour = (230, 190, 40)
    colour_jitter: float = field(default=12.0, metadata={"min": 0.0})  # per-scene RGB noise on the palette
    vehicle_palette_rgb: list[Colour] = field(
        default_factory=lambda: [
            (200, 30, 30), (30, 60, 160), (230, 230, 230), (20, 20, 20), (150, 150, 155),
            (40, 120, 60), (220, 180, 30), (120, 40, 120), (60, 140, 190), (180, 90, 40),
        ]
    )


@dataclass
class SynthConfig:
    version: str = "v1.0-synth"
    location: str = "synth-town"
    write_instance_masks: bool = False  # 16-bit instance-id PNGs beside the keyframe images (for tests)
    write_dense_labels: bool = False  # per-pixel class and object-depth PNGs of every keyframe image (perception pretraining)
    scene: SceneConfig = field(default_factory=SceneConfig)
    road: RoadConfig = field(default_factory=RoadConfig)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)

    @classmethod
    def from_yaml(cls, path: Path | str) -> "SynthConfig":
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"config file {path}: cannot read YAML ({str(exc).splitlines()[0]})") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> "SynthConfig":
        config = _build(cls, data, prefix="")
        config.validate()
        return config

    def validate(self) -> None:
        """Cross-field checks the per-key types cannot express."""
        if self.camera.fog_end_m <= self.camera.fog_start_m:
            raise ConfigError("config key 'camera.fog_end_m': expected a value greater than camera.fog_start_m")
        if not self.version.startswith("v1.0-"):
            raise ConfigError(f"config key 'version': expected a name starting with 'v1.0-', got {self.version!r}")


def _build(cls: type, data: object, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"config key '{prefix.rstrip('.') or '<root>'}': expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"config key '{prefix}{unknown[0]}': unknown (expected one of {', '.join(fields)})")
    values = {}
    for name, value in data.items():
        key, hint = f"{prefix}{name}", hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, prefix=f"{key}.")
        else:
            values[name] = _coerce(key, hint, value, fields[name].metadata)
    return cls(**values)


def _coerce(key: str, hint: object, value: object, limits: typing.Mapping):
    """Check ``value`` against the annotation ``hint`` and the field's min/max; return the typed value."""
    origin = typing.get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected true or false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (hint is int and not isinstance(value, int)):
            raise ConfigError(f"config key '{key}': expected {'an integer' if hint is int else 'a number'}, got {value!r}")
        if "min" in limits and value < limits["min"]:
            raise ConfigError(f"config key '{key}': expected a value >= {limits['min']}, got {value!r}")
        if "max" in limits and value > limits["max"]:
            raise ConfigError(f"config key '{key}': expected a value <= {limits['max']}, got {value!r}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"config key '{key}': expected a non-empty string, got {value!r}")
        return value
    if hint == Range:
        if not (isinstance(value, (list, tuple)) and len(value) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                and 0 <= value[0] <= value[1]):
            raise ConfigError(f"config key '{key}': expected a range [low, high] with 0 <= low <= high, got {value!r}")
        return (float(value[0]), float(value[1]))
    if hint == Colour:
        if not (isinstance(value, (list, tuple)) and len(value) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)):
            raise ConfigError(f"config key '{key}': expected an RGB colour [r, g, b] of integers 0..255, got {value!r}")
        return tuple(value)
    if origin is list:
        if not isinstance(value, list) or not value:
            raise ConfigError(f"config key '{key}': expected a non-empty list, got {value!r}")
        (item_hint,) = typing.get_args(hint)
        return [_coerce(f"{key}[{i}]", item_hint, item, {}) for i, item in enumerate(value)]
    raise TypeError(f"unsupported config annotation {hint!r} for {key}")
