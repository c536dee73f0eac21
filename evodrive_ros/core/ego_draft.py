"""The ego-state draft: a small MLP's plan from the ego history, dynamics and command, in numpy.

The ``draft-residual-t2`` codec writes its answers as the correction to this plan instead of the
CTRA one, and shows the plan in the prompt ("Draft plan from the ego-state model: ..."), the way
the method's refinement stage shows the teacher a draft. Measured (issue 11): on the synthetic
benchmark a tiny language model learns less from the prompt's ego numbers than this MLP does from
the same numbers as floats, so the student starts from the MLP's plan and only has to learn what
the cameras add to it. The draft may be an ensemble of such MLPs whose plans are averaged (one MLP's
plan moves with its seed as much as the student's refinement moves it; session 18). The weights are
fitted by ``evodrive_training.baselines.ego_mlp`` (torch) and stored as ``ego_draft.npz`` in the
model folder; the runtime evaluates them here without torch.

A draft may also read the road ahead (``road_cells`` > 0): the drivable share of each cell of the
area ahead as the cameras see it (a road head on the frozen perception-pretrained encoder,
``coarse_road``), beside the ego features. Measured (session 18, five MLPs): 0.302 m UniAD against
0.347 for the ego-only draft, 0.472 against 0.665 on the vision-dependent split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evodrive_ros.core.conventions import COMMANDS, FUTURE_STEPS

DRAFT_FILE = "ego_draft.npz"
# How many MLPs a fitted draft averages. Measured on the 200-scene benchmark's val (UniAD avg L2,
# 300 epochs each, session 18): single MLPs of seeds 0-7 score 0.365-0.399 m (0.413 for seed 0 when
# only the float order of its sums changed), the average of 3 / 5 / 8 of them 0.350-0.360 / 0.351 / 0.349.
DRAFT_MEMBERS = 5
# The sample-cache fields an ego-only planner is fitted and scored on (``ego_features`` reads four).
EGO_FIELDS = ("sample_token", "history_xy", "history_valid", "history_dynamics", "command", "future_xy", "future_valid")
ROAD_KEY = "road"  # the batch field of a road-reading draft's road features, (N, road_cells²)


N_EGO_FEATURES = 38


def ego_features(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N, 38): history positions (10), dynamics (20), history validity (5), one-hot command (3).

    ``arrays`` holds the sample cache's fields ``history_xy`` (N, 5, 2), ``history_dynamics``
    (N, 5, 4), ``history_valid`` (N, 5) and ``command`` (N,) as indices into ``COMMANDS``.
    """
    n = len(arrays["history_xy"])
    command = np.eye(len(COMMANDS))[np.asarray(arrays["command"]).astype(int)]
    return np.concatenate(
        [
            np.asarray(arrays["history_xy"], dtype=np.float64).reshape(n, -1),
            np.asarray(arrays["history_dynamics"], dtype=np.float64).reshape(n, -1),
            np.asarray(arrays["history_valid"]).astype(np.float64).reshape(n, -1),
            command,
        ],
        axis=1,
    ).astype(np.float32)


def coarse_road(drivable: np.ndarray, cells: int) -> np.ndarray:
    """(N, C, C) or (N, C²) drivable shares of the area ahead -> (N, cells²), each cell the mean of
    its (C / cells)² finer cells. Measured (session 18): the road head's 16×16 prediction read by the
    draft scored 0.342 m UniAD, averaged to 8×8 0.302 (fewer, less noisy features for the MLPs)."""
    drivable = np.asarray(drivable, dtype=np.float32)
    size = int(np.prod(drivable.shape[1:]))
    side = math.isqrt(size)
    if side * side != size or side % cells:
        raise ValueError(f"a grid of {size} cells does not pool to {cells}x{cells} cells")
    block = side // cells
    return drivable.reshape(-1, cells, block, cells, block).mean(axis=(2, 4)).reshape(-1, cells * cells)


def draft_features(arrays: Mapping[str, np.ndarray], road_cells: int = 0) -> np.ndarray:
    """``ego_features``, followed by the (N, road_cells²) ``ROAD_KEY`` field for a road-reading draft."""
    features = ego_features(arrays)
    if not road_cells:
        return features
    if ROAD_KEY not in arrays:
        raise ValueError(f"this draft reads the road ahead ({road_cells}x{road_cells} cells seen by the cameras); none was given")
    road = np.asarray(arrays[ROAD_KEY], dtype=np.float32).reshape(len(features), -1)
    if road.shape[1] != road_cells * road_cells:
        raise ValueError(f"this draft reads {road_cells}x{road_cells} road cells, got {road.shape[1]} values per sample")
    return np.concatenate([features, road], axis=1)


@dataclass(frozen=True, eq=False)
class EgoDraft:
    """K ReLU MLPs on standardised ``draft_features``, their plans averaged: ``weights[i]`` is
    (K, in, out), ``biases[i]`` (K, out). A file of one MLP (2-D layers) loads as K = 1.
    ``road_cells`` > 0: the features end with the road ahead (``coarse_road``)."""

    mean: np.ndarray
    std: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    road_cells: int = 0

    @property
    def members(self) -> int:
        return self.weights[0].shape[0]

    @property
    def reads_road(self) -> bool:
        return self.road_cells > 0

    def plans(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """(N, 6, 2) ego-frame waypoints for a batch of samples (``draft_features``' fields)."""
        x = (draft_features(arrays, self.road_cells) - self.mean) / self.std  # (N, F), broadcast over the members
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w + b[:, None, :]
            if i < len(self.weights) - 1:
                x = np.maximum(x, 0.0)
        return x.mean(axis=0).reshape(-1, FUTURE_STEPS, 2).astype(np.float64)

    def plan(self, history_xy: np.ndarray, history_valid: np.ndarray | None, dynamics: np.ndarray, command: str,
             road: np.ndarray | None = None) -> np.ndarray:
        """(6, 2) plan for one frame (``history_valid`` None: every history step is real; ``road``:
        the frame's road features, for a draft that reads them)."""
        if command not in COMMANDS:
            raise ValueError(f"command must be one of {COMMANDS}, got {command!r}")
        valid = np.ones(len(history_xy), dtype=bool) if history_valid is None else history_valid
        arrays = {"history_xy": np.asarray(history_xy)[None], "history_dynamics": np.asarray(dynamics)[None],
                  "history_valid": np.asarray(valid)[None], "command": np.array([COMMANDS.index(command)])}
        if road is not None:
            arrays[ROAD_KEY] = np.asarray(road)[None]
        return self.plans(arrays)[0]

    def save(self, path: str | Path) -> None:
        layers = {f"weight_{i}": w for i, w in enumerate(self.weights)} | {f"bias_{i}": b for i, b in enumerate(self.biases)}
        np.savez(path, mean=self.mean, std=self.std, road_cells=np.int64(self.road_cells), **layers)

    @classmethod
    def load(cls, path: str | Path) -> EgoDraft:
        """Read ``save``'s file; a clear error for a missing or malformed one."""
        try:
            with np.load(path) as data:
                n = sum(1 for key in data.files if key.startswith("weight_"))
                weights = tuple(np.asarray(data[f"weight_{i}"], dtype=np.float32) for i in range(n))
                biases = tuple(np.asarray(data[f"bias_{i}"], dtype=np.float32) for i in range(n))
                mean, std = data["mean"].astype(np.float32), data["std"].astype(np.float32)
                road_cells = int(data["road_cells"]) if "road_cells" in data.files else 0  # older files: ego only
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not an ego-draft file ({exc})") from exc
        if n and all(w.ndim == 2 and b.ndim == 1 for w, b in zip(weights, biases)):  # one MLP
            weights, biases = tuple(w[None] for w in weights), tuple(b[None] for b in biases)
        if not (n and all(w.ndim == 3 and b.ndim == 2 for w, b in zip(weights, biases)) and _layers_chain(weights, biases, mean.shape[0])):
            raise ValueError(f"{path}: the ego-draft layers do not chain from {mean.shape} features to {FUTURE_STEPS * 2} outputs")
        if mean.shape[0] != N_EGO_FEATURES + road_cells * road_cells:
            raise ValueError(f"{path}: {mean.shape[0]} features, but {N_EGO_FEATURES} ego features and {road_cells}x{road_cells} road cells")
        return cls(mean, std, weights, biases, road_cells)


def _layers_chain(weights: tuple[np.ndarray, ...], biases: tuple[np.ndarray, ...], n_features: int) -> bool:
    """(K, in, out) weights and (K, out) biases of one member count that map ``n_features`` to the plan."""
    sizes = [n_features, *(w.shape[2] for w in weights)]
    return (len({a.shape[0] for a in (*weights, *biases)}) == 1 and sizes[-1] == FUTURE_STEPS * 2
            and all(w.shape[1:] == (a, b) and bias.shape[1] == b for w, bias, a, b in zip(weights, biases, sizes, sizes[1:])))
