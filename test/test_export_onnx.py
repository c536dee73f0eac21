"""Export of a tiny random model: model directory, graph checks, M-RoPE, and ONNX Runtime vs PyTorch parity."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from exported_tiny import ExportedTiny, export_tiny, planner_input  # noqa: E402

from evodrive_ros.core.model_manifest import MANIFEST_FILE, read_manifest  # noqa: E402
from evodrive_ros.runtime import load_planner  # noqa: E402
from evodrive_ros.runtime.engine_plan import graph_profiles  # noqa: E402
from evodrive_ros.runtime.mrope import mrope_positions  # noqa: E402
from evodrive_training.export.trt_compat import check_graph  # noqa: E402

# Logit tolerance, ONNX Runtime vs transformers eager, fp32 on CPU (measured ~5e-7 on the tiny model).
LOGIT_ATOL = 1e-4


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> ExportedTiny:
    return export_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def planners(exported: ExportedTiny):
    from evodrive_training.export.torch_planner import load_torch_planner

    return load_planner(exported.model_dir, "onnxruntime", threads=1), load_torch_planner(exported.checkpoint)


def test_model_directory_layout(exported: ExportedTiny) -> None:
    manifest = read_manifest(exported.model_dir, verify_hashes=True)
    data = json.loads((exported.model_dir / MANIFEST_FILE).read_text())
    assert data["format_version"] == 1 and data["codec"] == "ctra-residual" and data["prior"] == "ctra"  # the tiny preset's codec
    assert list(data["cameras"])[0] == "CAM_FRONT" and len(data["cameras"]) == 6
    assert data["image"]["height"] == 112 and data["image"]["width"] == 196
    assert data["provenance"]["preset"] == "tiny" and data["provenance"]["source_checkpoint"]
    assert {"date", "git_commit", "exporter"} <= set(data["provenance"])
    assert (exported.model_dir / manifest.tokenizer).is_file()
    assert not list(exported.model_dir.parent.glob(".*partial*"))


def test_graphs_pass_onnx_checker_and_tensorrt_check(exported: ExportedTiny) -> None:
    manifest = read_manifest(exported.model_dir)
    for name, profile in graph_profiles(manifest).items():
        path = manifest.graph_path(exported.model_dir, name)
        onnx.checker.check_model(str(path), full_check=True)
        model = onnx.load(str(path))
        assert all(o.version >= 17 for o in model.opset_import if o.domain in ("", "ai.onnx"))
        assert [f for f in check_graph(path, profile) if f.severity == "error"] == []
    vision = onnx.load(str(manifest.graph_path(exported.model_dir, "vision")))
    assert all(d.HasField("dim_value") for i in vision.graph.input for d in i.type.tensor_type.shape.dim)


def test_tokenizer_json_is_enough(exported: ExportedTiny) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    text = "<|im_start|>user\nPast trajectory: [(1.25,-3.50)]<|im_end|>\n"
    ours = Tokenizer.from_file(str(exported.model_dir / "tokenizer.json")).encode(text).ids
    assert ours == AutoTokenizer.from_pretrained(exported.checkpoint)(text)["input_ids"]


def test_export_refuses_to_overwrite(exported: ExportedTiny) -> None:
    from evodrive_training.export import cli

    before = (exported.model_dir / MANIFEST_FILE).read_text()
    args = argparse.Namespace(checkpoint=str(exported.checkpoint), out=str(exported.model_dir), overwrite=False, preset=None)
    assert cli.run(args) == 1
    assert (exported.model_dir / MANIFEST_FILE).read_text() == before


def test_numpy_mrope_matches_transformers(exported: ExportedTiny, planners) -> None:
    ort_planner, torch_planner = planners
    model = torch_planner.engine.model
    ids = ort_planner.prompt_ids(planner_input(0))
    is_image = torch.from_numpy(ids) == model.config.image_token_id
    expected, _ = model.model.get_rope_index(
        torch.from_numpy(ids), mm_token_type_ids=is_image.long(), image_grid_thw=torch_planner.engine.grid
    )
    ours, next_position = mrope_positions(ids, model.config.image_token_id, [(4, 7)] * 6)
    np.testing.assert_array_equal(ours, expected[:, 0].numpy())
    assert next_position == int(expected.max()) + 1


def test_engine_logits_match_pytorch(planners) -> None:
    """Same prompt through both engines: vision features, prefill and decode logits."""
    ort_planner, torch_planner = planners
    inputs = planner_input(1)
    from evodrive_ros.core.preprocessing import preprocess_images

    pixel_values, _ = preprocess_images([inputs.images[c] for c in ort_planner.cameras], ort_planner.image_spec)
    features = [p.engine.encode_images(pixel_values) for p in planners]
    np.testing.assert_allclose(features[0], features[1], atol=LOGIT_ATOL)
    ids = ort_planner.prompt_ids(inputs)
    positions, next_position = mrope_positions(ids, ort_planner.image_token_id, [(4, 7)] * 6)
    embeds = np.zeros((1, ids.shape[1], ort_planner.hidden_size), dtype=np.float32)
    embeds[0, ids[0] == ort_planner.image_token_id] = features[0]
    prefill = [p.engine.prefill(ids, embeds, positions[:, None]) for p in planners]
    np.testing.assert_allclose(prefill[0], prefill[1], atol=LOGIT_ATOL)
    for step, token in enumerate([20, 31, 42]):  # ordinary text tokens (ids 0-6 are special)
        logits = [p.engine.decode([token], next_position + step) for p in planners]
        np.testing.assert_allclose(logits[0], logits[1], atol=LOGIT_ATOL)


def _prompt_feeds(planner, inputs):
    from evodrive_ros.core.preprocessing import preprocess_images

    pixel_values, _ = preprocess_images([inputs.images[c] for c in planner.cameras], planner.image_spec)
    ids = planner.prompt_ids(inputs)
    positions, next_position = mrope_positions(ids, planner.image_token_id, [(4, 7)] * 6)
    embeds = np.zeros((1, ids.shape[1], planner.hidden_size), dtype=np.float32)
    embeds[0, ids[0] == planner.image_token_id] = planner.engine.encode_images(pixel_values)
    return ids, embeds, positions[:, None], next_position


def test_cached_prompt_prefix_is_reused_and_exact(planners) -> None:
    """The second prompt reuses the first one's cached system-prompt keys/values; its logits still
    match transformers, which recomputes everything."""
    ort_planner, torch_planner = planners
    ort_planner.engine.prefill(*_prompt_feeds(ort_planner, planner_input(5))[:3])
    cached = ort_planner.engine._prefix_past
    ids, embeds, positions, _ = _prompt_feeds(ort_planner, planner_input(6))
    reused = ort_planner.engine.prefill(ids, embeds, positions)
    assert ort_planner.engine._prefix_past is cached and cached[0].shape[2] > 20
    reference = torch_planner.engine.prefill(ids, embeds, positions)
    np.testing.assert_allclose(reused, reference, atol=LOGIT_ATOL)


def test_decoding_several_tokens_in_one_call_equals_one_by_one(planners) -> None:
    engine = planners[0].engine
    ids, embeds, positions, next_position = _prompt_feeds(planners[0], planner_input(7))
    engine.prefill(ids, embeds, positions)
    together = engine.decode([20, 31, 42], next_position)
    engine.prefill(ids, embeds, positions)
    for step, token in enumerate([20, 31, 42]):
        one_by_one = engine.decode([token], next_position + step)
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_planners_decode_the_same_trajectory(planners) -> None:
    ort_planner, torch_planner = planners
    inputs = planner_input(2)
    ours, reference = ort_planner.plan(inputs), torch_planner.plan(inputs)
    assert ours.ok and reference.ok, (ours.error, reference.error)
    assert ours.text == reference.text
    assert ours.waypoints.shape == (6, 2) and np.all(np.isfinite(ours.waypoints))
    assert set(ours.timings_ms) == {"preprocess", "vision", "prefill", "decode", "total"}


def test_bad_inputs_give_an_explicit_failure(planners) -> None:
    ort_planner, _ = planners
    inputs = planner_input(4)
    del inputs.images["CAM_BACK"]
    result = ort_planner.plan(inputs)
    assert not result.ok and "CAM_BACK" in result.error and result.waypoints is None


def test_load_errors_are_one_line(exported: ExportedTiny, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model.json"):
        load_planner(tmp_path)
    with pytest.raises(ValueError, match="unknown backend"):
        load_planner(exported.model_dir, "cuda-magic")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for item in exported.model_dir.iterdir():
        (corrupt / item.name).write_bytes(item.read_bytes())
    (corrupt / "vision.onnx").write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="sha256"):
        load_planner(corrupt)
