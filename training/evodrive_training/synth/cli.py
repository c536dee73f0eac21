"""``evodrive synth``: generate a synthetic nuScenes-format dataset (and rosbags)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import ConfigError, SynthConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="dataroot to create")
    parser.add_argument("--scenes", type=int, default=10, help="number of scenes (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed and config give the same data")
    parser.add_argument("--bag", action="store_true", help="also write one rosbag2 (MCAP) per scene under OUT/bags/")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--workers", type=int, default=1,
                        help="scenes simulated and rendered at once, in separate processes (default 1; the output is the same)")
    parser.add_argument("--config", type=Path, help="YAML file with further settings (see config/synth.yaml)")


def run(args: argparse.Namespace) -> int:
    from .dataset import generate_dataset  # heavy imports only when actually generating

    try:
        config = SynthConfig.from_yaml(args.config) if args.config else SynthConfig()
        if args.scenes < 1:
            raise ConfigError(f"--scenes: expected a positive integer, got {args.scenes}")
        root = generate_dataset(args.out, args.scenes, args.seed, config, bag=args.bag, overwrite=args.overwrite, workers=args.workers)
    except (ConfigError, FileExistsError, ValueError) as exc:
        print(f"evodrive synth: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.scenes} scene(s), version {config.version}, to {root}")
    return 0
