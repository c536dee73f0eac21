"""What a vehicle installs: ``requirements/runtime.txt`` alone, in a fresh venv (cached per content of
the requirements, so only the first run pays the ~1 min install). Every ``evodrive_ros`` module
imports there without a training or tools package, the ``evodrive`` command lists only what it can
run, and the node starts with the shipped model and stops cleanly."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

NOT_ON_A_VEHICLE = ("torch", "transformers", "nuscenes", "onnx", "matplotlib", "rosbags", "mcap", "evodrive_training")


@pytest.fixture(scope="module")
def runtime_python() -> Path:
    requirements = (REPO / "requirements" / "runtime.txt").read_bytes()
    key = hashlib.sha256(requirements + sys.version.encode()).hexdigest()[:12]
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "evodrive" / f"runtime-venv-{key}"
    if not (root / ".complete").is_file():
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
        install = subprocess.run([str(root / "bin" / "pip"), "install", "--disable-pip-version-check", "-q", "-r",
                                  str(REPO / "requirements" / "runtime.txt")], capture_output=True, text=True, timeout=900)
        assert install.returncode == 0, install.stdout + install.stderr
        (root / ".complete").touch()
    return root / "bin" / "python"


def _env(ros_env: dict[str, str]) -> dict[str, str]:
    return {**ros_env, "PYTHONPATH": str(REPO)}  # the source tree: evodrive_ros only, never training/


def test_every_runtime_module_imports_without_training_or_tools_packages(runtime_python: Path, ros_env: dict[str, str]) -> None:
    code = (
        "import importlib, json, pkgutil, sys, evodrive_ros\n"
        "names = [m.name for m in pkgutil.walk_packages(evodrive_ros.__path__, 'evodrive_ros.')]\n"
        "for name in names: importlib.import_module(name)\n"
        f"print(json.dumps([names, sorted({{m.split('.')[0] for m in sys.modules}} & set({NOT_ON_A_VEHICLE!r}))]))\n"
    )
    run = subprocess.run([str(runtime_python), "-c", code], env=_env(ros_env), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    names, loaded = json.loads(run.stdout)
    assert {"evodrive_ros.ros.node", "evodrive_ros.runtime.pipeline", "evodrive_ros.tools.replay"} <= set(names)
    assert loaded == []
    for package in NOT_ON_A_VEHICLE:  # the venv really is a vehicle's: none of them can be imported
        probe = subprocess.run([str(runtime_python), "-c", f"import {package}"], env=_env(ros_env), capture_output=True)
        assert probe.returncode != 0, f"{package} is installed in the runtime venv"


def test_the_vehicle_command_lists_only_what_it_can_run(runtime_python: Path, ros_env: dict[str, str]) -> None:
    run = subprocess.run([str(runtime_python), "-m", "evodrive_ros.cli", "--help"], env=_env(ros_env), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "eval" in run.stdout and "bench" in run.stdout
    assert "train" not in run.stdout and "ablation" not in run.stdout
    train = subprocess.run([str(runtime_python), "-m", "evodrive_ros.cli", "train"], env=_env(ros_env), capture_output=True, text=True)
    assert train.returncode == 2 and "requirements/training.txt" in train.stderr
    replay = subprocess.run([str(runtime_python), "-m", "evodrive_ros.cli", "replay", "bag"], env=_env(ros_env), capture_output=True,
                            text=True)
    assert replay.returncode == 2 and "requirements/tools.txt" in replay.stderr


def test_the_node_starts_with_the_shipped_model_and_stops_cleanly(runtime_python: Path, ros_env: dict[str, str]) -> None:
    node = subprocess.Popen([str(runtime_python), "-m", "evodrive_ros.ros.node", "--ros-args", "-p",
                             f"model_dir:={REPO / 'models' / 'evodrive-tiny'}"],
                            env=_env(ros_env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and node.poll() is None:
        lines.append(node.stdout.readline())
        if "planner ready" in lines[-1]:
            break
    node.send_signal(signal.SIGINT)
    rest, _ = node.communicate(timeout=30)
    output = "".join(lines) + rest
    assert "planner ready: " in output, output
    assert node.returncode == 0, output
