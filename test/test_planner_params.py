"""The parameter file and the declared parameter specs agree; validation names the bad parameter."""

from __future__ import annotations

import pytest

from conftest import REPO
from evodrive_ros.ros.planner_params import SPECS, ParameterError, check_config, load_params_file


@pytest.mark.parametrize("name", ["planner.yaml"])
def test_shipped_parameter_file_is_complete_and_valid(name: str) -> None:
    values = load_params_file(REPO / "config" / name)
    assert set(values) == set(SPECS)
    check_config(values)


def test_carla_preset_overrides_known_parameters_only() -> None:
    values = load_params_file(REPO / "config" / "planner.yaml")
    values.update(load_params_file(REPO / "config" / "planner_carla.yaml"))
    check_config(values)
    assert values["compressed_images"] is False


@pytest.mark.parametrize(
    "change, message",
    [
        ({"camera_topics": ["/a"]}, "camera_topics: expected one topic per camera"),
        ({"anchor_camera": "CAM_ROOF"}, "anchor_camera"),
        ({"output_frame": "world"}, "output_frame: expected one of"),
        ({"max_input_age_s": 9.0}, "max_input_age_s: expected a value in"),
        ({"compressed_images": "yes"}, "compressed_images: expected bool"),
        ({"colour": "red"}, "colour: unknown parameter"),
        ({"planing_rate_hz": 5.0}, "planing_rate_hz: unknown parameter .did you mean planning_rate_hz"),
    ],
)
def test_bad_values_are_rejected_with_the_parameter_name(change: dict, message: str) -> None:
    values = load_params_file(REPO / "config" / "planner.yaml")
    values.update(change)
    with pytest.raises(ParameterError, match=message):
        check_config(values)


def test_launch_file_compiles() -> None:
    compile((REPO / "launch" / "planner.launch.py").read_text(), "planner.launch.py", "exec")
