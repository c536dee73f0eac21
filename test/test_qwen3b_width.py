"""The paper's architecture end to end at full width (issue 17): Qwen2.5-VL-3B's configuration with
1 decoder layer and 2 vision blocks (0.47 B parameters instead of 3.75 B), built from config,
exported, loaded by the runtime and planning a frame through the node's code path with the same
answer as the PyTorch reference. ~1 min and ~7 GB of memory on our 2-core machine."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from evodrive_ros.core.model_manifest import read_manifest  # noqa: E402
from evodrive_ros.runtime import latency_model as lm  # noqa: E402


@pytest.fixture(scope="module")
def shallow_3b(tmp_path_factory):
    from evodrive_training.export.onnx_export import export_model_dir
    from evodrive_training.models.presets import load_model

    root = tmp_path_factory.mktemp("qwen3b")
    model, tokenizer = load_model("qwen2.5-vl-3b-shallow", codec="ctra-residual-t2")
    model.save_pretrained(root / "checkpoint")
    tokenizer.save_pretrained(root / "checkpoint")
    del model
    export_model_dir(root / "checkpoint", root / "model", preset="qwen2.5-vl-3b-shallow")
    return root


def test_the_exported_graphs_have_the_3b_dimensions(shallow_3b):
    manifest = read_manifest(shallow_3b / "model", verify_hashes=True)
    expected = replace(lm.QWEN25_VL_3B, num_layers=1, vision_depth=2, vision_full_attention_blocks=(1,),
                       image_token_id=manifest.architecture.image_token_id)  # the small tokenizer's id
    assert manifest.architecture == expected
    assert manifest.image.tokens_per_image == 231  # per 308x588 camera, as the paper's


def test_the_runtime_answers_as_the_pytorch_reference(shallow_3b):
    from exported_tiny import planner_input

    from evodrive_ros.runtime import load_planner
    from evodrive_training.export.torch_planner import load_torch_planner

    frame = planner_input(2, 900, 1600)
    ours = load_planner(shallow_3b / "model", "onnxruntime", threads=2).plan(frame)
    reference = load_torch_planner(shallow_3b / "checkpoint", threads=2).plan(frame)
    assert ours.ok and reference.ok, (ours.error, reference.error)
    assert ours.text == reference.text
    assert np.allclose(ours.waypoints, reference.waypoints)
