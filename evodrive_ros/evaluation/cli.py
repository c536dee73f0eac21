"""``evodrive eval --pred PRED --gt GT [--out OUT.json] [--plot DIR]`` (numpy only).

PRED: a predictions JSON list ``[{"id": sample_token, "predict": "[(x,y), ...]"}]`` (x right, y forward).
GT: a split cached by ``evodrive samples`` or a community metrics folder (see ``ground_truth``).
A missing or unparsable prediction is scored as zero motion and counted in ``n_unparsed``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from evodrive_ros.evaluation.ground_truth import GroundTruth, load_ground_truth
from evodrive_ros.evaluation.openloop import evaluate, markdown_table
from evodrive_ros.core.safe_output import OutputRefused, check_output_file, write_json
from evodrive_ros.evaluation.predictions import read_predictions, resolve_predictions

_SHOWN_UNPARSED = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pred", type=Path, required=True, help="predictions JSON ([{'id', 'predict'}])")
    parser.add_argument("--gt", type=Path, required=True, help="cached split directory or community metrics folder")
    parser.add_argument("--out", type=Path, help="write the metrics as JSON here")
    parser.add_argument("--plot", type=Path, help="write BEV pictures of a few samples into this directory")
    parser.add_argument("--n-plots", type=int, default=4, help="how many samples --plot draws (default 4)")
    parser.add_argument("--name", default=None, help="method name in the table (default: PRED file stem)")


_REPORT_TOOL = "evodrive eval"  # marks a file as this command's output: the only kind --out replaces


def run(args: argparse.Namespace) -> int:
    try:
        if args.out:
            check_output_file(args.out, _REPORT_TOOL, [args.pred, args.gt])
    except OutputRefused as exc:
        print(f"evodrive eval: --out {exc}", file=sys.stderr)
        return 2
    try:
        gt = load_ground_truth(args.gt)
        texts = read_predictions(args.pred)
    except (OSError, ValueError) as exc:
        print(f"evodrive eval: {exc}", file=sys.stderr)
        return 2
    predictions = resolve_predictions(texts, gt.tokens)
    report = evaluate(gt, predictions)
    print(markdown_table(report, args.name or args.pred.stem))
    print(f"\n{report['n_samples']} samples, {report['n_unparsed']} unparsed or missing (scored as zero motion)")
    if predictions.unparsed:
        shown = ", ".join(predictions.unparsed[:_SHOWN_UNPARSED])
        print(f"unparsed: {shown}{' ...' if len(predictions.unparsed) > _SHOWN_UNPARSED else ''}", file=sys.stderr)
    if args.out:
        write_json(args.out, {"tool": _REPORT_TOOL, **report})
    if args.plot:
        _write_plots(args.plot, gt, predictions.trajectories, args.n_plots)
    return 0


def _write_plots(directory: Path, gt: GroundTruth, trajectories: np.ndarray, n_plots: int) -> None:
    from evodrive_ros.evaluation.bev_plot import plot_sample

    picks = np.unique(np.linspace(0, len(gt.tokens) - 1, num=min(n_plots, len(gt.tokens))).astype(int))
    for i in picks:
        token = gt.tokens[i]
        plot_sample(
            directory / f"{i:05d}_{token}.png",
            gt.occupancy("uniad", i),
            gt.future_xy[i],
            trajectories[i],
            columns=gt.columns["uniad"],
            title=token,
        )
    print(f"wrote {len(picks)} BEV pictures to {directory}")
