"""First-principles cost of one planning frame: FLOPs per stage, decode bytes, and an Orin latency bound.

Counts multiply-adds as 2 FLOPs over the matrix products and attention (norms, activations and
rotary embeddings are ignored: < 2 %). Vision and prefill are compute bound (FLOPs / peak);
decode is memory bound (weights + KV cache read per token / bandwidth). The "ideal" figures are
lower bounds at 100 % of peak; the "typical" ones assume 40 % of peak compute and 70 % of peak
bandwidth, what well-tuned TensorRT engines usually reach on Jetson.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from evodrive_ros.core.model_manifest import Architecture
from evodrive_ros.core.preprocessing import ImageSpec

# Jetson AGX Orin 64 GB: 204.8 GB/s LPDDR5; GPU 170 sparse INT8 TOPS -> 85 dense INT8 -> 42.5 dense FP16 TFLOPS.
ORIN_BANDWIDTH_BPS = 204.8e9
ORIN_FP16_DENSE_FLOPS = 42.5e12
TYPICAL_COMPUTE_EFFICIENCY = 0.4
TYPICAL_BANDWIDTH_EFFICIENCY = 0.7


@dataclass(frozen=True)
class FrameShape:
    """What one frame asks of the model."""

    cameras: int
    image: ImageSpec
    prompt_tokens: int
    answer_tokens: int


def vision_flops(arch: Architecture, frame: FrameShape) -> float:
    spec = frame.image
    per_image = spec.grid_thw[1] * spec.grid_thw[2]
    patches = frame.cameras * per_image
    width, inner = arch.vision_width, arch.vision_intermediate_size
    window = min((arch.vision_window_size // spec.patch_size) ** 2, per_image)
    linear = 2 * patches * (4 * width * width + 3 * width * inner)  # qkv + proj, gated MLP
    full = len(arch.vision_full_attention_blocks)
    attention = 4 * patches * width * (full * per_image + (arch.vision_depth - full) * window)
    embed = 2 * patches * spec.patch_dim * width
    merged = patches // spec.merge_size**2
    merger = 2 * merged * (4 * width) * (4 * width + arch.hidden_size)
    return float(arch.vision_depth * linear + attention + embed + merger)


def _layer_linear_flops_per_token(arch: Architecture) -> float:
    q_and_o = 2 * arch.hidden_size * arch.num_heads * arch.head_dim
    k_and_v = 2 * arch.hidden_size * arch.num_kv_heads * arch.head_dim
    mlp = 3 * arch.hidden_size * arch.intermediate_size
    return 2.0 * (q_and_o + k_and_v + mlp)


def prefill_flops(arch: Architecture, frame: FrameShape) -> float:
    n = frame.prompt_tokens
    attention = 2 * n * n * arch.num_heads * arch.head_dim  # causal: half of 4·n²·d
    head = 2 * arch.hidden_size * arch.vocab_size  # logits of the last position only
    return float(arch.num_layers * (n * _layer_linear_flops_per_token(arch) + attention) + head)


def decode_flops(arch: Architecture, frame: FrameShape) -> float:
    total = 0.0
    for step in range(frame.answer_tokens - 1):  # the last answer token needs no forward pass
        context = frame.prompt_tokens + step + 1
        attention = 4 * context * arch.num_heads * arch.head_dim
        total += arch.num_layers * (_layer_linear_flops_per_token(arch) + attention) + 2 * arch.hidden_size * arch.vocab_size
    return total


def language_parameters(arch: Architecture) -> float:
    """Decoder weights read per token: the layers plus the (tied) output projection."""
    per_layer = _layer_linear_flops_per_token(arch) / 2
    return arch.num_layers * per_layer + arch.hidden_size * arch.vocab_size


def vision_parameters(arch: Architecture, spec: ImageSpec) -> float:
    width = arch.vision_width
    merger = (4 * width) * (4 * width + arch.hidden_size)
    return arch.vision_depth * (4 * width * width + 3 * width * arch.vision_intermediate_size) + spec.patch_dim * width + merger


def decode_bytes(arch: Architecture, frame: FrameShape, bytes_per_weight: float = 2.0, bytes_per_cache: float = 2.0) -> float:
    total = 0.0
    for step in range(frame.answer_tokens - 1):
        context = frame.prompt_tokens + step + 1
        cache = 2 * arch.num_layers * arch.num_kv_heads * arch.head_dim * context * bytes_per_cache
        total += language_parameters(arch) * bytes_per_weight + cache
    return total


def frame_flops(arch: Architecture, frame: FrameShape) -> dict[str, float]:
    stages = {"vision": vision_flops(arch, frame), "prefill": prefill_flops(arch, frame), "decode": decode_flops(arch, frame)}
    return stages | {"total": sum(stages.values())}


def orin_estimate_ms(arch: Architecture, frame: FrameShape, typical: bool = False) -> dict[str, float]:
    """Orin AGX, FP16 weights and cache: vision/prefill FLOP bound, decode bandwidth bound (ms)."""
    compute = ORIN_FP16_DENSE_FLOPS * (TYPICAL_COMPUTE_EFFICIENCY if typical else 1.0)
    bandwidth = ORIN_BANDWIDTH_BPS * (TYPICAL_BANDWIDTH_EFFICIENCY if typical else 1.0)
    stages = {
        "vision": vision_flops(arch, frame) / compute * 1e3,
        "prefill": prefill_flops(arch, frame) / compute * 1e3,
        "decode": decode_bytes(arch, frame) / bandwidth * 1e3,
    }
    return stages | {"total": sum(stages.values())}


def cpu_peak_flops(cores: int | None = None, ghz: float | None = None, flops_per_cycle: int = 32) -> tuple[float, str]:
    """Peak FP32 FLOP/s of this CPU and the assumption behind it.

    Default 32 FLOPs/cycle/core: two 256-bit FMA pipes (AVX2, Zen 2-4 / Skylake client) x 8 floats x 2.
    """
    cores = cores or os.cpu_count() or 1
    ghz = ghz or _cpu_ghz()
    assumption = f"{cores} cores x {ghz:.2f} GHz x {flops_per_cycle} FP32 FLOPs/cycle (2x256-bit FMA)"
    return cores * ghz * 1e9 * flops_per_cycle, assumption


def _cpu_ghz() -> float:
    try:
        with open("/proc/cpuinfo") as info:
            mhz = [float(line.split(":")[1]) for line in info if line.startswith("cpu MHz")]
        return max(mhz) / 1e3 if mhz else 2.5
    except OSError:
        return 2.5


# Reference architectures for the Orin estimate (qwen2.5-vl-3b: public config, METHOD.md §1.1).
QWEN25_VL_3B = Architecture(
    hidden_size=2048, num_layers=36, num_heads=16, num_kv_heads=2, head_dim=128, intermediate_size=11008,
    vocab_size=151936, image_token_id=151655, vision_depth=32, vision_width=1280, vision_heads=16,
    vision_intermediate_size=3420, vision_full_attention_blocks=(7, 15, 23, 31), vision_window_size=112,
)
# The ``deployable`` preset (training's ``BUILT_PRESETS``; a test checks an exported folder against
# this): ~0.1 B parameters sized for 10 Hz on Orin, with the project's small tokenizer (decode is
# bandwidth bound, and a 151 k-row tied output head alone would be 155 MB per token at this width).
DEPLOYABLE = Architecture(
    hidden_size=512, num_layers=12, num_heads=8, num_kv_heads=2, head_dim=64, intermediate_size=1536,
    vocab_size=2368, image_token_id=5, vision_depth=12, vision_width=512, vision_heads=8,
    vision_intermediate_size=1536, vision_full_attention_blocks=(3, 7, 11), vision_window_size=112,
)
# Qwen2.5-0.5B's language model (public config) with the deployable vision tower: shows why ~0.5 B
# misses 10 Hz on Orin (decode reads ~1 GB of FP16 weights per token).
QWEN25_05B = Architecture(
    hidden_size=896, num_layers=24, num_heads=14, num_kv_heads=2, head_dim=64, intermediate_size=4864,
    vocab_size=151936, image_token_id=151655, vision_depth=12, vision_width=512, vision_heads=8,
    vision_intermediate_size=1536, vision_full_attention_blocks=(3, 7, 11), vision_window_size=112,
)
