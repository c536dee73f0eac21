"""``evodrive demo``: the main job on the shipped default.

1. Drives one scene in the synthetic world and records it as a rosbag2 (MCAP), like a test vehicle.
2. Replays that bag through the real planner node (a separate process on a private ROS domain,
   Fast DDS) running the shipped default student from ``models/``.
3. Scores the published plans against the drive, reports rate and latency, and draws the picture.
Without a shipped model the node runs the model-free kinematic backend, and the demo says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_MODEL = "evodrive-tiny"


def default_model_dir() -> Path | None:
    """The shipped default student (installed share directory or source checkout), if present."""
    from evodrive_ros.ros.planner_params import default_params_file

    candidate = default_params_file().parents[1] / "models" / DEFAULT_MODEL
    return candidate if (candidate / "model.json").is_file() else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--model", type=Path, help=f"model directory (default: models/{DEFAULT_MODEL})")
    parser.add_argument("--seed", type=int, default=7, help="synthetic scene seed")
    parser.add_argument("--mode", choices=("realtime", "lockstep"), default="realtime", help="replay mode")


def run(args: argparse.Namespace) -> int:
    from evodrive_ros.tools import replay
    from evodrive_training.synth import generate_dataset

    world = args.out / "world"
    bag = world / "bags" / "scene-0001"
    if not bag.exists():
        print(f"[1/2] driving one synthetic scene (seed {args.seed}) and recording it to {bag}")
        generate_dataset(world, n_scenes=1, seed=args.seed, bag=True, overwrite=True)
    else:
        print(f"[1/2] reusing the recorded drive {bag}")
    model = args.model or default_model_dir()
    if model is None:
        print("no trained default model is shipped in models/: the node runs the model-free kinematic backend")
    print(f"[2/2] replaying it through the evodrive_planner node ({model or 'kinematic backend'})")
    replay_args = argparse.Namespace(
        bag=bag,
        model=model,
        backend="auto" if model else "kinematic",
        out=args.out / "replay",
        mode=args.mode,
        rate=1.0,
        planning_rate=10.0,
        overwrite=True,
    )
    code = replay.run(replay_args)
    print(f"summary: {replay_args.out / 'summary.json'}   picture: {replay_args.out / 'replay.png'}")
    return code


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
