"""``evodrive baseline {cv,ca,ctrv,ego-mlp} --samples SPLIT --out PRED.json [--train-samples SPLIT]``.

Writes a predictions file (community format) for every sample of a cached split; score it with
``evodrive eval --pred PRED.json --gt SPLIT``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evodrive_ros.core.driving_samples import SampleFormatError, load_split
from evodrive_ros.core.ego_draft import EGO_FIELDS
from evodrive_ros.core.kinematic_prediction import KINEMATIC_MODELS, predict_kinematic
from evodrive_ros.evaluation.predictions import write_predictions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=[*KINEMATIC_MODELS, "ego-mlp"], help="which baseline")
    parser.add_argument("--samples", type=Path, required=True, help="cached split to predict (CACHE/VERSION/SPLIT)")
    parser.add_argument("--out", type=Path, required=True, help="predictions JSON to write")
    parser.add_argument("--train-samples", type=Path, help="ego-mlp: cached split to train on")
    parser.add_argument("--epochs", type=int, default=300, help="ego-mlp: training epochs (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="ego-mlp: random seed (default 0)")
    parser.add_argument("--members", type=int, default=1, help="ego-mlp: average this many MLPs, each seeded apart (default 1; "
                                                              "the learned draft's recipe averages 5)")


def run(args: argparse.Namespace) -> int:
    try:
        target = load_split(args.samples, EGO_FIELDS).arrays
        if args.model == "ego-mlp":
            if args.train_samples is None:
                print("evodrive baseline ego-mlp: --train-samples is required", file=sys.stderr)
                return 2
            train = load_split(args.train_samples, EGO_FIELDS).arrays
    except (OSError, SampleFormatError) as exc:
        print(f"evodrive baseline: {exc}", file=sys.stderr)
        return 2
    if args.model == "ego-mlp":
        from evodrive_training.baselines.ego_mlp import EgoMLPConfig, predict_ego_mlp, train_ego_mlp

        model = train_ego_mlp(train, EgoMLPConfig(epochs=args.epochs, seed=args.seed, members=args.members))
        trajectories = predict_ego_mlp(model, target)
    else:
        trajectories = predict_kinematic(args.model, target["history_xy"], target["history_valid"], target["history_dynamics"])
    write_predictions(args.out, [str(t) for t in target["sample_token"]], trajectories)
    print(f"wrote {len(trajectories)} {args.model} predictions to {args.out}")
    return 0
