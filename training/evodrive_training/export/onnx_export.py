"""Checkpoint -> model directory: two ONNX graphs, the tokenizer and ``model.json``, written atomically.

The graphs come from the TorchScript-based ``torch.onnx`` exporter (``dynamo=False``): on the
wrappers in ``graphs.py`` it exports both graphs in about a second each with dynamic sequence and
past lengths, where the dynamo exporter takes ~30 s on the decoder here. It is deprecated in
torch >= 2.9 but still shipped; moving to ``dynamo=True`` only needs ``dynamic_shapes`` instead of
``dynamic_axes`` (tried: same outputs). Every graph is checked with ``onnx.checker`` and the
TensorRT compatibility check before the directory appears.
"""

from __future__ import annotations

import datetime
import subprocess
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import transformers
from transformers import PreTrainedTokenizerBase, Qwen2_5_VLForConditionalGeneration

from evodrive_ros.core import prompts
from evodrive_ros.core.constrained_decoding import max_answer_tokens
from evodrive_ros.core.conventions import CAMERAS, FUTURE_STEPS, HISTORY_STEPS
from evodrive_ros.core.ego_draft import DRAFT_FILE
from evodrive_ros.core.model_manifest import (
    DECODER_GRAPH,
    MANIFEST_FILE,
    ROAD_GRAPH,
    ROAD_OUTPUT,
    VISION_GRAPH,
    VISION_INPUT,
    VISION_OUTPUT,
    Architecture,
    GraphFile,
    ModelManifest,
    decoder_io_names,
)
from evodrive_ros.core.preprocessing import ImageSpec
from evodrive_ros.core.safe_output import check_output_dir, output_dir, sha256_file
from evodrive_ros.core.trajectory_codec import TrajectoryCodec
from evodrive_ros.runtime.engine_plan import graph_profiles
from evodrive_training.export.trt_compat import assert_trt_compatible
from evodrive_training.export.graphs import DecoderWithCache, FixedGridVision, RoadAhead, kv_shape
from evodrive_training.models.presets import codec_of, image_spec, load_pretrained, road_perception, trajectory_frame_of

OPSET = 18
EXPORT_TOOL = "evodrive export"
TOKENIZER_FILE = "tokenizer.json"
GRAPH_FILES = {VISION_GRAPH: "vision.onnx", DECODER_GRAPH: "decoder.onnx", ROAD_GRAPH: "road.onnx"}


def export_vision(model: Qwen2_5_VLForConditionalGeneration, spec: ImageSpec, n_images: int, path: Path, opset: int = OPSET) -> None:
    """Vision tower + merger for exactly ``n_images`` images of ``spec`` (all shapes static)."""
    wrapper = FixedGridVision(model.model.visual, spec, n_images).eval()
    pixel_values = torch.zeros(n_images * spec.grid_thw[1] * spec.grid_thw[2], spec.patch_dim)
    _export(wrapper, (pixel_values,), path, [VISION_INPUT], [VISION_OUTPUT], None, opset)


def export_road(perception: torch.nn.Module, spec: ImageSpec, n_images: int, path: Path, opset: int = OPSET) -> None:
    """A road perception (``RoadPerception``) for exactly ``n_images`` images of ``spec``: the same
    input as the vision graph, the drivable shares ahead out (all shapes static)."""
    pixel_values = torch.zeros(n_images * spec.grid_thw[1] * spec.grid_thw[2], spec.patch_dim)
    _export(RoadAhead(perception, spec, n_images).eval(), (pixel_values,), path, [VISION_INPUT], [ROAD_OUTPUT], None, opset)


def export_decoder(model: Qwen2_5_VLForConditionalGeneration, path: Path, opset: int = OPSET) -> None:
    """Language model with KV cache; dynamic ``seq`` (new tokens) and ``past`` (cached tokens)."""
    layers, kv_heads, head_dim = kv_shape(model)
    inputs, outputs = decoder_io_names(layers)
    seq, past = 5, 3  # example sizes; both dimensions are exported as dynamic
    example = (
        torch.zeros(1, seq, dtype=torch.long),
        torch.zeros(1, seq, model.config.text_config.hidden_size),
        torch.zeros(3, 1, seq, dtype=torch.long),
        *[torch.zeros(1, kv_heads, past, head_dim) for _ in inputs[3:]],
    )
    axes = {"input_ids": {1: "seq"}, "image_embeds": {1: "seq"}, "position_ids": {2: "seq"}}
    axes |= {name: {2: "past"} for name in inputs[3:]} | {name: {2: "total"} for name in outputs[1:]}
    _export(DecoderWithCache(model).eval(), example, path, inputs, outputs, axes, opset)


def _export(module: torch.nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], axes: dict | None, opset: int) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(
            module, args, str(path), dynamo=False, input_names=inputs, output_names=outputs,
            dynamic_axes=axes, opset_version=opset, do_constant_folding=True,
        )
    onnx.checker.check_model(str(path), full_check=True)


def architecture(model: Qwen2_5_VLForConditionalGeneration) -> Architecture:
    text, vision = model.config.text_config, model.config.vision_config
    layers, kv_heads, head_dim = kv_shape(model)
    return Architecture(
        hidden_size=text.hidden_size, num_layers=layers, num_heads=text.num_attention_heads,
        num_kv_heads=kv_heads, head_dim=head_dim, intermediate_size=text.intermediate_size,
        vocab_size=text.vocab_size, image_token_id=model.config.image_token_id,
        vision_depth=vision.depth, vision_width=vision.hidden_size, vision_heads=vision.num_heads,
        vision_intermediate_size=vision.intermediate_size,
        vision_full_attention_blocks=tuple(vision.fullatt_block_indexes), vision_window_size=vision.window_size,
    )


def max_sequence_length(tokenizer: PreTrainedTokenizerBase, spec: ImageSpec, n_images: int, codec: TrajectoryCodec) -> int:
    """Longest prompt (every number at its widest, ``-999.99``) plus the longest possible answer."""
    widest = -999.99
    user = prompts.student_user_prompt(np.full((HISTORY_STEPS, 2), widest), np.full((HISTORY_STEPS, 4), widest), "FORWARD", codec,
                                       prior_xy=np.full((FUTURE_STEPS, 2), widest) if codec.shows_draft else None)
    text = prompts.inference_prompt(prompts.expand_images(user, [spec.tokens_per_image] * n_images))
    return len(tokenizer(text)["input_ids"]) + max_answer_tokens(decimals=codec.decimals)


def export_model_dir(checkpoint: str | Path, out: str | Path, overwrite: bool = False, preset: str | None = None) -> ModelManifest:
    """Export ``checkpoint`` (a ``save_pretrained`` directory) to the model directory ``out``."""
    checkpoint, out = Path(checkpoint), Path(out)
    check_output_dir(out, EXPORT_TOOL, [checkpoint], overwrite)
    model, tokenizer = load_pretrained(checkpoint, dtype=torch.float32)
    model.eval()
    model.set_attn_implementation("eager")  # the TorchScript exporter does not convert GQA + SDPA
    spec = image_spec(model)
    with output_dir(out, EXPORT_TOOL, [checkpoint], overwrite) as tmp:
        manifest = _write_model_dir(model, tokenizer, spec, tmp, checkpoint, preset)
    return manifest


def _write_model_dir(model, tokenizer, spec: ImageSpec, tmp: Path, checkpoint: Path, preset: str | None) -> ModelManifest:
    export_vision(model, spec, len(CAMERAS), tmp / GRAPH_FILES[VISION_GRAPH])
    export_decoder(model, tmp / GRAPH_FILES[DECODER_GRAPH])
    tokenizer.backend_tokenizer.save(str(tmp / TOKENIZER_FILE))
    codec, frame = codec_of(model, checkpoint), trajectory_frame_of(model)
    draft, graphs = None, [VISION_GRAPH, DECODER_GRAPH]
    if codec.draft is not None:
        codec.draft.save(tmp / DRAFT_FILE)
        draft = GraphFile(DRAFT_FILE, sha256_file(tmp / DRAFT_FILE))
        if codec.draft.reads_road:  # what it reads, seen by the road perception that travels with the model
            export_road(road_perception(checkpoint, model), spec, len(CAMERAS), tmp / GRAPH_FILES[ROAD_GRAPH])
            graphs.append(ROAD_GRAPH)
    manifest = ModelManifest(
        draft=draft,
        codec=codec.name,
        prior=codec.prior,
        trajectory_frame=frame.name,
        sensor_mount=frame.mount,
        cameras=CAMERAS,
        image=spec,
        prompt_version=prompts.PROMPT_VERSION,
        tokenizer=TOKENIZER_FILE,
        tokenizer_sha256=sha256_file(tmp / TOKENIZER_FILE),
        graphs={name: GraphFile(GRAPH_FILES[name], sha256_file(tmp / GRAPH_FILES[name])) for name in graphs},
        architecture=architecture(model),
        max_sequence_length=max_sequence_length(tokenizer, spec, len(CAMERAS), codec),
        provenance=_provenance(model, checkpoint, preset),
    )
    for name, profile in graph_profiles(manifest).items():
        assert_trt_compatible(tmp / GRAPH_FILES[name], profile)
    (tmp / MANIFEST_FILE).write_text(manifest.to_json())
    return manifest


def _provenance(model: Qwen2_5_VLForConditionalGeneration, checkpoint: Path, preset: str | None) -> dict:
    return {
        "source_checkpoint": checkpoint.resolve().name,  # no build machine's paths in a shipped folder
        "git_commit": _git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "preset": preset or getattr(model.config, "evodrive_preset", None) or "unknown",
        "exporter": f"torch {torch.__version__} (TorchScript ONNX exporter), transformers {transformers.__version__}",
        "opset": OPSET,
    }


def _git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
