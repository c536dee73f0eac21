"""Export-friendly wrappers around a Qwen2.5-VL: a fixed-grid vision encoder and a KV-cache decoder.

Both reuse the model's own modules and weights; only the parts that do not trace are rewritten:

* ``FixedGridVision``: the stock vision attention splits the sequence into windows with a
  data-dependent ``torch.split``. For a fixed camera count and image size the window layout is a
  constant, so the window permutation, the rotary tables and a per-patch window id are computed once
  here with transformers' own helpers; attention then runs as one SDPA call per image (images are
  batched, they never attend to each other) with a block-diagonal mask from the window ids. The
  patch embedding is written as the matrix product it is.
* ``RoadAhead``: the same fixed-grid encoder under a road perception's head (a draft that reads
  the road ahead), the drivable shares of its cells as the output.
* ``DecoderWithCache``: one graph for any S new tokens on top of P cached ones (the prompt's fixed
  prefix with P = 0, the rest of the prompt on that prefix, decode steps of one or more tokens):
  token embeddings with the image features in place of ``<|image_pad|>``, the decoder layers with
  an explicit causal mask and KV cache in and out, logits of the last position only.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import Qwen2_5_VLForConditionalGeneration
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb_vision
from transformers.vision_utils import get_vision_position_ids, get_vision_window_index

from evodrive_ros.core.preprocessing import ImageSpec


class FixedGridVision(nn.Module):
    """pixel_values [n·gh·gw, patch_dim] -> image features [n·tokens_per_image, hidden] (LLM width)
    of a Qwen2.5-VL vision tower (``visual``: the model's, or a road perception's copy)."""

    def __init__(self, visual: nn.Module, spec: ImageSpec, n_images: int) -> None:
        super().__init__()
        self.visual = visual
        self.n_images = n_images
        grid = torch.tensor([spec.grid_thw], dtype=torch.long)
        unit = self.visual.spatial_merge_unit
        window_index, cu_windows = get_vision_window_index(
            grid, self.visual.spatial_merge_size, self.visual.window_size, self.visual.patch_size
        )
        patches = int(grid.prod())
        window_of_patch = torch.repeat_interleave(
            torch.arange(len(cu_windows) - 1), (cu_windows[1:] - cu_windows[:-1]).long()
        )
        positions = get_vision_position_ids(grid, self.visual.spatial_merge_size)
        cos, sin = self.visual.rotary_pos_emb(torch.zeros(1), positions)
        order = (window_index[:, None] * unit + torch.arange(unit)).reshape(-1)  # patch order inside windows
        self.register_buffer("patch_order", order, persistent=False)
        self.register_buffer("merged_restore", torch.argsort(window_index), persistent=False)
        self.register_buffer("cos", cos[order], persistent=False)
        self.register_buffer("sin", sin[order], persistent=False)
        self.register_buffer("window_mask", window_of_patch[:, None] == window_of_patch[None, :], persistent=False)
        self.patches_per_image = patches

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        n, p = self.n_images, self.patches_per_image
        x = self._embed_patches(pixel_values).reshape(n, p, -1)[:, self.patch_order]
        for index, block in enumerate(self.visual.blocks):
            mask = None if index in self.visual.fullatt_block_indexes else self.window_mask
            x = x + self._attention(block.attn, block.norm1(x), mask)
            x = x + block.mlp(block.norm2(x))
        merged = self.visual.merger(x).reshape(n, p // self.visual.spatial_merge_unit, -1)
        return merged[:, self.merged_restore].reshape(-1, merged.shape[-1])

    def _embed_patches(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The patch embedding's Conv3d has stride = kernel, so it is one matrix product with the
        flattened kernel (same patch layout); CPU runtimes run that ~10x faster than a 3-D conv."""
        weight = self.visual.patch_embed.proj.weight
        return pixel_values.to(weight.dtype) @ weight.reshape(weight.shape[0], -1).T

    def _attention(self, attn: nn.Module, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        n, p, width = x.shape
        q, k, v = attn.qkv(x).reshape(n, p, 3, attn.num_heads, -1).unbind(2)  # each [n, p, heads, hd]
        q, k = apply_rotary_pos_emb_vision(q, k, self.cos, self.sin)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=attn.scaling)
        return attn.proj(out.transpose(1, 2).reshape(n, p, width))


class RoadAhead(nn.Module):
    """pixel_values of one frame's cameras -> [1, cells, cells] drivable shares of the area ahead
    (``perception.RoadPerception``: its frozen tower, read by its head, through a sigmoid)."""

    def __init__(self, perception: nn.Module, spec: ImageSpec, n_images: int) -> None:
        super().__init__()
        self.tokens = FixedGridVision(perception.visual, spec, n_images)
        self.head = perception.head

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        tokens = self.tokens(pixel_values)
        return torch.sigmoid(self.head(tokens.reshape(1, -1, tokens.shape[-1])))


class DecoderWithCache(nn.Module):
    """(input_ids [1,S], image_embeds [1,S,D], position_ids [3,1,S], past k/v per layer)
    -> (logits [1,V] of the last position, present k/v per layer [1,kv_heads,P+S,head_dim]).

    The layers' weights and norms are the model's own; the attention is written out with every
    reshape in literal sizes (batch 1, -1 for sequence lengths). Traced through transformers'
    attention, each layer re-derives its shapes at run time (~240 nodes, mostly Shape/Gather/
    Concat), which costs more than the arithmetic in a decode step. Grouped-query
    attention folds the query heads of a KV group into the row axis instead of repeating K and V.
    """

    def __init__(self, model: Qwen2_5_VLForConditionalGeneration) -> None:
        super().__init__()
        self.language_model = model.model.language_model
        self.lm_head = model.lm_head
        self.image_token_id = model.config.image_token_id
        _, self.kv_heads, self.head_dim = kv_shape(model)
        self.heads = model.config.text_config.num_attention_heads
        self.group = self.heads // self.kv_heads

    def forward(self, input_ids: torch.Tensor, image_embeds: torch.Tensor, position_ids: torch.Tensor, *past_flat: torch.Tensor):
        lm = self.language_model
        is_image = (input_ids == self.image_token_id).unsqueeze(-1)
        hidden = torch.where(is_image, image_embeds, lm.embed_tokens(input_ids))
        cos, sin = (t.unsqueeze(1) for t in lm.rotary_emb(hidden, position_ids))  # [1, 1, S, head_dim]
        mask = self._causal_mask(input_ids.shape[1], past_flat[0].shape[2], hidden.dtype).repeat(self.group, 1)
        present = []
        for index, layer in enumerate(lm.layers):
            attn = layer.self_attn
            x = layer.input_layernorm(hidden)
            q = self._rotate(attn.q_proj(x).view(1, -1, self.heads, self.head_dim).transpose(1, 2), cos, sin)
            k = self._rotate(attn.k_proj(x).view(1, -1, self.kv_heads, self.head_dim).transpose(1, 2), cos, sin)
            v = attn.v_proj(x).view(1, -1, self.kv_heads, self.head_dim).transpose(1, 2)
            k = torch.cat([past_flat[2 * index], k], dim=2)
            v = torch.cat([past_flat[2 * index + 1], v], dim=2)
            present += [k, v]
            scores = q.reshape(1, self.kv_heads, -1, self.head_dim) @ k.transpose(2, 3) * attn.scaling + mask
            out = torch.softmax(scores, dim=-1) @ v  # [1, kv_heads, group·S, head_dim]
            out = out.reshape(1, self.heads, -1, self.head_dim).transpose(1, 2).reshape(1, -1, self.heads * self.head_dim)
            hidden = hidden + attn.o_proj(out)
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        logits = self.lm_head(lm.norm(hidden[:, -1:]))[:, -1]
        return (logits, *present)

    def _rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = self.head_dim // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin

    @staticmethod
    def _causal_mask(seq: int, past: int, dtype: torch.dtype) -> torch.Tensor:
        """[S, P+S] additive mask: query i (at position P+i) sees keys 0..P+i."""
        query = torch.arange(seq).unsqueeze(1) + past
        key = torch.arange(seq + past).unsqueeze(0)
        return torch.where(key <= query, torch.zeros((), dtype=dtype), torch.tensor(torch.finfo(dtype).min, dtype=dtype))


def kv_shape(model: Qwen2_5_VLForConditionalGeneration) -> tuple[int, int, int]:
    """(layers, kv heads, head dim) of the language model's cache."""
    text = model.config.text_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    return text.num_hidden_layers, text.num_key_value_heads, head_dim
