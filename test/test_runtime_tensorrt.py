"""TensorRT planning without TensorRT: engine cache keys, profiles, trtexec commands, graph compatibility."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from evodrive_ros.core.conventions import CAMERAS
from evodrive_ros.core.model_manifest import Architecture, GraphFile, ModelManifest
from evodrive_ros.core.preprocessing import ImageSpec
from evodrive_ros.runtime.engine_plan import engine_cache_path, graph_profiles, trtexec_command
from evodrive_training.export.trt_compat import TensorRtIncompatible, assert_trt_compatible, check_graph

ARCH = Architecture(128, 2, 4, 2, 32, 256, 256, 5, 2, 64, 4, 128, (1,), 112)
MANIFEST = ModelManifest(
    codec="text", cameras=CAMERAS, image=ImageSpec(112, 196), prompt_version="p", tokenizer="tokenizer.json", tokenizer_sha256="c" * 64,
    graphs={"vision": GraphFile("vision.onnx", "a" * 64), "decoder": GraphFile("decoder.onnx", "b" * 64)},
    architecture=ARCH, max_sequence_length=900,
)


def test_profiles_cover_prefill_and_decode() -> None:
    profiles = graph_profiles(MANIFEST)
    (vision_min, vision_opt, vision_max), = profiles["vision"].values()
    assert vision_min == vision_opt == vision_max == (6 * 8 * 14, 1176)
    decoder = profiles["decoder"]
    assert decoder["input_ids"][0] == (1, 1) and decoder["input_ids"][2] == (1, 900)
    assert decoder["past_key_0"][0] == (1, 2, 0, 32) and decoder["past_value_1"][2] == (1, 2, 900, 32)
    assert len(decoder) == 3 + 2 * ARCH.num_layers


def test_engine_cache_key_changes_with_everything_that_invalidates_an_engine(tmp_path: Path) -> None:
    profile = graph_profiles(MANIFEST)["decoder"]
    base = dict(cache_dir=tmp_path, graph="decoder", onnx_sha256="b" * 64, tensorrt_version="10.3.0",
                compute_capability=(8, 7), precision="fp16", profile=profile)
    path = engine_cache_path(**base)
    assert path.parent == tmp_path and path.suffix == ".engine" and "sm87" in path.name and "trt10.3.0" in path.name
    assert engine_cache_path(**base) == path  # deterministic
    changes = [{"onnx_sha256": "c" * 64}, {"tensorrt_version": "10.4.0"}, {"compute_capability": (8, 9)},
               {"precision": "int8"}, {"profile": graph_profiles(MANIFEST)["vision"]}]
    assert len({engine_cache_path(**(base | change)) for change in changes} | {path}) == len(changes) + 1
    with pytest.raises(ValueError, match="precision"):
        engine_cache_path(**(base | {"precision": "fp8"}))


def test_trtexec_command_lists_precision_and_dynamic_shapes() -> None:
    profile = graph_profiles(MANIFEST)["decoder"]
    command = trtexec_command("m/decoder.onnx", "/c/decoder.engine", "fp16", profile)
    assert command.startswith("trtexec --onnx=m/decoder.onnx --saveEngine=/c/decoder.engine --fp16")
    assert "--minShapes=input_ids:1x1," in command and "past_key_0:1x2x0x32" in command
    assert "--maxShapes=input_ids:1x900," in command
    vision = trtexec_command("v.onnx", "v.engine", "int8", graph_profiles(MANIFEST)["vision"], "calib.cache")
    assert "--int8" in vision and "--calib=calib.cache" in vision and "Shapes" not in vision


def _graph(path: Path, node: onnx.NodeProto, inputs, outputs, initializers=(), opset: int = 18) -> Path:
    graph = helper.make_graph([node], "g", inputs, outputs, list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def test_compat_check_flags_what_tensorrt_rejects(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    ok = _graph(tmp_path / "ok.onnx", helper.make_node("Relu", ["x"], ["y"]), [x], [y])
    assert check_graph(ok, {"x"}) == []
    assert any("no optimisation profile" in f.message for f in check_graph(ok))
    unsupported = _graph(tmp_path / "u.onnx", helper.make_node("Unique", ["x"], ["y"]), [x], [y])
    with pytest.raises(TensorRtIncompatible, match="Unique"):
        assert_trt_compatible(unsupported, {"x"})
    old = _graph(tmp_path / "old.onnx", helper.make_node("Relu", ["x"], ["y"]), [x], [y], opset=13)
    assert any("opset 13" in f.message for f in check_graph(old, {"x"}))
    axes = helper.make_tensor_value_info("axes", TensorProto.INT64, [1])
    dynamic_axes = _graph(tmp_path / "a.onnx", helper.make_node("Unsqueeze", ["x", "axes"], ["y"]), [x, axes], [y])
    assert any("non-constant axes" in f.message for f in check_graph(dynamic_axes, {"x"}))
    d = helper.make_tensor_value_info("d", TensorProto.DOUBLE, [2])
    e = helper.make_tensor_value_info("e", TensorProto.DOUBLE, [2])
    double = _graph(tmp_path / "d.onnx", helper.make_node("Relu", ["d"], ["e"]), [d], [e])
    findings = check_graph(double)
    assert findings and all(f.severity == "warning" and "float64" in f.message for f in findings)
    s = helper.make_tensor_value_info("s", TensorProto.STRING, [2])
    strings = _graph(tmp_path / "s.onnx", helper.make_node("Identity", ["s"], ["t"]), [s], [helper.make_tensor_value_info("t", TensorProto.STRING, [2])])
    assert any(f.severity == "error" and "STRING" in f.message for f in check_graph(strings))


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="tensorrt is not installed (cannot be on this machine)")
def test_tensorrt_engine_builds_and_matches_onnxruntime(tmp_path: Path) -> None:  # pragma: no cover - needs TensorRT
    pytest.importorskip("torch")
    from exported_tiny import export_tiny, planner_input

    from evodrive_ros.runtime import load_planner

    exported = export_tiny(tmp_path)
    trt = load_planner(exported.model_dir, "tensorrt", precision="fp32", engine_cache=tmp_path / "engines")
    ort = load_planner(exported.model_dir, "onnxruntime")
    inputs = planner_input(0)
    ours, reference = trt.plan(inputs), ort.plan(inputs)
    assert ours.ok and np.allclose(ours.waypoints, reference.waypoints, atol=0.05)
    assert list((tmp_path / "engines").glob("*.engine"))
