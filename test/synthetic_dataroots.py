"""Small synthetic nuScenes dataroots (64x36 cameras) for the sample-builder tests."""

from __future__ import annotations

from pathlib import Path


def small_dataroot(root: Path, n_scenes: int, seed: int, duration_s: float) -> tuple[Path, str]:
    """``n_scenes`` scenes of ``duration_s`` under ``root / "data"``: (dataroot, version)."""
    from evodrive_training.synth import SynthConfig, generate_dataset

    config = SynthConfig.from_dict({"scene": {"duration_s": duration_s}, "camera": {"width": 64, "height": 36}})
    return generate_dataset(root / "data", n_scenes=n_scenes, seed=seed, config=config), config.version
