"""Shared fixtures: isolated ROS 2 environments for tests that talk over real DDS."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def ros_env() -> dict[str, str]:
    """Environment for a separate ROS process: a random domain, discovery on localhost only."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(random.randint(1, 100))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
    return env


@pytest.fixture(scope="session")
def drive_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s straight drive (six JPEG cameras at 12 Hz, odometry at 50 Hz) as an MCAP rosbag2."""
    from synthetic_bags import write_straight_drive_bag

    path = tmp_path_factory.mktemp("bags") / "straight"
    write_straight_drive_bag(path)
    return path
