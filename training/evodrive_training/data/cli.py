"""``evodrive samples --dataroot DIR --version V --split S --cache DIR``: build or refresh a split cache."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from evodrive_ros.core.frames import TRAJECTORY_FRAMES
from evodrive_training.data.cache import DEFAULT_VAL_FRACTION, build_split
from evodrive_training.data.scene_source import CAN_RULES, HISTORY_PADDINGS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataroot", type=Path, required=True, help="nuScenes-format dataroot")
    parser.add_argument("--version", required=True, help="table folder, e.g. v1.0-trainval, v1.0-mini, v1.0-synth")
    parser.add_argument("--split", action="append", required=True, help="train, val, all, or an official split; repeatable")
    parser.add_argument("--cache", type=Path, required=True, help="cache root; the split lands in CACHE/VERSION/SPLIT")
    parser.add_argument(
        "--val-fraction", type=float, default=DEFAULT_VAL_FRACTION, help="non-official versions: share of scenes in val"
    )
    parser.add_argument("--workers", type=int, default=1, help="scenes built at once in separate processes (same cache as 1)")
    parser.add_argument("--trajectory-frame", choices=TRAJECTORY_FRAMES, default="ego",
                        help="waypoints as the ego pose's path (ego) or as LIDAR_TOP's path in its frame, the community "
                             "evaluation files' and so the paper's frame (lidar); recorded in the split and the model")
    parser.add_argument("--can-rule", choices=CAN_RULES, default="nearest",
                        help="CAN values: the nearest message within 0.1 s, pose-based estimates where none (nearest), or as the "
                             "authors' cached data picks them, 0 for scenes without CAN data (authors)")
    parser.add_argument("--history-padding", choices=HISTORY_PADDINGS, default="repeat",
                        help="ego dynamics before the scene start: the first keyframe's repeated (repeat), or, with at most 2 "
                             "previous keyframes, the authors' estimate from the history path (authors; README)")


def run(args: argparse.Namespace) -> int:
    for split in args.split:
        started = time.perf_counter()
        try:
            report = build_split(args.dataroot, args.version, split, args.cache, val_fraction=args.val_fraction,
                                 workers=args.workers, trajectory_frame=args.trajectory_frame,
                                 can_rule=args.can_rule, history_padding=args.history_padding)
        except (FileNotFoundError, ValueError, KeyError) as exc:
            print(f"evodrive samples: {exc}", file=sys.stderr)
            return 2
        wall = time.perf_counter() - started
        print(
            f"{report.split_dir}: {report.n_samples} samples in {len(report.rebuilt) + len(report.reused)} scenes "
            f"({len(report.rebuilt)} rebuilt, {len(report.reused)} reused"
            + (f", {len(report.damaged)} rebuilt because their files had changed: {', '.join(report.damaged)}" if report.damaged else "")
            + (f"; {report.rebuilt_samples / wall:.1f} samples/s with {args.workers} worker(s))" if report.rebuilt else ")")
        )
    return 0
