"""TensorRT (>= 10) engine through its Python API, with the on-disk engine cache.

UNVERIFIED: ``tensorrt`` cannot be installed on our machines (see ENVIRONMENT.md), so this code has
never run. What is tested here: the cache key, the optimisation profiles and the trtexec command
(``engine_plan``), and the ONNX graphs' TensorRT compatibility (``trt_compat``). Device memory comes
from ``cuda-python`` (``cuda.bindings.runtime``, JetPack/NGC: ``pip install cuda-python``).

Engines are built from the model directory's ONNX on first use (FP16 by default; FP32; INT8 from a
calibration cache) and cached under ``~/.cache/evodrive/engines``; an engine that no longer
deserialises (other TensorRT, corrupt file) is rebuilt. ``python -m evodrive_ros.runtime.tensorrt_backend
MODEL_DIR --build-only`` builds the engines ahead of time and prints the equivalent trtexec commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from evodrive_ros.core.model_manifest import (
    DECODER_GRAPH,
    VISION_GRAPH,
    VISION_INPUT,
    VISION_OUTPUT,
    ModelManifest,
    read_manifest,
)
from evodrive_ros.core.safe_output import atomic_write
from evodrive_ros.runtime.engine_plan import (
    PRECISIONS,
    Profile,
    default_cache_dir,
    engine_cache_path,
    graph_profiles,
    trtexec_command,
)
from evodrive_ros.runtime.pipeline import KvCacheEngine


class TensorRtEngine(KvCacheEngine):
    """:class:`~evodrive_ros.runtime.pipeline.ModelEngine` on two TensorRT engines (unverified, see module doc).

    The KV cache makes a host round trip every step: simple and correct, not the fastest; binding
    each step's ``present_*`` device buffers as the next ``past_*`` inputs is the next optimisation.
    """

    def __init__(
        self,
        model_dir: str | Path,
        manifest: ModelManifest,
        precision: str = "fp16",
        cache_dir: str | Path | None = None,
        calibration_cache: str | Path | None = None,
    ) -> None:
        super().__init__(manifest)
        engines = build_engines(model_dir, manifest, precision, cache_dir, calibration_cache)
        self.vision = _TrtGraph(engines[VISION_GRAPH])
        self.decoder = _TrtGraph(engines[DECODER_GRAPH])

    def run_vision(self, pixel_values: np.ndarray) -> np.ndarray:
        return self.vision.run({VISION_INPUT: pixel_values})[VISION_OUTPUT]

    def run_decoder(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.decoder.run(feeds)


def build_engines(
    model_dir: str | Path,
    manifest: ModelManifest,
    precision: str = "fp16",
    cache_dir: str | Path | None = None,
    calibration_cache: str | Path | None = None,
) -> dict:
    """Deserialised engines per graph, from the cache or freshly built (and then cached)."""
    import tensorrt as trt

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "int8" and not calibration_cache:
        raise ValueError("int8 needs a calibration cache (calibration_cache=...)")
    logger = trt.Logger(trt.Logger.WARNING)
    runtime = trt.Runtime(logger)
    capability = _compute_capability()
    engines = {}
    for name, profile in graph_profiles(manifest).items():
        onnx_path = manifest.graph_path(model_dir, name)
        path = engine_cache_path(
            cache_dir or default_cache_dir(), name, manifest.graphs[name].sha256, trt.__version__, capability, precision, profile
        )
        engine = runtime.deserialize_cuda_engine(path.read_bytes()) if path.is_file() else None
        if engine is None:
            if path.is_file():
                print(f"evodrive: engine {path.name} does not load with this TensorRT; rebuilding", file=sys.stderr)
            data = _build(trt, logger, onnx_path, profile, precision, calibration_cache)
            atomic_write(path, data)
            engine = runtime.deserialize_cuda_engine(data)
        engines[name] = engine
    return engines


def _build(trt, logger, onnx_path: Path, profile: Profile, precision: str, calibration_cache: str | Path | None) -> bytes:
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _cache_calibrator(trt, Path(calibration_cache))
    optimisation = builder.create_optimization_profile()
    for name, (smallest, typical, largest) in profile.items():
        optimisation.set_shape(name, smallest, typical, largest)
    config.add_optimization_profile(optimisation)
    data = builder.build_serialized_network(network, config)
    if data is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    return bytes(data)


def _cache_calibrator(trt, cache: Path):
    """An INT8 calibrator that only replays an existing calibration cache (no calibration data)."""

    class CacheCalibrator(trt.IInt8EntropyCalibrator2):
        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names):
            return None

        def read_calibration_cache(self) -> bytes:
            return cache.read_bytes()

        def write_calibration_cache(self, data) -> None:
            return None

    return CacheCalibrator()


class _TrtGraph:
    """One engine + execution context; numpy in, numpy out, device buffers per call."""

    def __init__(self, engine) -> None:
        import tensorrt as trt
        from cuda.bindings import runtime as cudart

        self.trt, self.cudart, self.engine = trt, cudart, engine
        self.context = engine.create_execution_context()
        self.names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.stream = _check(cudart.cudaStreamCreate())

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        trt, cudart = self.trt, self.cudart
        buffers, outputs = [], {}
        try:
            for name, array in feeds.items():
                array = np.ascontiguousarray(array, dtype=trt.nptype(self.engine.get_tensor_dtype(name)))
                self.context.set_input_shape(name, array.shape)
                pointer = self._alloc(array.nbytes, buffers)
                _check(cudart.cudaMemcpy(pointer, array.ctypes.data, array.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
                self.context.set_tensor_address(name, pointer)
            for name in self.names:
                if self.engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
                    shape = tuple(self.context.get_tensor_shape(name))
                    outputs[name] = np.empty(shape, dtype=trt.nptype(self.engine.get_tensor_dtype(name)))
                    self.context.set_tensor_address(name, self._alloc(outputs[name].nbytes, buffers))
            if not self.context.execute_async_v3(self.stream):
                raise RuntimeError("TensorRT execution failed")
            for name, array in outputs.items():
                source = self.context.get_tensor_address(name)
                _check(cudart.cudaMemcpyAsync(array.ctypes.data, source, array.nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
            _check(cudart.cudaStreamSynchronize(self.stream))
        finally:
            for pointer in buffers:
                cudart.cudaFree(pointer)
        return outputs

    def _alloc(self, nbytes: int, buffers: list) -> int:
        pointer = _check(self.cudart.cudaMalloc(max(nbytes, 1)))  # empty tensors (past length 0) still need an address
        buffers.append(pointer)
        return pointer


def _check(result):
    """cuda-python returns (error, value...); raise on error, return the value."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if int(error) != 0:
        raise RuntimeError(f"CUDA error {error}")
    return values[0] if len(values) == 1 else None


def _compute_capability() -> tuple[int, int]:
    from cuda.bindings import runtime as cudart

    props = _check(cudart.cudaGetDeviceProperties(0))
    return int(props.major), int(props.minor)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp16")
    parser.add_argument("--calibration-cache", default=None, help="INT8 calibration cache (int8 only)")
    parser.add_argument("--cache-dir", default=None, help=f"engine cache (default {default_cache_dir()})")
    parser.add_argument("--build-only", action="store_true", help="build (or validate) the cached engines and exit")


def run(args: argparse.Namespace) -> int:
    """Print the trtexec equivalents; with --build-only also build the engines (needs TensorRT)."""
    manifest = read_manifest(args.model_dir, verify_hashes=True)
    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    for name, profile in graph_profiles(manifest).items():
        engine = cache_dir / f"{name}-{args.precision}.engine"
        print(trtexec_command(manifest.graph_path(args.model_dir, name), engine, args.precision, profile, args.calibration_cache))
    if args.build_only:
        build_engines(args.model_dir, manifest, args.precision, cache_dir, args.calibration_cache)
        print(f"engines cached in {cache_dir}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m evodrive_ros.runtime.tensorrt_backend", description=run.__doc__)
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
