"""A tiny random Qwen2.5-VL saved as a checkpoint and exported to a model directory, for tests.

Imported by the test modules that need it (one export per module: ~1 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evodrive_ros.core.conventions import CAMERAS
from evodrive_ros.runtime.interface import PlannerInput


@dataclass(frozen=True)
class ExportedTiny:
    checkpoint: Path
    model_dir: Path


def export_tiny(root: Path, seed: int = 0) -> ExportedTiny:
    from evodrive_training.export.onnx_export import export_model_dir
    from evodrive_training.models.presets import build_tiny

    model, tokenizer = build_tiny(seed=seed)
    checkpoint, model_dir = root / "checkpoint", root / "model"
    model.save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    export_model_dir(checkpoint, model_dir, preset="tiny")
    return ExportedTiny(checkpoint, model_dir)


def planner_input(seed: int, height: int = 90, width: int = 160) -> PlannerInput:
    """Random cameras (small, to keep tests fast) and a plausible ego history."""
    rng = np.random.default_rng(seed)
    images = {c: rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for c in CAMERAS}
    history = np.stack([np.linspace(-8, 0, 5), rng.normal(0, 0.3, 5)], axis=1)
    dynamics = rng.normal(0, 1, (5, 4))
    return PlannerInput(images, history, dynamics, ["LEFT", "RIGHT", "FORWARD"][seed % 3])
