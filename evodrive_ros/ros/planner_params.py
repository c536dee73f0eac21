"""Declared parameters of the planner node: names, types, descriptions, ranges and validation.

Values live in ``config/planner.yaml``; this module says what each one means and what is allowed, so
the node can declare them with descriptors and reject a bad configuration with one clear line. The
validation is a plain function (no DDS) so tests and the launch file can call it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evodrive_ros.core.frames import SensorMount

NODE_NAME = "evodrive_planner"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: type  # str, bool, int, float or list (of str)
    description: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("autostart", bool, "configure and activate at start (false: wait for a lifecycle manager)"),
    ParamSpec("model_dir", str, "model directory (model.json + ONNX); empty starts without a model"),
    ParamSpec("backend", str, "inference backend (kinematic: model-free constant turn rate)",
              choices=("auto", "onnxruntime", "onnxruntime-cuda", "tensorrt", "kinematic")),
    ParamSpec("inference_threads", int, "onnxruntime intra-op threads (1 leaves the other cores to DDS and decoding)",
              low=1, high=64),
    ParamSpec("camera_names", list, "camera names in the model's order (nuScenes channel names)"),
    ParamSpec("camera_topics", list, "image topic of each camera, same order as camera_names"),
    ParamSpec("compressed_images", bool, "subscribe to sensor_msgs/CompressedImage (true) or Image (false)"),
    ParamSpec("anchor_camera", str, "camera whose stamp defines the planning time of a cycle"),
    ParamSpec("odom_topic", str, "nav_msgs/Odometry of the ego vehicle"),
    ParamSpec("command_topic", str, "std_msgs/String route command: LEFT, RIGHT or FORWARD"),
    ParamSpec("default_command", str, "command used until one arrives", choices=("LEFT", "RIGHT", "FORWARD")),
    ParamSpec("path_topic", str, "output nav_msgs/Path"),
    ParamSpec("planning_rate_hz", float, "planning timer rate", low=0.5, high=50.0),
    ParamSpec("max_input_age_s", float, "inputs older than this (vs. the clock) skip the cycle", low=0.01, high=5.0),
    ParamSpec("max_camera_skew_s", float, "largest stamp difference between cameras of one cycle", low=0.0, high=1.0),
    ParamSpec("output_frame", str, "frame of the published path", choices=("odom", "map", "base_link")),
    ParamSpec("max_speed_mps", float, "speed limit of the published plan: a faster plan is re-timed along its path "
              "to this speed (0: no limit)", low=0.0, high=45.0),
    ParamSpec("lidar_mount", str, "this vehicle's LIDAR_TOP on base_link as 'x y yaw_deg', for a model trained in the "
              "lidar trajectory frame; empty: the training data's calibration (the model's manifest)"),
)

# Changing these means new subscriptions or a new model: they are fixed while the node is configured.
RESTART_PARAMS = frozenset(
    {"autostart", "model_dir", "backend", "inference_threads", "camera_names", "camera_topics", "compressed_images", "odom_topic", "command_topic", "path_topic",
     "lidar_mount"}
)

SPECS = {spec.name: spec for spec in PARAMS}
# Declared by rclpy itself; a params file (the carla preset) may set them.
ROS_PARAMS = {"use_sim_time": ParamSpec("use_sim_time", bool, "follow /clock instead of the system clock")}
_ROS_NAMES = ("start_type_description_service",)  # declared by rclpy, not validated here
_ROS_PREFIXES = ("qos_overrides.",)


class ParameterError(ValueError):
    """A parameter value outside its declared type, choices or range."""


def check_value(spec: ParamSpec, value: Any) -> None:
    """Raise ``ParameterError`` naming the parameter if ``value`` is not allowed."""
    if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if spec.type is list:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ParameterError(f"{spec.name}: expected a list of strings, got {value!r}")
    elif not isinstance(value, spec.type) or (spec.type is not bool and isinstance(value, bool)):
        raise ParameterError(f"{spec.name}: expected {spec.type.__name__}, got {value!r}")
    if spec.choices and value not in spec.choices:
        raise ParameterError(f"{spec.name}: expected one of {', '.join(spec.choices)}, got {value!r}")
    if spec.low is not None and not spec.low <= value <= spec.high:
        raise ParameterError(f"{spec.name}: expected a value in [{spec.low}, {spec.high}], got {value!r}")


def check_names(names: Iterable[str]) -> None:
    """Raise ``ParameterError`` for a name that is neither ours nor one rclpy declares itself."""
    for name in names:
        if name not in SPECS and name not in ROS_PARAMS and not name.startswith(_ROS_PREFIXES) and name not in _ROS_NAMES:
            close = difflib.get_close_matches(name, SPECS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ParameterError(f"{name}: unknown parameter{hint}")


def check_config(values: dict[str, Any]) -> None:
    """Validate a full parameter set, including the rules that tie parameters together."""
    check_names(values)
    for name, value in values.items():
        if name in ROS_PARAMS:
            check_value(ROS_PARAMS[name], value)
        elif name in SPECS:
            check_value(SPECS[name], value)
    cameras, topics = values.get("camera_names", []), values.get("camera_topics", [])
    if len(cameras) != len(topics):
        raise ParameterError(f"camera_topics: expected one topic per camera ({len(cameras)}), got {len(topics)}")
    if values.get("anchor_camera") not in cameras:
        raise ParameterError(f"anchor_camera: expected one of camera_names, got {values.get('anchor_camera')!r}")
    parse_lidar_mount(values.get("lidar_mount", ""))


def parse_lidar_mount(text: str) -> SensorMount | None:
    """``lidar_mount`` ('x y yaw_deg', metres and degrees on base_link) -> a mount; '' -> None."""
    if not text.strip():
        return None
    try:
        x, y, yaw_deg = (float(v) for v in text.split())
    except ValueError:
        raise ParameterError(f"lidar_mount: expected 'x y yaw_deg' (three numbers) or empty, got {text!r}") from None
    return SensorMount(x, y, math.radians(yaw_deg))


def default_params_file() -> Path:
    """``planner.yaml`` from the installed share directory, else from the source checkout."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            installed = Path(get_package_share_directory("evodrive")) / "config" / "planner.yaml"
            if installed.is_file():
                return installed
        except (PackageNotFoundError, OSError):  # not installed, or no AMENT_PREFIX_PATH
            pass
    except ImportError:
        pass
    return Path(__file__).resolve().parents[2] / "config" / "planner.yaml"


def load_params_file(path: Path) -> dict[str, Any]:
    """The ``ros__parameters`` of the planner node in a ROS 2 parameters YAML file."""
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    for key in (NODE_NAME, f"/{NODE_NAME}", "/**"):
        if key in doc:
            return dict(doc[key].get("ros__parameters", {}))
    raise ParameterError(f"{path}: no '{NODE_NAME}: ros__parameters:' section")
