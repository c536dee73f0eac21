"""Shared fixtures of the model/distillation tests: fake driving samples with images on disk."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from evodrive_training.dataset import DrivingSample

IMAGE_HW = (56, 84)  # smallest Qwen-compatible camera: 2x3 visual tokens after merging


def fake_samples(root: Path, n: int = 2, seed: int = 0) -> list[DrivingSample]:
    """``n`` samples with random 6-camera + 3 future-front images written under ``root``."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        paths = []
        for cam in range(9):
            rel = f"img/s{i}_c{cam}.png"
            (root / "img").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / rel), rng.integers(0, 256, (*IMAGE_HW, 3), dtype=np.uint8))
            paths.append(rel)
        speed = 3.0 + 4 * i
        samples.append(
            DrivingSample(
                token=f"tok{i}",
                camera_paths=tuple(paths[:6]),
                history_xy=np.stack([np.arange(-4, 1) * 0.5 * speed, np.zeros(5)], axis=1),
                dynamics=np.tile([speed, 0.1, -0.2, 0.0], (5, 1)),
                command=("FORWARD", "LEFT", "RIGHT")[i % 3],
                future_xy=np.stack([np.arange(1, 7) * 0.5 * speed, rng.normal(0, 1, 6)], axis=1),
                future_mask=np.ones(6, dtype=bool),
                teacher_front_paths=tuple(paths[6:]),
                future_dynamics=np.tile([speed, 0.0, 0.0, 0.0], (6, 1)),
            )
        )
    return samples


def tiny_pair(seed: int = 0):
    """A tiny model and tokenizer at the fixture image size."""
    from evodrive_training.models.presets import build_tiny

    return build_tiny(IMAGE_HW, seed=seed)


def hint_ids(tokenizer):
    import torch

    from evodrive_ros.core import prompts

    return torch.tensor(tokenizer(prompts.REFINE_HINT + "\n", add_special_tokens=False)["input_ids"])


def write_fake_split(root: Path, n: int = 2, seed: int = 0) -> Path:
    """A split directory in the ``driving_samples`` format holding ``fake_samples``."""
    from evodrive_ros.core.conventions import COMMANDS
    from evodrive_ros.core.driving_samples import FORMAT_NAME, FORMAT_VERSION, SAMPLE_FIELDS, write_scene_file, write_split_index

    samples = fake_samples(root, n, seed)
    arrays = {
        "sample_token": np.array([s.token for s in samples]),
        "timestamp_us": np.arange(n, dtype=np.int64) * 500_000,
        "camera_paths": np.array([s.camera_paths for s in samples]),
        "history_xy": np.stack([s.history_xy for s in samples]).astype(np.float32),
        "history_valid": np.ones((n, 5), bool),
        "history_dynamics": np.stack([s.dynamics for s in samples]).astype(np.float32),
        "history_dynamics_source": np.zeros((n, 5, 4), np.uint8),
        "command": np.array([COMMANDS.index(s.command) for s in samples], np.uint8),
        "future_xy": np.stack([s.future_xy for s in samples]).astype(np.float32),
        "future_valid": np.ones((n, 6), bool),
        "future_dynamics": np.stack([s.future_dynamics for s in samples]).astype(np.float32),
        "future_dynamics_source": np.zeros((n, 6, 4), np.uint8),
        "future_dynamics_padded": np.zeros((n, 6), bool),
        "teacher_front_paths": np.array([s.teacher_front_paths for s in samples]),
        "teacher_front_padded": np.zeros((n, 3), bool),
        "occupancy_bits": np.zeros((n, 6, 5000), np.uint8),
        "drivable_bits": np.zeros((n, 5000), np.uint8),
        "drivable_known": np.zeros(n, bool),
        "cause": np.full(n, 255, np.uint8),
    }
    assert set(arrays) == set(SAMPLE_FIELDS)
    split_dir = root / "split"
    write_scene_file(split_dir / "scenes" / "scene0.npz", arrays,
                     {"format_version": FORMAT_VERSION, "scene_token": "scene0", "scene_name": "scene-0", "cache_key": "x"})
    write_split_index(split_dir, {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "split": "train", "version": "fake",
                                  "dataroot": str(root), "n_samples": n,
                                  "scenes": [{"scene_name": "scene-0", "scene_token": "scene0", "file": "scenes/scene0.npz", "cache_key": "x", "n_samples": n}]})
    return split_dir
