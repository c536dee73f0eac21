"""The ego-state draft: a small MLP's plan from the ego history, dynamics and command, in numpy.

The ``draft-residual-t2`` codec writes its answers as the correction to this plan instead of the
CTRA one, and shows the plan in the prompt ("Draft plan from the ego-state model: ..."), the way
the method's refinement stage shows the teacher a draft. Measured (issue 11): on the synthetic
benchmark a tiny language model learns less from the prompt's ego numbers than this MLP does from
the same numbers as floats, so the student starts from the MLP's plan and only has to learn what
the cameras add to it. The weights are fitted by ``evodrive_training.baselines.ego_mlp`` (torch)
and stored as ``ego_draft.npz`` in the model folder; the runtime evaluates them here without torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evodrive_ros.core.conventions import COMMANDS, FUTURE_STEPS

DRAFT_FILE = "ego_draft.npz"
# The sample-cache fields an ego-only planner is fitted and scored on (``ego_features`` reads four).
EGO_FIELDS = ("sample_token", "history_xy", "history_valid", "history_dynamics", "command", "future_xy", "future_valid")


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


@dataclass(frozen=True, eq=False)
class EgoDraft:
    """A ReLU MLP on standardised ``ego_features``: ``weights[i]`` is (in, out), ``biases[i]`` (out,)."""

    mean: np.ndarray
    std: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def plans(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """(N, 6, 2) ego-frame waypoints for a batch of samples (``ego_features``' fields)."""
        x = (ego_features(arrays) - self.mean) / self.std
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w + b
            if i < len(self.weights) - 1:
                x = np.maximum(x, 0.0)
        return x.reshape(-1, FUTURE_STEPS, 2).astype(np.float64)

    def plan(self, history_xy: np.ndarray, history_valid: np.ndarray | None, dynamics: np.ndarray, command: str) -> np.ndarray:
        """(6, 2) plan for one frame (``history_valid`` None: every history step is real)."""
        if command not in COMMANDS:
            raise ValueError(f"command must be one of {COMMANDS}, got {command!r}")
        valid = np.ones(len(history_xy), dtype=bool) if history_valid is None else history_valid
        arrays = {"history_xy": np.asarray(history_xy)[None], "history_dynamics": np.asarray(dynamics)[None],
                  "history_valid": np.asarray(valid)[None], "command": np.array([COMMANDS.index(command)])}
        return self.plans(arrays)[0]

    def save(self, path: str | Path) -> None:
        layers = {f"weight_{i}": w for i, w in enumerate(self.weights)} | {f"bias_{i}": b for i, b in enumerate(self.biases)}
        np.savez(path, mean=self.mean, std=self.std, **layers)

    @classmethod
    def load(cls, path: str | Path) -> EgoDraft:
        """Read ``save``'s file; a clear error for a missing or malformed one."""
        try:
            with np.load(path) as data:
                n = sum(1 for key in data.files if key.startswith("weight_"))
                draft = cls(data["mean"].astype(np.float32), data["std"].astype(np.float32),
                            tuple(data[f"weight_{i}"].astype(np.float32) for i in range(n)),
                            tuple(data[f"bias_{i}"].astype(np.float32) for i in range(n)))
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not an ego-draft file ({exc})") from exc
        shapes_chain = n > 0 and all(w.shape[1] == b.shape[0] for w, b in zip(draft.weights, draft.biases)) and all(
            a.shape[1] == b.shape[0] for a, b in zip(draft.weights, draft.weights[1:]))
        if not shapes_chain or draft.weights[0].shape[0] != draft.mean.shape[0] or draft.weights[-1].shape[1] != FUTURE_STEPS * 2:
            raise ValueError(f"{path}: the ego-draft layers do not chain from {draft.mean.shape} features to {FUTURE_STEPS * 2} outputs")
        return draft
