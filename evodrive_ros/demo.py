"""``evodrive demo``: the main job on the shipped default.

Starts the real planner node as a separate process on a private ROS domain, waits until it is on the
ROS graph, and stops it. Until a trained default model ships in ``models/``, the node runs without a
model and this command says so.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to keep the node running")


def run(args: argparse.Namespace) -> int:
    import rclpy  # the demo is a ROS client itself

    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(1, 100)), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    log = open(args.out / "planner.log", "w", encoding="utf-8")
    planner = subprocess.Popen([sys.executable, "-m", "evodrive_ros.node"], env=env, stdout=log, stderr=subprocess.STDOUT)
    rclpy.init()
    probe = rclpy.create_node("evodrive_demo")
    try:
        deadline = time.monotonic() + 20
        while ("evodrive_planner", "/") not in probe.get_node_names_and_namespaces():
            if time.monotonic() > deadline or planner.poll() is not None:
                print("evodrive demo: the planner node did not come up; see", args.out / "planner.log", file=sys.stderr)
                return 1
            rclpy.spin_once(probe, timeout_sec=0.2)
        print(f"planner node is up on ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}")
        print("no trained default model ships yet: the node runs without a model and publishes diagnostics only")
        time.sleep(args.seconds)
    finally:
        planner.send_signal(signal.SIGTERM)
        planner.wait(timeout=15)
        probe.destroy_node()
        rclpy.try_shutdown()
        log.close()
    print(f"planner stopped cleanly (exit {planner.returncode}); log: {args.out / 'planner.log'}")
    return 0 if planner.returncode == 0 else 1
