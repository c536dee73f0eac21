"""``load_planner``: a model directory + a backend name -> a ready :class:`Planner`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tokenizers import Tokenizer

from evodrive_ros.core.frames import SensorMount, TrajectoryFrame
from evodrive_ros.core.model_manifest import ROAD_GRAPH, ModelManifest, read_manifest
from evodrive_ros.runtime.interface import Planner
from evodrive_ros.runtime.pipeline import ModelEngine, VlaPlanner

BACKENDS = ("auto", "onnxruntime", "onnxruntime-cuda", "tensorrt")


def available_backends() -> list[str]:
    """Backends this machine can run, fastest first (TensorRT needs its Python package and a GPU)."""
    from evodrive_ros.runtime.onnx_backend import cuda_available

    found = []
    if importlib.util.find_spec("tensorrt") is not None:
        found.append("tensorrt")
    if cuda_available():
        found.append("onnxruntime-cuda")
    found.append("onnxruntime")
    return found


def load_planner(
    model_dir: str | Path,
    backend: str = "auto",
    *,
    threads: int | None = None,
    precision: str = "fp16",
    engine_cache: str | Path | None = None,
    sensor_mount: SensorMount | None = None,
) -> Planner:
    """Load ``model_dir`` on ``backend``.

    ``threads``: onnxruntime intra-op threads. ``precision`` (fp16 | fp32 | int8) and
    ``engine_cache`` (default ``~/.cache/evodrive/engines``): TensorRT only. ``sensor_mount``: this
    vehicle's LIDAR_TOP on ``base_link``, for a model trained in the lidar frame (default: the
    calibration of its training data, from the manifest); ignored by an ego-frame model.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    manifest = read_manifest(model_dir, verify_hashes=True)
    if backend == "auto":
        backend = available_backends()[0]
    engine = _engine(Path(model_dir), manifest, backend, threads, precision, engine_cache)
    arch = manifest.architecture
    tokenizer = Tokenizer.from_file(str(manifest.tokenizer_path(model_dir)))
    model_id = f"{Path(model_dir).name}@{manifest.graphs['decoder'].sha256[:12]}/{backend}"
    frame = manifest.frame if sensor_mount is None or manifest.sensor_mount is None else TrajectoryFrame(manifest.trajectory_frame, sensor_mount)
    road = None
    if ROAD_GRAPH in manifest.graphs:
        from evodrive_ros.runtime.onnx_backend import OnnxRoadView

        road = OnnxRoadView(manifest.graph_path(model_dir, ROAD_GRAPH), "cuda" if backend == "onnxruntime-cuda" else "cpu", threads)
    return VlaPlanner(engine, tokenizer, manifest.image, manifest.cameras, arch.image_token_id, arch.hidden_size, model_id,
                      manifest.trajectory_codec(model_dir), frame, road)


def _engine(model_dir: Path, manifest: ModelManifest, backend: str, threads: int | None, precision: str, engine_cache: str | Path | None) -> ModelEngine:
    if backend == "tensorrt":
        from evodrive_ros.runtime.tensorrt_backend import TensorRtEngine

        return TensorRtEngine(model_dir, manifest, precision=precision, cache_dir=engine_cache)
    from evodrive_ros.runtime.onnx_backend import OnnxRuntimeEngine

    return OnnxRuntimeEngine(model_dir, manifest, device="cuda" if backend == "onnxruntime-cuda" else "cpu", threads=threads)
