"""The deployable preset (issue 16): a ~0.1 B model sized for 10 Hz on Jetson Orin, built here with
random weights, exported through the same exporter, planned by the runtime and by the node over DDS.
Its weights are not shipped (they would be ~340 MB): this test builds the folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from evodrive_ros.core.model_manifest import read_manifest  # noqa: E402


@pytest.fixture(scope="module")
def deployable(tmp_path_factory) -> Path:
    from evodrive_training.export.onnx_export import export_model_dir
    from evodrive_training.models.presets import load_model

    root = tmp_path_factory.mktemp("deployable")
    model, tokenizer = load_model("deployable", codec="ctra-residual-t2")
    model.save_pretrained(root / "checkpoint")
    tokenizer.save_pretrained(root / "checkpoint")
    export_model_dir(root / "checkpoint", root / "model", preset="deployable")  # asserts TensorRT-parser compatibility
    return root / "model"


def test_the_folder_has_the_presets_dimensions_and_clean_graphs(deployable):
    import onnx

    from evodrive_ros.runtime import latency_model as lm
    from evodrive_ros.runtime.engine_plan import graph_profiles
    from evodrive_training.export.trt_compat import check_graph

    manifest = read_manifest(deployable, verify_hashes=True)
    arch = manifest.architecture
    assert arch == lm.DEPLOYABLE  # the runtime's Orin estimate describes the graphs that exist
    assert (manifest.image.height, manifest.image.width) == (224, 392)
    parameters = lm.language_parameters(arch) + lm.vision_parameters(arch, manifest.image)
    assert 75e6 < parameters < 95e6
    for graph, profile in graph_profiles(manifest).items():
        onnx.checker.check_model(str(manifest.graph_path(deployable, graph)))
        assert not [f for f in check_graph(manifest.graph_path(deployable, graph), profile) if f.severity == "error"]


def test_the_runtime_plans_nuscenes_sized_cameras_with_it(deployable):
    from exported_tiny import planner_input

    from evodrive_ros.runtime import load_planner

    result = load_planner(deployable, "onnxruntime", threads=2).plan(planner_input(1, 900, 1600))
    assert result.ok, result.error
    assert result.waypoints.shape == (6, 2) and np.all(np.isfinite(result.waypoints))


def test_the_node_plans_with_it_over_dds(deployable, ros_env):
    """Random weights plan random corrections: the node must run every cycle through the model and
    its validation, publish only valid paths, and fail none (here: 5-7 s a plan, so few cycles)."""
    from test_node_planning import assert_all_paths_valid, run_scenario

    result = run_scenario(ros_env, "nominal", 12.0, "backend:=onnxruntime", f"model_dir:={deployable}", "inference_threads:=2")
    diagnostics = result["diagnostics"]
    planned = int(diagnostics["published"]) + sum(int(v) for k, v in diagnostics.items() if k.startswith("skipped/invalid_plan"))
    assert planned >= 1 and float(diagnostics["inference_ms/p50"]) > 0, diagnostics
    assert not [k for k in diagnostics if k in ("skipped/inference_error", "skipped/planner_refused")], diagnostics
    assert diagnostics["model"].startswith("model@") and diagnostics["lifecycle_state"] == "active"
    assert_all_paths_valid(result)
