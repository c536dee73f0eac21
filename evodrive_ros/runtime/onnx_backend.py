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
    decoder_io_names,
)

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def cuda_available() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


class OnnxRuntimeEngine:
    """Vision session + decoder session; the KV cache lives in numpy arrays between steps.

    ``threads`` sets intra-op threads (None: onnxruntime's default, one per core). On CUDA the cache
    makes a host round trip each step; IO binding would keep it on the device (not done yet).
    """

    def __init__(self, model_dir: str | Path, manifest: ModelManifest, device: str = "cpu", threads: int | None = None) -> None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        providers = PROVIDERS[device]
        self.vision = ort.InferenceSession(str(manifest.graph_path(model_dir, VISION_GRAPH)), options, providers=providers)
        self.decoder = ort.InferenceSession(str(manifest.graph_path(model_dir, DECODER_GRAPH)), options, providers=providers)
        arch = manifest.architecture
        self.input_names, self.output_names = decoder_io_names(arch.num_layers)
        self.hidden_size = arch.hidden_size
        self._empty_past = np.zeros((1, arch.num_kv_heads, 0, arch.head_dim), dtype=np.float32)
        self._past: list[np.ndarray] = []

    def encode_images(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.vision.run([VISION_OUTPUT], {VISION_INPUT: pixel_values.astype(np.float32, copy=False)})[0]

    def prefill(self, input_ids: np.ndarray, image_embeds: np.ndarray, positions: np.ndarray) -> np.ndarray:
        past = [self._empty_past] * (len(self.input_names) - 3)
        return self._run(input_ids, image_embeds, positions, past)

    def decode(self, token_id: int, position: int) -> np.ndarray:
        ids = np.array([[token_id]], dtype=np.int64)
        embeds = np.zeros((1, 1, self.hidden_size), dtype=np.float32)
        positions = np.full((3, 1, 1), position, dtype=np.int64)
        return self._run(ids, embeds, positions, self._past)

    def _run(self, ids: np.ndarray, embeds: np.ndarray, positions: np.ndarray, past: list[np.ndarray]) -> np.ndarray:
        outputs = self.decoder.run(self.output_names, dict(zip(self.input_names, [ids, embeds, positions, *past])))
        self._past = outputs[1:]
        return outputs[0][0]
