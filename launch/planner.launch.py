"""Launch the evodrive planner.

    ros2 launch evodrive planner.launch.py model_dir:=/path/to/model
    ros2 launch evodrive planner.launch.py preset:=carla params_file:=my_vehicle.yaml
    ros2 launch evodrive planner.launch.py managed:=true autostart:=false   # a lifecycle manager drives it

Where parameters come from, later wins: the node's defaults (config/planner.yaml in the package),
the preset's overlay (``carla``: config/planner_carla.yaml), ``params_file`` if given, then each
launch argument that is given. An argument left empty changes nothing, so a params file is never
overridden by a launch default. ``camera_remaps`` takes ``from:=to`` pairs separated by commas.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from evodrive_ros.ros.planner_params import NODE_NAME, SPECS

PRESET_FILES = {"nuscenes": [], "carla": ["planner_carla.yaml"]}
BOOLEANS = ("true", "false")


class LaunchArgumentError(RuntimeError):
    """A launch argument outside its choices (launch prints it as one line)."""


def _choice(name: str, value: str, choices) -> str:
    if value not in choices:
        raise LaunchArgumentError(f"{name}:={value}: expected one of {' | '.join(choices)}")
    return value


def _planner(context):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    share = get_package_share_directory("evodrive")
    preset = _choice("preset", arg("preset"), PRESET_FILES)
    params = [os.path.join(share, "config", f) for f in PRESET_FILES[preset]]
    if arg("params_file"):
        if not os.path.isfile(arg("params_file")):
            raise LaunchArgumentError(f"params_file:={arg('params_file')}: no such file")
        params.append(arg("params_file"))
    overrides = {}
    if arg("model_dir"):
        if not os.path.isdir(arg("model_dir")):
            raise LaunchArgumentError(f"model_dir:={arg('model_dir')}: no such directory")
        overrides["model_dir"] = os.path.abspath(arg("model_dir"))
    if arg("backend"):
        overrides["backend"] = _choice("backend", arg("backend"), SPECS["backend"].choices)
    if arg("use_sim_time"):
        overrides["use_sim_time"] = _choice("use_sim_time", arg("use_sim_time").lower(), BOOLEANS) == "true"
    managed = _choice("managed", arg("managed").lower(), BOOLEANS) == "true"
    autostart = arg("autostart").lower() and _choice("autostart", arg("autostart").lower(), BOOLEANS)
    remaps = []
    for pair in filter(None, arg("camera_remaps").split(",")):
        if ":=" not in pair:
            raise LaunchArgumentError(f"camera_remaps: expected from:=to pairs, got {pair!r}")
        remaps.append(tuple(pair.strip().split(":=", 1)))
    common = dict(package="evodrive", executable="evodrive_planner", name=NODE_NAME, output="screen", remappings=remaps)
    if not managed:
        if autostart:
            overrides["autostart"] = autostart == "true"
        return [Node(parameters=[*params, overrides], **common)]
    # Managed: the node waits unconfigured and launch (or a lifecycle manager) drives its transitions.
    node = LifecycleNode(namespace="", parameters=[*params, {**overrides, "autostart": False}], **common)
    if autostart == "false":
        return [node]
    change = lambda transition: EmitEvent(event=ChangeState(  # noqa: E731
        lifecycle_node_matcher=matches_action(node), transition_id=transition))
    activate_when_configured = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, start_state="configuring", goal_state="inactive",
        entities=[change(Transition.TRANSITION_ACTIVATE)]))
    return [activate_when_configured, node, change(Transition.TRANSITION_CONFIGURE)]


def generate_launch_description():
    from_params = "(empty: as the parameter files say)"
    return LaunchDescription(
        [
            DeclareLaunchArgument("model_dir", default_value="", description=f"model directory (model.json + ONNX) {from_params}"),
            DeclareLaunchArgument(
                "backend", default_value="", description=f"{' | '.join(SPECS['backend'].choices)} {from_params}"
            ),
            DeclareLaunchArgument("preset", default_value="nuscenes",
                                  description="nuscenes | carla (carla overlays config/planner_carla.yaml: raw images, bridge topics, sim time)"),
            DeclareLaunchArgument("params_file", default_value="",
                                  description="your parameters YAML, over the package's config/planner.yaml and the preset"),
            DeclareLaunchArgument("use_sim_time", default_value="", description=f"true | false: follow /clock {from_params}"),
            DeclareLaunchArgument("camera_remaps", default_value="", description="topic remaps: from:=to,from:=to"),
            DeclareLaunchArgument("managed", default_value="false",
                                  description="true: start as a managed lifecycle node whose transitions launch drives; "
                                              "false: the node configures and activates itself (autostart)"),
            DeclareLaunchArgument("autostart", default_value="",
                                  description="true | false: bring the node to active at start (false: it waits unconfigured "
                                              f"for a lifecycle manager) {from_params}; managed: true unless false"),
            OpaqueFunction(function=_planner),
        ]
    )
