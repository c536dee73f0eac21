"""The GPU check (issue 16): skips cleanly without a GPU, and its parity logic on CPU planners."""

import os
import subprocess
import sys
from pathlib import Path

from evodrive_ros.runtime.bench import synthetic_frames
from evodrive_ros.runtime.gpu_check import compare
from evodrive_ros.runtime.interface import PlanResult
from evodrive_ros.runtime.loader import load_planner

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "evodrive-tiny"


def _run_check(path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path}
    return subprocess.run([sys.executable, "-m", "evodrive_ros.runtime.gpu_check", str(MODEL)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_without_a_gpu_the_check_skips_with_exit_zero(tmp_path):
    result = _run_check(str(tmp_path))  # no nvidia-smi on this PATH
    assert result.returncode == 0 and "skipped: no NVIDIA GPU" in result.stdout


def test_a_gpu_without_a_gpu_backend_fails_and_says_what_to_install(tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'Fake GPU 80GB'\n")
    fake.chmod(0o755)
    result = _run_check(str(tmp_path))
    assert result.returncode == 1 and "Fake GPU 80GB" in result.stdout and "CUDA build of onnxruntime" in result.stdout


def test_parity_counts_identical_answers_and_failed_plans():
    frames = synthetic_frames(2, height=90, width=160)
    reference, same = load_planner(MODEL, "onnxruntime", threads=1), load_planner(MODEL, "onnxruntime", threads=1)
    parity = compare(reference, same, "onnxruntime", frames)
    assert (parity.same_text, parity.failures, parity.max_waypoint_diff_m) == (2, 0, 0.0) and parity.agrees(0.0)

    class Broken:
        def plan(self, frame):
            return PlanResult(None, error="CUDA error: out of memory")

    broken = compare(reference, Broken(), "onnxruntime-cuda", frames)
    assert broken.failures == 2 and not broken.agrees(1e9)
