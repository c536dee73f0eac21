"""colcon builds the ament_python package and the ament index finds its share files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, VENV_BIN


def test_colcon_build_installs_launch_config_and_executables(tmp_path: Path) -> None:
    build = subprocess.run(
        [str(VENV_BIN / "colcon"), "build", "--paths", str(REPO),
         "--build-base", str(tmp_path / "build"), "--install-base", str(tmp_path / "install")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    prefix = tmp_path / "install" / "evodrive"
    env = dict(os.environ, AMENT_PREFIX_PATH=f"{prefix}{os.pathsep}{Path(sys.prefix)}")
    code = (
        "from ament_index_python.packages import get_package_share_directory as share\n"
        "print(share('evodrive'))\n"
    )
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    share = Path(found.stdout.strip())
    assert share == prefix / "share" / "evodrive"
    for rel in ("launch/planner.launch.py", "config/planner.yaml", "config/planner_carla.yaml", "package.xml"):
        assert (share / rel).is_file(), rel
    # `ros2 run evodrive evodrive_planner` looks in lib/<package>/.
    assert os.access(prefix / "lib" / "evodrive" / "evodrive_planner", os.X_OK)
