"""Perception that self-anchoring can protect: occupancy pretraining and a linear probe.

A freshly built tiny vision encoder knows nothing, so anchoring the student to its "pre-fine-tuning"
encoder would protect nothing. ``train_occupancy`` first teaches the tiny encoder to see: from its
merged visual tokens of the six cameras, predict a coarse bird's-eye-view occupancy grid of the other
road users (the cached 200×200 grid at +0.5 s, max-pooled to ``cells``×``cells``).

The probe measures how much of that an encoder keeps (after SFT, after anchored distillation, ...):
the encoder is frozen and run once over the data, a linear head is fitted on the cached tokens until
it converges (occupied cells are rare, so they are up-weighted in the loss), and it is scored on
held-out samples by average precision over all cells (threshold-free; chance = the positive rate)
and by IoU at the threshold that is best on a calibration slice of train the head was not fitted on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evodrive_ros.core.driving_samples import unpack_occupancy
from evodrive_ros.core.preprocessing import ImageSpec, load_rgb, preprocess_images
from evodrive_training.models.forward import vision_tokens_of


def coarse_occupancy(occupancy_bits: np.ndarray, cells: int = 16) -> np.ndarray:
    """(F, 5000) packed future grids -> (cells, cells) float occupancy of the first future step."""
    grid = unpack_occupancy(occupancy_bits[0])
    block = grid.shape[0] // cells
    return grid[: block * cells, : block * cells].reshape(cells, block, cells, block).any(axis=(1, 3)).astype(np.float32)


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


class PerceptionDataset(torch.utils.data.Dataset):
    """Six current cameras -> coarse occupancy target."""

    def __init__(self, camera_paths: Sequence[Sequence[str]], occupancy_bits: np.ndarray, dataroot: str | Path, spec: ImageSpec, cells: int = 16):
        self.camera_paths, self.occupancy_bits = camera_paths, occupancy_bits
        self.dataroot, self.spec, self.cells = Path(dataroot), spec, cells

    def __len__(self) -> int:
        return len(self.camera_paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        pixels, grid = preprocess_images([load_rgb(self.dataroot / p, self.spec) for p in self.camera_paths[index]], self.spec)
        target = coarse_occupancy(self.occupancy_bits[index], self.cells)
        return {"pixel_values": torch.from_numpy(pixels), "image_grid_thw": torch.from_numpy(grid), "target": torch.from_numpy(target)}


def collate_views(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {
        "pixel_values": torch.cat([i["pixel_values"] for i in items]),
        "image_grid_thw": torch.cat([i["image_grid_thw"] for i in items]),
        "target": torch.stack([i["target"] for i in items]),
    }


def sample_tokens(visual: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Merged visual tokens grouped per sample: [B, N_v, D]."""
    tokens = vision_tokens_of(visual, batch["pixel_values"], batch["image_grid_thw"])
    return tokens.view(batch["target"].shape[0], -1, tokens.shape[-1])


def positive_weight(positive_rate: float) -> torch.Tensor:
    """BCE weight (1 - p) / p of occupied cells (p clamped to [1e-4, 0.5]): balances rare positives."""
    rate = min(max(positive_rate, 1e-4), 0.5)
    return torch.tensor((1 - rate) / rate)


def train_occupancy(
    visual: nn.Module, head: OccupancyProbe, batches: Iterable[dict[str, torch.Tensor]], lr: float = 1e-3, positive_rate: float | None = None
) -> list[float]:
    """Perception pretraining: encoder and head trained together with BCE, one step per batch.

    ``positive_rate``: the share of occupied cells; when given, occupied cells are up-weighted by
    (1 - p) / p, without which the loss is minimised by predicting "empty" everywhere.
    """
    visual.requires_grad_(True).train()
    optimizer = torch.optim.AdamW([*head.parameters(), *visual.parameters()], lr=lr, weight_decay=0.0)
    pos_weight = None if positive_rate is None else positive_weight(positive_rate)
    losses = []
    for batch in batches:
        loss = nn.functional.binary_cross_entropy_with_logits(head(sample_tokens(visual, batch).float()), batch["target"], pos_weight=pos_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def encode_views(visual: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen-encoder tokens [N, N_v, D] and occupancy targets [N, cells, cells] of every batch."""
    visual.eval()
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
