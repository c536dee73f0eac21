"""The shipped default student loads on the runtime alone and always yields a valid plan."""

from __future__ import annotations

import numpy as np
import pytest
from exported_tiny import planner_input

from conftest import REPO
from evodrive_ros.core.model_manifest import read_manifest
from evodrive_ros.tools.demo import DEFAULT_MODEL, default_model_dir
from evodrive_ros.runtime import load_planner

MODEL_DIR = REPO / "models" / DEFAULT_MODEL


def test_default_model_is_shipped_and_found() -> None:
    assert default_model_dir() == MODEL_DIR
    manifest = read_manifest(MODEL_DIR, verify_hashes=True)
    assert manifest.codec == "draft-residual-t2" and manifest.prior == "ego-draft" and len(manifest.cameras) == 6  # the ablation's recipe
    assert (MODEL_DIR / manifest.draft.file).is_file()
    assert sum(f.stat().st_size for f in MODEL_DIR.iterdir()) < 20 * 2**20


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_model_plans_six_finite_waypoints(seed: int) -> None:
    planner = load_planner(MODEL_DIR, backend="onnxruntime", threads=1)
    result = planner.plan(planner_input(seed))
    assert result.ok, result.error
    assert result.waypoints.shape == (6, 2) and np.all(np.isfinite(result.waypoints))
    assert {"preprocess", "vision", "prefill", "decode", "total"} <= set(result.timings_ms)
