"""The ``evodrive_planner`` node as a child process of a tool (``evodrive replay``, ``evodrive
closedloop --through-node``): started on a private DDS domain with the tool's parameters, its output
in a log file, stopped with SIGTERM as a launch system would."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

LATENCY_TOPIC = "/evodrive_planner/latency_ms"  # the node's end-to-end latency per plan (its ``~/latency_ms``)


def isolate_dds() -> None:
    """A random ``ROS_DOMAIN_ID`` on localhost discovery, unless the caller chose one: two tools (or
    test runs) on one machine do not hear each other."""
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def start_planner(model_dir: Path | None, backend: str, planning_rate_hz: float, use_sim_time: bool, log: Path,
                  max_speed_mps: float = 0.0) -> subprocess.Popen:
    params = [f"backend:={backend}", f"planning_rate_hz:={planning_rate_hz}"]
    if max_speed_mps > 0:  # else the parameter file's limit holds
        params.append(f"max_speed_mps:={float(max_speed_mps)}")
    if model_dir is not None:
        params.append(f"model_dir:={Path(model_dir).resolve()}")
    if use_sim_time:
        params.append("use_sim_time:=true")
    cmd = [sys.executable, "-m", "evodrive_ros.ros.node", "--ros-args", *[x for p in params for x in ("-p", p)]]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as handle:
        return subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT)


def stop_planner(process: subprocess.Popen, timeout_s: float = 20.0) -> int:
    """SIGTERM, then SIGKILL after ``timeout_s``; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
