"""Scores resolved predictions against ground truth under both protocols; formats the table."""

from __future__ import annotations

import numpy as np

from evodrive_ros.core.openloop_metrics import PROTOCOLS, OpenLoopAccumulator, protocol_summary
from evodrive_ros.evaluation.ground_truth import GroundTruth
from evodrive_ros.evaluation.predictions import ResolvedPredictions
from evodrive_ros.evaluation.vision_split import VISION_MARGIN_M


def evaluate(gt: GroundTruth, predictions: ResolvedPredictions) -> dict:
    """``{"stp3": {"L2": [...], "collision": [...]}, "uniad": {...}, "n_samples", "n_unparsed"}``, and
    where the GT has keyframe causes the same for the vision-dependent split under ``"vision"``.

    L2 in metres, collision in percent; every GT sample is in the denominator.
    """
    report: dict = {}
    for protocol in PROTOCOLS:
        acc = OpenLoopAccumulator()
        for i in range(len(gt.tokens)):
            acc.add(
                predictions.trajectories[i],
                gt.future_xy[i],
                gt.occupancy(protocol, i),
                mask=gt.future_mask[i],
                columns=gt.columns[protocol],
            )
        report[protocol] = protocol_summary(*acc.per_step(), protocol)
    report["n_samples"] = len(gt.tokens)
    report["n_unparsed"] = len(predictions.unparsed)
    if gt.vision_mask is not None:
        mask, unparsed = gt.vision_mask, set(predictions.unparsed)
        subset = ResolvedPredictions(predictions.trajectories[mask], [t for t, m in zip(gt.tokens, mask) if m and t in unparsed])
        scores = evaluate(gt.subset(mask), subset) if mask.any() else {"n_samples": 0, "n_unparsed": 0}
        report["vision"] = {**scores, "margin_m": VISION_MARGIN_M, "causes": gt.vision_causes}
    return report


def markdown_table(report: dict, name: str = "predictions") -> str:
    """The report as a Markdown table (2 decimals, like the published tables)."""
    header = "| method | protocol | L2 1s | L2 2s | L2 3s | L2 avg | col 1s (%) | col 2s | col 3s | col avg |"
    rule = "|" + "---|" * 10
    rows = [
        f"| {name} | {protocol} | "
        + " | ".join(f"{v:.2f}" for v in np.concatenate([report[protocol]["L2"], report[protocol]["collision"]]))
        + " |"
        for protocol in PROTOCOLS
    ]
    if "vision" in report and report["vision"]["n_samples"]:
        rows += [row.replace(f"| {protocol} |", f"| {protocol} · vision split ({report['vision']['n_samples']}) |")
                 for protocol, row in zip(PROTOCOLS, markdown_table(report["vision"], name).splitlines()[2:])]
    return "\n".join([header, rule, *rows])
