"""TensorRT engine planning that needs no TensorRT: optimisation profiles, cache keys, trtexec commands.

Engines are built on the target from the ONNX graphs and cached outside the model directory
(``~/.cache/evodrive/engines``, or ``$EVODRIVE_ENGINE_CACHE``), under a name made of everything that
makes an engine invalid: the ONNX sha256, the TensorRT version, the GPU compute capability, the
precision and the optimisation profile. A changed key simply means another file, so a mismatch
rebuilds instead of failing.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from pathlib import Path

from evodrive_ros.core.model_manifest import DECODER_GRAPH, VISION_GRAPH, VISION_INPUT, ModelManifest, decoder_io_names

PRECISIONS = ("fp16", "fp32", "int8")
Shape = tuple[int, ...]
Profile = dict[str, tuple[Shape, Shape, Shape]]  # input name -> (min, opt, max)


def default_cache_dir() -> Path:
    return Path(os.environ.get("EVODRIVE_ENGINE_CACHE", Path.home() / ".cache" / "evodrive" / "engines"))


def graph_profiles(manifest: ModelManifest) -> dict[str, Profile]:
    """Shapes each graph's engine must accept. Vision is static; the decoder covers prefill
    (seq up to the max prompt, past 0 or the cached prompt prefix) and decode (a few tokens a call,
    past up to the max sequence)."""
    arch, spec = manifest.architecture, manifest.image
    patches = len(manifest.cameras) * spec.grid_thw[1] * spec.grid_thw[2]
    vision_shape = (patches, spec.patch_dim)
    longest, opt = manifest.max_sequence_length, manifest.max_sequence_length // 2
    names, _ = decoder_io_names(arch.num_layers)
    decoder: Profile = {
        "input_ids": ((1, 1), (1, opt), (1, longest)),
        "image_embeds": ((1, 1, arch.hidden_size), (1, opt, arch.hidden_size), (1, longest, arch.hidden_size)),
        "position_ids": ((3, 1, 1), (3, 1, opt), (3, 1, longest)),
    }
    for name in names[3:]:
        decoder[name] = tuple((1, arch.num_kv_heads, past, arch.head_dim) for past in (0, opt, longest))
    return {VISION_GRAPH: {VISION_INPUT: (vision_shape, vision_shape, vision_shape)}, DECODER_GRAPH: decoder}


def engine_cache_path(
    cache_dir: str | Path,
    graph: str,
    onnx_sha256: str,
    tensorrt_version: str,
    compute_capability: tuple[int, int],
    precision: str,
    profile: Profile,
) -> Path:
    """Where the engine for exactly this graph, TensorRT, GPU, precision and profile lives."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    profile_tag = hashlib.sha256(repr(sorted(profile.items())).encode()).hexdigest()[:8]
    major, minor = compute_capability
    name = f"{graph}-{onnx_sha256[:16]}-trt{tensorrt_version}-sm{major}{minor}-{precision}-p{profile_tag}.engine"
    return Path(cache_dir) / name


def trtexec_command(onnx_path: str | Path, engine_path: str | Path, precision: str, profile: Profile, calibration_cache: str | Path | None = None) -> str:
    """The ``trtexec`` line that builds the same engine, for users who prefer NVIDIA's tool."""
    args = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={engine_path}"]
    if precision == "fp16":
        args.append("--fp16")
    elif precision == "int8":
        args += ["--int8", "--fp16"]
        if calibration_cache:
            args.append(f"--calib={calibration_cache}")
    dynamic = {name: shapes for name, shapes in profile.items() if len(set(shapes)) > 1}
    for flag, index in (("--minShapes", 0), ("--optShapes", 1), ("--maxShapes", 2)):
        if dynamic:
            args.append(flag + "=" + ",".join(f"{name}:{'x'.join(map(str, shapes[index]))}" for name, shapes in dynamic.items()))
    return shlex.join(args)
