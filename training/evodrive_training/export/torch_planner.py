"""PyTorch reference planner (development only): the stock transformers model behind the runtime's pipeline.

Same prompt, preprocessing and constrained decoding as the ONNX/TensorRT planners (the shared
``VlaPlanner``); the model calls are transformers' own modules with its ``DynamicCache`` and its
``get_rope_index``, so parity tests compare the exported graphs against an independent path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import DynamicCache, Qwen2_5_VLForConditionalGeneration

from evodrive_ros.core.conventions import CAMERAS
from evodrive_ros.core.preprocessing import ImageSpec
from evodrive_ros.runtime.pipeline import VlaPlanner
from evodrive_training.models.forward import mrope_positions, vision_tokens_of
from evodrive_training.models.presets import codec_of, image_spec, load_pretrained, road_perception, trajectory_frame_of


class TorchEngine:
    """:class:`~evodrive_ros.runtime.pipeline.ModelEngine` over an eager transformers model."""

    def __init__(self, model: Qwen2_5_VLForConditionalGeneration, spec: ImageSpec, n_images: int) -> None:
        self.model = model.eval()
        self.grid = torch.tensor([spec.grid_thw] * n_images)
        self.cache: DynamicCache | None = None
        self.rope_delta = 0

    @torch.inference_mode()
    def encode_images(self, pixel_values: np.ndarray) -> np.ndarray:
        return vision_tokens_of(self.model.model.visual, torch.from_numpy(pixel_values), self.grid).float().numpy()

    @torch.inference_mode()
    def prefill(self, input_ids: np.ndarray, image_embeds: np.ndarray, positions: np.ndarray) -> np.ndarray:
        ids = torch.from_numpy(input_ids)
        is_image = ids == self.model.config.image_token_id
        embeds = self.model.get_input_embeddings()(ids)
        embeds[is_image] = torch.from_numpy(image_embeds)[is_image].to(embeds.dtype)
        hf_positions = mrope_positions(self.model, ids, is_image.long(), self.grid, torch.ones_like(ids))
        self.rope_delta = int(hf_positions.max()) + 1 - ids.shape[1]
        self.cache = DynamicCache(config=self.model.config.text_config)
        return self._logits(embeds, hf_positions)

    @torch.inference_mode()
    def decode(self, token_ids: Sequence[int], position: int) -> np.ndarray:
        """``position`` is ignored: transformers' rule (cache length + rope delta) is used instead."""
        embeds = self.model.get_input_embeddings()(torch.tensor([list(token_ids)]))
        first = self.cache.get_seq_length() + self.rope_delta
        hf_positions = torch.arange(first, first + len(token_ids)).expand(3, 1, -1)
        return self._logits(embeds, hf_positions)

    def _logits(self, embeds: torch.Tensor, positions: torch.Tensor) -> np.ndarray:
        out = self.model.model.language_model(inputs_embeds=embeds, position_ids=positions, cache=self.cache, use_cache=True)
        return self.model.lm_head(out.last_hidden_state[:, -1]).float()[0].numpy()


def load_torch_planner(checkpoint: str | Path, threads: int | None = None) -> VlaPlanner:
    """The reference planner for a ``save_pretrained`` checkpoint (fp32, CPU unless the model is moved)."""
    if threads:
        torch.set_num_threads(threads)
    model, tokenizer = load_pretrained(checkpoint, dtype=torch.float32)
    spec, codec = image_spec(model), codec_of(model, checkpoint)
    engine = TorchEngine(model, spec, len(CAMERAS))
    road = None
    if codec.draft is not None and codec.draft.reads_road:
        perception, grid = road_perception(checkpoint, model), torch.tensor([spec.grid_thw] * len(CAMERAS))
        road = lambda pixel_values: perception(torch.from_numpy(pixel_values), grid, 1)[0].numpy()  # noqa: E731
    return VlaPlanner(
        engine, tokenizer.backend_tokenizer, spec, CAMERAS, model.config.image_token_id,
        model.config.text_config.hidden_size, f"{Path(checkpoint).name}/torch", codec, trajectory_frame_of(model), road,
    )
