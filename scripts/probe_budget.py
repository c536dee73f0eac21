"""How much of the probe's AP is the encoder, how much the probe's own fit? (issue 15 diagnostic)

Fits the ablation's perception probe (``models.perception.fit_linear_probe``: the linear, rank-4-
per-token map from the visual tokens of six cameras to the 16x16 BEV occupancy at +0.5 s) on the
frozen tokens of the untrained and of the workspace's perception-pretrained encoder, with ever more
fitting samples, and scores it on val beside the location prior (each cell scored by its occupancy
rate in the fitting samples, no camera). The ablation's probe is the first row's budget; the ratio
of the two encoders is the issue's "pretrained probe AP >= 2x the untrained one's".

    python scripts/probe_budget.py out/abl10
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evodrive_training.ablation import PRETRAINED, Plan, Workspace, perception_batches
from evodrive_training.models.perception import encode_views, fit_linear_probe, location_prior_ap, probe_metrics
from evodrive_training.models.presets import build_tiny, image_spec, load_pretrained

# (fitting samples, probe steps of 64): the ablation's probe (320 fitted of 384), then more data;
# None = every training sample but the calibration ones.
BUDGETS = ((320, 400), (2000, 400), (None, 3000))
CALIBRATION = 400  # the last training samples: they set the IoU threshold, never fitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", type=Path, help="an `evodrive ablation` output (its plan.json, sample caches and pretrained model)")
    args = parser.parse_args()

    plan = Plan(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads((args.workspace / "plan.json").read_text()).items()})
    ws = Workspace(args.workspace, plan)
    rows = {}
    for name in ("untrained", "pretrained"):
        model, _ = build_tiny(plan.camera_hw, seed=plan.seed) if name == "untrained" else load_pretrained(ws.model(PRETRAINED))
        encode = lambda split: encode_views(model.model.visual, perception_batches(ws, split, image_spec(model), plan.probe_batch, shuffle=True))  # noqa: E731
        train, val = encode("train"), encode("val")  # train shuffled by the plan's seed: the first n are a random subset
        fit_tokens, fit_targets = train[0][:-CALIBRATION], train[1][:-CALIBRATION]
        calibration = (train[0][-CALIBRATION:], train[1][-CALIBRATION:])
        for n, steps in BUDGETS:
            n = len(fit_tokens) if n is None else n
            probe = fit_linear_probe(fit_tokens[:n], fit_targets[:n], steps=steps, seed=plan.seed)
            rows.setdefault((n, steps), {})[name] = probe_metrics(probe, calibration, val, resamples=0)["ap"]
            rows[(n, steps)]["prior"] = location_prior_ap(fit_targets[:n], val[1])
        del train, fit_tokens, fit_targets
    print("| fitting samples | probe steps | location prior AP | untrained AP | pretrained AP | pretrained / untrained |")
    print("|---|---|---|---|---|---|")
    for (n, steps), ap in rows.items():
        print(f"| {n} | {steps} | {ap['prior']:.3f} | {ap['untrained']:.3f} | {ap['pretrained']:.3f} | {ap['pretrained'] / ap['untrained']:.2f} |")


if __name__ == "__main__":
    main()
