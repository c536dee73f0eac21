"""ONNX Runtime engine (CPU or CUDA execution provider) over a model directory's two graphs, and its road graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from evodrive_ros.core.model_manifest import (
    DECODER_GRAPH,
    MANIFEST_FILE,
    ROAD_OUTPUT,
    VISION_GRAPH,
    VISION_INPUT,
    VISION_OUTPUT,
    ModelManifest,
    decoder_io_names,
)
from evodrive_ros.runtime.pipeline import KvCacheEngine

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def check_graphs_match(manifest: ModelManifest, vision: ort.InferenceSession, decoder: ort.InferenceSession) -> None:
    """Refuse, with one line, a manifest whose architecture or image size is not the graphs': a
    mismatch would otherwise first fail inside inference, every cycle."""
    arch, spec = manifest.architecture, manifest.image
    shapes = {i.name: i.shape for i in decoder.get_inputs()} | {o.name: o.shape for o in decoder.get_outputs()}
    expected_inputs, expected_outputs = decoder_io_names(arch.num_layers)
    problems = []
    if set(shapes) != set(expected_inputs) | set(expected_outputs):
        layers = sum(name.startswith("past_key_") for name in shapes)
        problems.append(f"num_layers {arch.num_layers}, the decoder graph has {layers}")
    else:
        if shapes["past_key_0"][1] != arch.num_kv_heads or shapes["past_key_0"][3] != arch.head_dim:
            problems.append(f"KV cache (heads {arch.num_kv_heads}, head_dim {arch.head_dim}) vs the graph's {shapes['past_key_0']}")
        if shapes["logits"][-1] != arch.vocab_size:
            problems.append(f"vocab_size {arch.vocab_size}, the graph's logits have {shapes['logits'][-1]}")
        if shapes["image_embeds"][-1] != arch.hidden_size:
            problems.append(f"hidden_size {arch.hidden_size}, the graph's {shapes['image_embeds'][-1]}")
    patches = vision.get_inputs()[0].shape[0]
    per_camera = spec.grid_thw[1] * spec.grid_thw[2]
    if patches != per_camera * len(manifest.cameras):
        problems.append(f"{len(manifest.cameras)} cameras at {spec.height}x{spec.width} ({per_camera} patches each), "
                        f"the vision graph takes {patches} patches")
    if problems:
        raise ValueError(f"{MANIFEST_FILE} does not describe its graphs: " + "; ".join(problems))


def session(path: Path, device: str = "cpu", threads: int | None = None) -> ort.InferenceSession:
    """An onnxruntime session on ``device`` with ``threads`` intra-op threads (None: one per core)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=PROVIDERS[device])


class OnnxRoadView:
    """The road graph of a model whose draft reads the road ahead (``pipeline.RoadView``). It runs on
    onnxruntime under every backend, the TensorRT one included: for the tiny preset it is a
    two-block vision tower and a linear head, a few milliseconds on a CPU."""

    def __init__(self, path: Path, device: str = "cpu", threads: int | None = None) -> None:
        self.session = session(path, device, threads)

    def __call__(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.session.run([ROAD_OUTPUT], {VISION_INPUT: pixel_values.astype(np.float32, copy=False)})[0][0]


def cuda_available() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


class OnnxRuntimeEngine(KvCacheEngine):
    """Vision session + decoder session; the KV cache lives in numpy arrays between steps.

    ``threads`` sets intra-op threads (None: onnxruntime's default, one per core). On CUDA the cache
    makes a host round trip each step; IO binding would keep it on the device (not done yet).
    """

    def __init__(self, model_dir: str | Path, manifest: ModelManifest, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(manifest)
        self.vision = session(manifest.graph_path(model_dir, VISION_GRAPH), device, threads)
        self.decoder = session(manifest.graph_path(model_dir, DECODER_GRAPH), device, threads)
        check_graphs_match(manifest, self.vision, self.decoder)

    def run_vision(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.vision.run([VISION_OUTPUT], {VISION_INPUT: pixel_values})[0]

    def run_decoder(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.decoder.run(self.output_names, feeds)))
