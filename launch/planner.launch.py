"""Launch the evodrive planner (needs a full ROS 2 install with launch_ros).

    ros2 launch evodrive planner.launch.py model_dir:=/path/to/model preset:=nuscenes
    ros2 launch evodrive planner.launch.py preset:=carla use_sim_time:=true

Parameters come from config/planner.yaml (the same file the plain ``evodrive_planner`` entry point
loads); the ``carla`` preset layers config/planner_carla.yaml on top. ``camera_remaps`` takes
``from:=to`` pairs separated by commas for stacks with other topic names.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PRESET_FILES = {"nuscenes": [], "carla": ["planner_carla.yaml"]}


def _planner(context):
    share = get_package_share_directory("evodrive")
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    preset = arg("preset")
    if preset not in PRESET_FILES:
        raise RuntimeError(f"preset: expected one of {', '.join(PRESET_FILES)}, got {preset!r}")
    params = [arg("params_file")] + [os.path.join(share, "config", f) for f in PRESET_FILES[preset]]
    overrides = {"use_sim_time": arg("use_sim_time").lower() == "true", "backend": arg("backend")}
    if arg("model_dir"):
        overrides["model_dir"] = arg("model_dir")
    remaps = [tuple(pair.split(":=", 1)) for pair in arg("camera_remaps").split(",") if ":=" in pair]
    return [
        Node(
            package="evodrive",
            executable="evodrive_planner",
            name="evodrive_planner",
            output="screen",
            parameters=[*params, overrides],
            remappings=remaps,
        )
    ]


def generate_launch_description():
    share = get_package_share_directory("evodrive")
    return LaunchDescription(
        [
            DeclareLaunchArgument("model_dir", default_value="", description="model directory (model.json + ONNX)"),
            DeclareLaunchArgument("backend", default_value="auto", description="auto | onnxruntime | tensorrt"),
            DeclareLaunchArgument(
                "params_file", default_value=os.path.join(share, "config", "planner.yaml"), description="parameters YAML"
            ),
            DeclareLaunchArgument("preset", default_value="nuscenes", description="nuscenes | carla"),
            DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock"),
            DeclareLaunchArgument("camera_remaps", default_value="", description="from:=to,from:=to topic remaps"),
            OpaqueFunction(function=_planner),
        ]
    )
