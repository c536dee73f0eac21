"""Ground truth for open-loop evaluation: our cached split, or a community metrics folder.

Community folder (Agent-Driver ``data/metrics``, also used by EvoDriveVLA): ``gt_traj.pkl``,
``gt_traj_mask.pkl``, ``stp3_gt_seg.pkl``, ``uniad_gt_seg.pkl`` — dicts keyed by sample token holding
numpy arrays: trajectories ``(1, 6|7, 2)`` in x right / y forward, occupancy ``(1, 6|7, 200, 200)``;
when 7 steps are stored the first (current) one is dropped. ``stp3_gt_seg.pkl`` is stored flipped on
both grid axes and is flipped back on load, after which its columns point left; ``uniad_gt_seg.pkl`` is
used as stored, columns pointing right (METHOD.md §6.2). Our cached split has one grid (columns left)
used by both protocols.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from evodrive_ros.core.conventions import FUTURE_STEPS
from evodrive_ros.core.driving_samples import SPLIT_INDEX, load_split, unpack_occupancy
from evodrive_ros.core.openloop_metrics import GRID_SIZE, PROTOCOLS
from evodrive_ros.core.keyframe_causes import UNKNOWN
from evodrive_ros.core.trajectory_codec import prompt_to_ego
from evodrive_ros.evaluation.vision_split import SPLIT_FIELDS, cause_counts, vision_dependent

COMMUNITY_FILES = ("gt_traj.pkl", "gt_traj_mask.pkl", "stp3_gt_seg.pkl", "uniad_gt_seg.pkl")
_COMMUNITY_COLUMNS = {"stp3": "left", "uniad": "right"}


@dataclass(frozen=True)
class GroundTruth:
    """GT of N samples: ego-frame waypoints, their mask, and per-protocol occupancy grids."""

    tokens: list[str]
    future_xy: np.ndarray  # (N, 6, 2) ego frame
    future_mask: np.ndarray  # (N, 6, 2), 1 where the GT step is valid
    occupancy_of: dict[str, Callable[[int], np.ndarray]]  # protocol -> sample index -> (6, 200, 200)
    columns: dict[str, str]  # protocol -> "left" | "right"
    # Cached splits with keyframe causes (synthetic data): the vision-dependent split and its causes.
    vision_mask: np.ndarray | None = None
    vision_causes: dict[str, int] | None = None

    def occupancy(self, protocol: str, index: int) -> np.ndarray:
        return self.occupancy_of[protocol](index)

    def subset(self, mask: np.ndarray) -> "GroundTruth":
        """The samples where ``mask`` (N,) is True, in order."""
        index = np.flatnonzero(mask)
        return GroundTruth(
            tokens=[self.tokens[i] for i in index], future_xy=self.future_xy[index], future_mask=self.future_mask[index],
            occupancy_of={p: (lambda i, get=get: get(int(index[i]))) for p, get in self.occupancy_of.items()},
            columns=dict(self.columns),
        )


def load_ground_truth(path: Path) -> GroundTruth:
    """GT from a cached split directory (has ``split.json``) or a community metrics folder."""
    path = Path(path)
    if (path / SPLIT_INDEX).is_file():
        return load_cached_split(path)
    if all((path / name).is_file() for name in COMMUNITY_FILES):
        return load_community_folder(path)
    raise FileNotFoundError(
        f"{path}: neither a cached split ({SPLIT_INDEX}) nor a community metrics folder ({', '.join(COMMUNITY_FILES)})"
    )


def load_cached_split(split_dir: Path) -> GroundTruth:
    split = load_split(split_dir, ("sample_token", "occupancy_bits", *SPLIT_FIELDS))
    bits = split.arrays["occupancy_bits"]
    valid = split.arrays["future_valid"].astype(np.float64)

    def grids(i: int) -> np.ndarray:
        return unpack_occupancy(bits[i])

    labelled = bool(np.any(split.arrays["cause"] != UNKNOWN))
    vision = vision_dependent(split.arrays) if labelled else None
    return GroundTruth(
        tokens=split.tokens,
        future_xy=split.arrays["future_xy"].astype(np.float64),
        future_mask=np.repeat(valid[..., None], 2, axis=-1),
        occupancy_of={p: grids for p in PROTOCOLS},
        columns={p: "left" for p in PROTOCOLS},
        vision_mask=vision,
        vision_causes=cause_counts(split.arrays, vision) if labelled else None,
    )


def load_community_folder(folder: Path) -> GroundTruth:
    trajs, masks, stp3, uniad = (_read_pickle(folder / name) for name in COMMUNITY_FILES)
    tokens = list(trajs)
    missing = [t for t in tokens if t not in masks or t not in stp3 or t not in uniad]
    if missing:
        raise ValueError(f"{folder}: {len(missing)} tokens of gt_traj.pkl lack a mask or occupancy, e.g. {missing[0]}")
    future_prompt = np.stack([_future_steps(trajs[t], (2,), folder / "gt_traj.pkl", t) for t in tokens]).astype(np.float64)
    mask_prompt = np.stack([_future_steps(masks[t], (2,), folder / "gt_traj_mask.pkl", t) for t in tokens]).astype(np.float64)
    for name, array in (("gt_traj.pkl", future_prompt), ("gt_traj_mask.pkl", mask_prompt)):
        if not np.all(np.isfinite(array)):
            bad = tokens[int(np.flatnonzero(~np.isfinite(array).all(axis=(1, 2)))[0])]
            raise ValueError(f"{folder / name}: non-finite values, e.g. sample {bad}")
    grid = lambda name, i: _future_steps(  # noqa: E731
        {"stp3": stp3, "uniad": uniad}[name][tokens[i]], (GRID_SIZE, GRID_SIZE), folder / f"{name}_gt_seg.pkl", tokens[i])
    for i in range(len(tokens)):  # shapes checked now (views, cheap), so evaluation cannot fail half way
        grid("stp3", i), grid("uniad", i)
    return GroundTruth(
        tokens=tokens,
        future_xy=prompt_to_ego(future_prompt),
        future_mask=mask_prompt[..., ::-1].copy(),  # (x right, y forward) -> (x forward, y left) order
        occupancy_of={
            "stp3": lambda i: grid("stp3", i)[:, ::-1, ::-1],
            "uniad": lambda i: grid("uniad", i),
        },
        columns=dict(_COMMUNITY_COLUMNS),
    )


def _future_steps(array: object, step_shape: tuple[int, ...], path: Path, token: str) -> np.ndarray:
    """(1, 6|7, *step_shape) -> (6, *step_shape): drops the batch dimension and a stored current
    step; anything else is a one-line error naming the file and the sample."""
    arr = np.asarray(array)
    if arr.dtype == object or arr.shape[arr.ndim - len(step_shape):] != step_shape or arr.ndim < len(step_shape) + 1:
        raise ValueError(f"{path}: sample {token}: expected shape (1, 6 or 7, {', '.join(map(str, step_shape))}), got {arr.shape}")
    arr = arr.reshape(-1, *step_shape)
    if arr.shape[0] % 2:
        arr = arr[1:]
    if arr.shape[0] < FUTURE_STEPS:
        raise ValueError(f"{path}: sample {token}: expected {FUTURE_STEPS} future steps, got shape {np.shape(array)}")
    return arr[:FUTURE_STEPS]


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, strings and numpy arrays, and nothing that runs code: a
    downloaded pickle whose ``__reduce__`` names ``os.system`` (or any other callable) is refused
    before anything is called."""

    ALLOWED = {
        ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"), ("builtins", "frozenset"),
        ("builtins", "bytearray"), ("collections", "OrderedDict"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name} (only numpy arrays, numbers and containers are allowed)")
        return super().find_class(module, name)


def _read_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = _ArraysOnly(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a pickle of numpy arrays: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict keyed by sample token, got {type(data).__name__}")
    return data
