"""A vehicle installs the runtime only: no evodrive_ros module may pull torch, transformers or nuscenes."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import evodrive_ros

HEAVY = ("torch", "transformers", "nuscenes")


def test_no_runtime_module_imports_training_dependencies() -> None:
    modules = [m.name for m in pkgutil.walk_packages(evodrive_ros.__path__, "evodrive_ros.")]
    assert "evodrive_ros.ros.node" in modules and "evodrive_ros.core.trajectory_codec" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]\n"
        "print(','.join(sorted(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"runtime imports heavy modules: {out.stdout.strip()}"
