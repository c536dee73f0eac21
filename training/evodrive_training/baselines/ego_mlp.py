"""Ego-status-only MLP (the AD-MLP / Ego-MLP idea): history, dynamics and command -> 6 waypoints.

It sees no images and no other agents, which is why it is a useful floor: on nuScenes it is known
to score an L2 close to image-based planners. Seeded, small, trains on a CPU in seconds; several of
them averaged (``members``) make the learned draft of the ``draft-residual-t2`` codec.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from evodrive_ros.core.conventions import FUTURE_STEPS
from evodrive_ros.core.ego_draft import EgoDraft, draft_features


@dataclass
class EgoMLPConfig:
    hidden: int = 256
    epochs: int = 300
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    members: int = 1  # >1: that many MLPs, each with its own initialisation and sample order, averaged
    road_cells: int = 0  # >0: the features end with the road ahead (``ego_draft.draft_features``)


class EgoMLP(nn.Module):
    """``members`` MLPs as one module: layer ``i`` is a (members, in, out) weight, so the members
    train in one batched step each, each on its own minibatch, as if fitted one after the other."""

    def __init__(self, n_features: int, hidden: int, mean: np.ndarray, std: np.ndarray, members: int = 1, road_cells: int = 0) -> None:
        super().__init__()
        self.road_cells = road_cells
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        sizes = (n_features, hidden, hidden, FUTURE_STEPS * 2)
        layers = [[nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])] for _ in range(members)]  # torch's initialisation
        self.weights = nn.ParameterList(nn.Parameter(torch.stack([m[i].weight.T for m in layers])) for i in range(len(sizes) - 1))
        self.biases = nn.ParameterList(nn.Parameter(torch.stack([m[i].bias for m in layers])) for i in range(len(sizes) - 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, F) or one minibatch per member (K, B, F) -> every member's plans (K, B, 6, 2)."""
        x = (features - self.mean) / self.std
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w + b[:, None]
            if i < len(self.weights) - 1:
                x = torch.relu(x)
        return x.view(x.shape[0], -1, FUTURE_STEPS, 2)


def train_ego_mlp(train: dict[str, np.ndarray], config: EgoMLPConfig) -> EgoMLP:
    """Fits the MLP(s) with an L1 loss on the valid future waypoints of ``train``."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    features = draft_features(train, config.road_cells)
    target = torch.as_tensor(train["future_xy"], dtype=torch.float32)
    valid = torch.as_tensor(train["future_valid"], dtype=torch.float32)[..., None]
    model = EgoMLP(features.shape[1], config.hidden, features.mean(axis=0), features.std(axis=0) + 1e-3, config.members, config.road_cells)
    x = torch.as_tensor(features)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    for _ in range(config.epochs):
        orders = torch.stack([torch.randperm(len(x), generator=generator) for _ in range(config.members)])
        for batch in orders.split(config.batch_size, dim=1):  # (K, B) sample indices
            mask = valid[batch]
            # each member's mean over its own minibatch, summed: the members' gradients stay independent
            loss = (((model(x[batch]) - target[batch]).abs() * mask).sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3)).clamp(min=1.0)).sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model


@torch.no_grad()
def predict_ego_mlp(model: EgoMLP, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 6, 2) ego-frame waypoints: the members' plans averaged."""
    model.eval()
    return model(torch.as_tensor(draft_features(arrays, model.road_cells))).mean(dim=0).numpy().astype(np.float64)


def as_draft(model: EgoMLP) -> EgoDraft:
    """The fitted MLP(s) as the runtime's numpy ``EgoDraft`` (the same plans without torch)."""
    return EgoDraft(model.mean.numpy().copy(), model.std.numpy().copy(), tuple(w.detach().numpy().copy() for w in model.weights),
                    tuple(b.detach().numpy().copy() for b in model.biases), model.road_cells)


def fit_ego_draft(train: dict[str, np.ndarray], config: EgoMLPConfig, folds: int = 5) -> tuple[EgoDraft, np.ndarray]:
    """The draft fitted on all of ``train``, and out-of-fold plans (N, 6, 2) for ``train`` itself.

    A model that learns to correct the draft must see the draft's errors as they are on new
    scenes: on its own training samples the MLP is better than on val (0.33 vs 0.37 m mean L2 on
    the 200-scene benchmark). Each of ``folds`` contiguous blocks of samples (whole scenes, in the
    cache's scene order, but for the blocks' edges) gets the plans of an MLP fitted without it.
    """
    n = len(train["history_xy"])
    plans = np.zeros((n, FUTURE_STEPS, 2))
    edges = np.linspace(0, n, folds + 1).astype(int)
    for k in range(folds):
        held = np.zeros(n, dtype=bool)
        held[edges[k]:edges[k + 1]] = True
        if not held.any():  # fewer samples than folds
            continue
        model = train_ego_mlp({key: v[~held] for key, v in train.items()}, replace(config, seed=config.seed + 1000 * (k + 1)))
        plans[held] = predict_ego_mlp(model, {key: v[held] for key, v in train.items()})
    return as_draft(train_ego_mlp(train, config)), plans
