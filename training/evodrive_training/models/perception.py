"""Perception that self-anchoring can protect: occupancy pretraining and a linear probe.

A freshly built tiny vision encoder knows nothing, so anchoring the student to its "pre-fine-tuning"
encoder would protect nothing. ``train_occupancy`` first teaches the tiny encoder to see: from its
merged visual tokens of the six cameras, predict a coarse bird's-eye-view occupancy grid of the other
road users (the cached 200×200 grid at +0.5 s, max-pooled to ``cells``×``cells``). With dense
labels from the renderer (``synth`` ``write_dense_labels``) it also learns, per visual token, what
is drawn there (background, vehicle, pedestrian, a signal lit green/yellow/red: shares of its 28×28
pixels) and how far the objects in it are: local targets at every token, so the encoder learns to
see what a planner needs — agents and signals and their distance — in far fewer steps than from the
one BEV grid per sample (measured: README, issue 15).

The probe measures how much of that an encoder keeps (after SFT, after anchored distillation, ...):
the encoder is frozen and run once over the data, a linear head is fitted on the cached tokens until
it converges (occupied cells are rare, so they are up-weighted in the loss), and it is scored on
held-out samples by average precision over all cells (threshold-free; chance = the positive rate)
and by IoU at the threshold that is best on a calibration slice of train the head was not fitted on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from evodrive_ros.core.driving_samples import unpack_occupancy
from evodrive_ros.core.preprocessing import ImageSpec, blank_rgb, load_rgb, preprocess_images
from evodrive_training.models.forward import vision_tokens_of
from evodrive_training.models.fast_vision import speed_up_vision
from evodrive_training.synth.nuscenes_writer import DENSE_DIRS, dense_path
from evodrive_training.synth.render import DENSE_LABELS


def coarse_occupancy(occupancy_bits: np.ndarray, cells: int = 16) -> np.ndarray:
    """(F, 5000) packed future grids -> (cells, cells) float occupancy of the first future step."""
    grid = unpack_occupancy(occupancy_bits[0])
    block = grid.shape[0] // cells
    return grid[: block * cells, : block * cells].reshape(cells, block, cells, block).any(axis=(1, 3)).astype(np.float32)


# The drivable-area target: the road ahead, where a plan goes (0-40 m forward, 20 m either side),
# as 16 x 16 cells of 2.5 m. Measured (session 16, ground truth from the renderer): these cells beside
# the ego state cut an MLP's UniAD error on the vision-dependent split from 0.72 to 0.43 m.
ROAD_AHEAD_CELLS = (slice(100, 180), slice(60, 140))  # grid rows x in [0, 40) m, columns y in [-20, 20) m


def coarse_drivable(drivable_bits: np.ndarray, cells: int = 16) -> np.ndarray:
    """(5000,) packed drivable grid -> (cells, cells) float: the drivable share of each cell of the
    area ahead (``ROAD_AHEAD_CELLS``), rows forward, columns left to right as the grid's y."""
    window = unpack_occupancy(drivable_bits)[ROAD_AHEAD_CELLS]
    if window.shape[0] % cells:
        raise ValueError(f"{cells} cells do not divide the {window.shape[0]}-cell road window")
    block = window.shape[0] // cells
    return window.reshape(cells, block, cells, block).mean(axis=(1, 3)).astype(np.float32)


class OccupancyProbe(nn.Module):
    """Linear map from all visual tokens of a sample to occupancy logits (factorised to stay small)."""

    def __init__(self, n_tokens: int, hidden_size: int, cells: int = 16, rank: int = 4):
        super().__init__()
        self.per_token = nn.Linear(hidden_size, rank, bias=False)
        self.to_grid = nn.Linear(n_tokens * rank, cells * cells)
        self.cells = cells

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, N_v, D] -> [B, cells, cells] logits."""
        return self.to_grid(self.per_token(tokens).flatten(1)).view(-1, self.cells, self.cells)


def token_blocks(image: np.ndarray, block: int) -> np.ndarray:
    """(H, W) per-pixel array -> (T, block²): the pixels of each merged visual token (``block``×``block``,
    row-major as the encoder orders its tokens)."""
    h, w = image.shape[0] // block, image.shape[1] // block
    return image[: h * block, : w * block].reshape(h, block, w, block).transpose(0, 2, 1, 3).reshape(h * w, -1)


def token_targets(label: np.ndarray, depth_cm: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per merged visual token (``token_blocks``) of one camera: the share of each ``DENSE_LABELS``
    class (T, C), the log of the mean distance to the objects in it (T,) and the share of its pixels
    that are objects (T,)."""
    labels, depth = token_blocks(label, block), token_blocks(depth_cm.astype(np.float32) / 100.0, block)
    shares = np.stack([(labels == c).mean(axis=1) for c in range(len(DENSE_LABELS))], axis=1)
    objects = depth > 0
    mean_depth = np.where(objects.any(axis=1), (depth * objects).sum(axis=1) / np.maximum(objects.sum(axis=1), 1), 1.0)
    return shares.astype(np.float32), np.log(mean_depth).astype(np.float32), objects.mean(axis=1).astype(np.float32)


class PerceptionDataset(torch.utils.data.Dataset):
    """Six current cameras -> coarse occupancy target, with ``dense`` the per-token class shares
    and object depth from the dataroot's dense labels (``synth`` ``write_dense_labels``), and with
    ``drivable_bits`` (the sample cache's map-mask grids) the drivable area ahead (``road``)."""

    def __init__(self, camera_paths: Sequence[Sequence[str]], occupancy_bits: np.ndarray, dataroot: str | Path, spec: ImageSpec,
                 cells: int = 16, dense: bool = False, drivable_bits: np.ndarray | None = None):
        self.camera_paths, self.occupancy_bits, self.drivable_bits = camera_paths, occupancy_bits, drivable_bits
        self.dataroot, self.spec, self.cells, self.dense = Path(dataroot), spec, cells, dense

    def __len__(self) -> int:
        return len(self.camera_paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        pixels, grid = preprocess_images([load_rgb(self.dataroot / p, self.spec) for p in self.camera_paths[index]], self.spec)
        target = coarse_occupancy(self.occupancy_bits[index], self.cells)
        item = {"pixel_values": torch.from_numpy(pixels), "image_grid_thw": torch.from_numpy(grid), "target": torch.from_numpy(target)}
        if self.drivable_bits is not None:
            item["road"] = torch.from_numpy(coarse_drivable(self.drivable_bits[index], self.cells))
        if self.dense:
            shares, log_depth, objects = zip(*(token_targets(*self.dense_labels(p), self.spec.patch_size * self.spec.merge_size) for p in self.camera_paths[index]))
            item.update(shares=torch.from_numpy(np.concatenate(shares)), log_depth=torch.from_numpy(np.concatenate(log_depth)),
                        objects=torch.from_numpy(np.concatenate(objects)))
        return item

    def dense_labels(self, image_file: str) -> tuple[np.ndarray, np.ndarray]:
        """The label and depth PNGs of one camera image, at the model's input size."""
        arrays = []
        for folder in (DENSE_DIRS["label"], DENSE_DIRS["depth"]):
            path = self.dataroot / dense_path(image_file, folder)
            array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if array is None:
                raise ValueError(f"{path}: missing; make the dataroot with write_dense_labels: true")
            if array.shape[:2] != (self.spec.height, self.spec.width):
                array = cv2.resize(array, (self.spec.width, self.spec.height), interpolation=cv2.INTER_NEAREST)
            arrays.append(array)
        return arrays[0], arrays[1]


def collate_views(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    batch = {
        "pixel_values": torch.cat([i["pixel_values"] for i in items]),
        "image_grid_thw": torch.cat([i["image_grid_thw"] for i in items]),
        "target": torch.stack([i["target"] for i in items]),
    }
    for key in ("shares", "log_depth", "objects", "road"):
        if key in items[0]:
            batch[key] = torch.stack([i[key] for i in items])
    return batch


def sample_tokens(visual: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Merged visual tokens grouped per sample: [B, N_v, D]."""
    tokens = vision_tokens_of(visual, batch["pixel_values"], batch["image_grid_thw"])
    return tokens.view(batch["target"].shape[0], -1, tokens.shape[-1])


def positive_weight(positive_rate: float) -> torch.Tensor:
    """BCE weight (1 - p) / p of occupied cells (p clamped to [1e-4, 0.5]): balances rare positives."""
    rate = min(max(positive_rate, 1e-4), 0.5)
    return torch.tensor((1 - rate) / rate)


class DenseHead(nn.Module):
    """Per visual token: logits of the ``DENSE_LABELS`` shares and the log object depth."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, len(DENSE_LABELS) + 1)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.linear(tokens)
        return out[..., :-1], out[..., -1]


def class_weights(shares: np.ndarray, cap: float = 20.0) -> torch.Tensor:
    """Cross-entropy weight per class, (background share / class share)^½ capped at ``cap``: rare
    classes (a signal head is ~0.1 % of the pixels) still shape the tokens."""
    mean = np.maximum(np.asarray(shares, dtype=np.float64).reshape(-1, len(DENSE_LABELS)).mean(axis=0), 1e-6)
    return torch.tensor(np.minimum(np.sqrt(mean[0] / mean), cap), dtype=torch.float32)


def dense_loss(head: DenseHead, tokens: torch.Tensor, batch: dict[str, torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Soft-label cross-entropy on the class shares plus an L1 on log depth where objects are."""
    logits, log_depth = head(tokens)
    soft = batch["shares"] * weights
    classes = -(soft * torch.log_softmax(logits, dim=-1)).sum(-1).sum() / soft.sum().clamp(min=1e-6)
    objects = batch["objects"]
    depth = ((log_depth - batch["log_depth"]).abs() * objects).sum() / objects.sum().clamp(min=1e-6)
    return classes + depth


def train_occupancy(
    visual: nn.Module, head: OccupancyProbe, batches: Iterable[dict[str, torch.Tensor]], lr: float = 1e-3, positive_rate: float | None = None,
    dense: tuple[DenseHead, torch.Tensor] | None = None, road: OccupancyProbe | None = None,
) -> list[float]:
    """Perception pretraining: encoder and head trained together with BCE, one step per batch.

    ``positive_rate``: the share of occupied cells; when given, occupied cells are up-weighted by
    (1 - p) / p, without which the loss is minimised by predicting "empty" everywhere. ``dense``: a
    ``DenseHead`` and its class weights, adding the per-token class and depth loss (batches from a
    ``PerceptionDataset`` with ``dense``). ``road``: a head for the drivable area ahead, adding its
    BCE on the cells' drivable shares (batches with ``road``).
    """
    speed_up_vision(visual).requires_grad_(True).train()
    extra = [*([] if dense is None else dense[0].parameters()), *([] if road is None else road.parameters())]
    optimizer = torch.optim.AdamW([*head.parameters(), *visual.parameters(), *extra], lr=lr, weight_decay=0.0)
    pos_weight = None if positive_rate is None else positive_weight(positive_rate)
    losses = []
    for batch in batches:
        tokens = sample_tokens(visual, batch).float()
        loss = nn.functional.binary_cross_entropy_with_logits(head(tokens), batch["target"], pos_weight=pos_weight)
        if dense is not None:
            loss = loss + dense_loss(dense[0], tokens, batch, dense[1])
        if road is not None:
            loss = loss + nn.functional.binary_cross_entropy_with_logits(road(tokens), batch["road"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


class RoadPerception(nn.Module):
    """The perception-pretrained vision tower, frozen, and its road head: six cameras -> the drivable
    share of each cell of the area ahead (``coarse_drivable``'s grid), for a draft that reads the
    road (``ego_draft.coarse_road``). A copy of its own: the student's tower moves in fine-tuning,
    the head was fitted on the pretrained one's tokens (the self-anchor's)."""

    def __init__(self, visual: nn.Module, head: OccupancyProbe) -> None:
        super().__init__()
        self.visual, self.head = visual, head

    @torch.no_grad()
    def forward(self, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor, n_samples: int) -> torch.Tensor:
        """Preprocessed cameras of ``n_samples`` samples -> [B, cells, cells] drivable shares."""
        tokens = vision_tokens_of(self.visual, pixel_values, image_grid_thw).float()
        return torch.sigmoid(self.head(tokens.view(n_samples, -1, tokens.shape[-1])))

    def save(self, path: str | Path) -> None:
        import safetensors.torch

        head = self.head
        metadata = {"n_tokens": str(head.to_grid.in_features // head.per_token.out_features), "hidden_size": str(head.per_token.in_features),
                    "cells": str(head.cells), "rank": str(head.per_token.out_features)}
        safetensors.torch.save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(path), metadata=metadata)

    @classmethod
    def load(cls, path: str | Path, visual_like: nn.Module) -> RoadPerception:
        """``save``'s file, its tower built as a copy of ``visual_like`` (the same architecture), in eval mode."""
        import copy

        import safetensors
        import safetensors.torch

        with safetensors.safe_open(str(path), "pt") as handle:
            meta = {k: int(v) for k, v in handle.metadata().items()}
        head = OccupancyProbe(meta["n_tokens"], meta["hidden_size"], meta["cells"], meta["rank"])
        perception = cls(copy.deepcopy(visual_like), head)
        perception.load_state_dict(safetensors.torch.load_file(str(path)))
        speed_up_vision(perception.visual)
        return perception.eval().requires_grad_(False)


def road_grids(perception: RoadPerception, camera_paths: Sequence[Sequence[str]], dataroot: str | Path, spec: ImageSpec,
               blank: bool = False, batch_size: int = 32) -> np.ndarray:
    """(N, cells, cells) drivable shares ahead that ``perception`` sees in each sample's cameras
    (``blank``: every camera the uniform grey frame of the images-blanked ablation)."""
    from tqdm import tqdm

    grids = []
    for start in tqdm(range(0, len(camera_paths), batch_size), desc="road ahead", unit="batch"):
        chunk = camera_paths[start:start + batch_size]
        rgb = [blank_rgb(spec) if blank else load_rgb(Path(dataroot) / p, spec) for paths in chunk for p in paths]
        pixels, grid = preprocess_images(rgb, spec)
        grids.append(perception(torch.from_numpy(pixels), torch.from_numpy(grid), len(chunk)).numpy())
    return np.concatenate(grids) if grids else np.zeros((0, perception.head.cells, perception.head.cells), np.float32)


@torch.no_grad()
def encode_views(visual: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen-encoder tokens [N, N_v, D] and occupancy targets [N, cells, cells] of every batch."""
    speed_up_vision(visual).eval()
    tokens, targets = [], []
    for batch in batches:
        tokens.append(sample_tokens(visual, batch).float())
        targets.append(batch["target"])
    return torch.cat(tokens), torch.cat(targets)


def fit_linear_probe(
    tokens: torch.Tensor, targets: torch.Tensor, steps: int = 400, lr: float = 3e-3, batch_size: int = 64, seed: int = 0
) -> OccupancyProbe:
    """A linear occupancy head fitted on cached frozen tokens (mini-batch AdamW, rare positives up-weighted)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    probe = OccupancyProbe(tokens.shape[1], tokens.shape[2], targets.shape[-1])
    pos_weight = positive_weight(float(targets.mean()))
    optimizer = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=1e-2)
    for _ in range(steps):
        index = torch.randint(len(tokens), (min(batch_size, len(tokens)),), generator=generator)
        loss = nn.functional.binary_cross_entropy_with_logits(probe(tokens[index]), targets[index], pos_weight=pos_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return probe.eval()


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision-recall curve, sum of (R_k - R_k-1) * P_k over the distinct score
    thresholds (tied scores enter together, so the order of cells does not matter); NaN without positives."""
    scores, labels = scores.ravel(), labels.ravel().astype(bool)
    if not labels.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    true_pos = np.cumsum(labels)[last_of_tie]
    precision = true_pos / (last_of_tie + 1)
    recall_gain = np.diff(true_pos, prepend=0) / labels.sum()
    return float(np.sum(recall_gain * precision))


def best_iou_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The logit threshold with the highest IoU on (scores, labels) (use samples the probe was not fitted on)."""
    candidates = np.quantile(scores, np.linspace(0.0, 0.999, 200))
    return float(max(candidates, key=lambda t: iou(scores > t, labels)))


def iou(predicted: np.ndarray, labels: np.ndarray) -> float:
    union = np.logical_or(predicted, labels).sum()
    return float(np.logical_and(predicted, labels).sum() / union) if union else 1.0


def location_prior_ap(fit_targets: torch.Tensor, held_out_targets: torch.Tensor) -> float:
    """The probe's floor without any camera: AP on held-out grids when every cell is scored by how
    often it is occupied in the probe's fitting samples. Measured (session 20): on the benchmark the
    untrained encoder's probe scores no more than this (0.169 vs 0.167), so the probe's AP above it
    is what an encoder adds."""
    rates = fit_targets.float().mean(dim=0).numpy()
    labels = held_out_targets.numpy() > 0.5
    return average_precision(np.broadcast_to(rates, labels.shape), labels)


@torch.no_grad()
def probe_scores(probe: OccupancyProbe, tokens: torch.Tensor) -> np.ndarray:
    return probe(tokens).numpy()


def probe_metrics(
    probe: OccupancyProbe, calibration: tuple[torch.Tensor, torch.Tensor], held_out: tuple[torch.Tensor, torch.Tensor], resamples: int = 200
) -> dict[str, float]:
    """Held-out AP (with a 95 % bootstrap interval over held-out samples) and IoU at the threshold
    best on ``calibration`` (samples the probe was not fitted on), and the held-out positive rate
    (the AP of chance)."""
    threshold = best_iou_threshold(probe_scores(probe, calibration[0]), calibration[1].numpy() > 0.5)
    scores, labels = probe_scores(probe, held_out[0]), held_out[1].numpy() > 0.5
    rng = np.random.default_rng(0)
    boot = [average_precision(scores[i], labels[i]) for i in (rng.integers(len(scores), size=len(scores)) for _ in range(resamples))]
    low, high = np.nanpercentile(boot, [2.5, 97.5]) if resamples else (np.nan, np.nan)
    return {"ap": average_precision(scores, labels), "ap_ci95": [float(low), float(high)], "iou": iou(scores > threshold, labels),
            "threshold": threshold, "positive_rate": float(labels.mean())}
