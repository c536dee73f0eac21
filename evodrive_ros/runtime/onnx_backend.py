"""ONNX Runtime engine (CPU or CUDA execution provider) over a model directory's two graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from evodrive_ros.core.model_manifest import (
    DECODER_GRAPH,
    VISION_GRAPH,
    VISION_INPUT,
    VISION_OUTPUT,
    ModelManifest,
)
from evodrive_ros.runtime.pipeline import KvCacheEngine

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def cuda_available() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


class OnnxRuntimeEngine(KvCacheEngine):
    """Vision session + decoder session; the KV cache lives in numpy arrays between steps.

    ``threads`` sets intra-op threads (None: onnxruntime's default, one per core). On CUDA the cache
    makes a host round trip each step; IO binding would keep it on the device (not done yet).
    """

    def __init__(self, model_dir: str | Path, manifest: ModelManifest, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(manifest)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        providers = PROVIDERS[device]
        self.vision = ort.InferenceSession(str(manifest.graph_path(model_dir, VISION_GRAPH)), options, providers=providers)
        self.decoder = ort.InferenceSession(str(manifest.graph_path(model_dir, DECODER_GRAPH)), options, providers=providers)

    def run_vision(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.vision.run([VISION_OUTPUT], {VISION_INPUT: pixel_values})[0]

    def run_decoder(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.decoder.run(self.output_names, feeds)))
