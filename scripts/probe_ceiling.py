"""How high can the occupancy probe go? (issue 15 diagnostic)

The ablation's perception probe (``models.perception``: a linear, rank-4-per-token map from the 168
visual tokens of six cameras to the 16×16 BEV occupancy at +0.5 s, fitted on 2,000 samples) is
scored here on train scenes held out from the fit, with four kinds of per-token features:
the untrained tiny encoder, the workspace's perception-pretrained encoder, and the renderer's
ground-truth labels of each token's 28×28 pixels — the class shares, log object depth and object
share that dense pretraining regresses (``token_targets``), and those plus the share of the token
that is a vehicle or pedestrian in each of ten distance bins (where along the camera ray the road
user is: what places it in the BEV grid). The ground-truth rows bound what any encoder can give
this probe. Val has no dense labels, hence held-out train scenes.

    python scripts/probe_ceiling.py out/ablation-vision
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from evodrive_ros.core.driving_samples import load_split
from evodrive_training.ablation import PRETRAINED, Plan, Workspace, perception_batches
from evodrive_training.models.perception import coarse_occupancy, encode_views, fit_linear_probe, probe_metrics, token_blocks, token_targets
from evodrive_training.models.presets import build_tiny, image_spec, load_pretrained
from evodrive_training.synth.render import PEDESTRIAN_LABEL, VEHICLE_LABEL

DISTANCE_EDGES_M = (0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 25.0, 30.0, 40.0, 50.0, np.inf)
AGENT_LABELS = (VEHICLE_LABEL, PEDESTRIAN_LABEL)


def label_features(dataset, index: int, block: int, with_bins: bool) -> np.ndarray:
    """(6·T, F) ground-truth features of one sample's tokens: class shares, log depth, object share
    (and with ``with_bins`` the agent share per distance bin)."""
    rows = []
    for image_file in dataset.camera_paths[index]:
        label, depth_cm = dataset.dense_labels(image_file)
        shares, log_depth, objects = token_targets(label, depth_cm, block)
        columns = [shares, log_depth[:, None], objects[:, None]]
        if with_bins:
            agent, metres = np.isin(token_blocks(label, block), AGENT_LABELS), token_blocks(depth_cm.astype(np.float32) / 100.0, block)
            columns.append(np.stack([(agent & (metres >= lo) & (metres < hi)).mean(1) for lo, hi in zip(DISTANCE_EDGES_M[:-1], DISTANCE_EDGES_M[1:])], 1))
        rows.append(np.concatenate(columns, 1))
    return np.concatenate(rows).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", type=Path, help="an `evodrive ablation --world vision` output (dense labels rendered for train)")
    parser.add_argument("--held-out-share", type=float, default=0.2, help="the last scenes of train, never fitted on")
    parser.add_argument("--fit-samples", type=int, default=2400, help="as the ablation's probe: 5/6 fit, 1/6 calibrate the IoU threshold")
    args = parser.parse_args()

    plan = Plan(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads((args.workspace / "plan.json").read_text()).items()})
    ws = Workspace(args.workspace, plan)
    model, _ = load_pretrained(ws.model(PRETRAINED))
    spec = image_spec(model)
    loader = perception_batches(ws, "train", spec, plan.probe_batch, shuffle=False, dense=True)
    dataset = loader.dataset
    scenes = load_split(ws.split("train"), fields=("sample_token",)).index["scenes"]
    scene_of = np.concatenate([np.full(s["n_samples"], k) for k, s in enumerate(scenes)])
    first_held_out = int(len(scenes) * (1 - args.held_out_share))
    fit = np.random.default_rng(plan.seed).permutation(np.flatnonzero(scene_of < first_held_out))[: args.fit_samples]
    held_out = np.flatnonzero(scene_of >= first_held_out)
    n_fit = len(fit) * 5 // 6
    targets = lambda idx: torch.from_numpy(np.stack([coarse_occupancy(dataset.occupancy_bits[i], plan.probe_cells) for i in idx]))  # noqa: E731

    def score(features: torch.Tensor, held: torch.Tensor) -> float:
        mean, std = features.mean((0, 1)), features.std((0, 1)) + 1e-6
        features, held = (features - mean) / std, (held - mean) / std
        fit_targets = targets(fit)
        head = fit_linear_probe(features[:n_fit], fit_targets[:n_fit], steps=plan.probe_steps, seed=plan.seed)
        return probe_metrics(head, (features[n_fit:], fit_targets[n_fit:]), (held, targets(held_out)), resamples=0)["ap"]

    def encoder_tokens(visual, idx) -> torch.Tensor:
        subset = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, idx.tolist()), batch_size=plan.probe_batch, collate_fn=loader.collate_fn)
        return encode_views(visual, tqdm(subset, desc="encode", unit="batch"))[0]

    block = spec.patch_size * spec.merge_size
    rows = {}
    for name, visual in (("untrained encoder", build_tiny(plan.camera_hw, seed=plan.seed)[0].model.visual), ("pretrained encoder", model.model.visual)):
        rows[name] = score(encoder_tokens(visual, fit), encoder_tokens(visual, held_out))
    for name, with_bins in (("labels: class shares, log depth, object share", False), ("labels + agent share per distance bin", True)):
        features = lambda idx: torch.from_numpy(np.stack([label_features(dataset, int(i), block, with_bins) for i in tqdm(idx, desc=name)]))  # noqa: E731
        rows[name] = score(features(fit), features(held_out))
    print(f"probe AP on {len(held_out)} samples of {len(scenes) - first_held_out} held-out train scenes (fitted on {n_fit}):")
    for name, ap in rows.items():
        print(f"  {name:50s} {ap:.3f}  ({ap / rows['untrained encoder']:.2f}x untrained)")


if __name__ == "__main__":
    main()
