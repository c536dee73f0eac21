"""A Qwen2.5-VL vision tower that computes the same function in fewer, larger CPU operations.

Measured on the tiny preset (session 17, one training step of 8 samples x 6 cameras, two threads):
- Without flash-attention (every CPU) the stock vision attention runs one attention call per window
  or image: 144 calls per step, each on a few dozen tokens. The chunks come in a few lengths (whole
  images, full windows, edge windows), so ``BatchedVisionAttention`` stacks the chunks of each
  length into one call.
- The patch embedding is a ``Conv3d`` whose kernel covers the whole patch: a matrix product over the
  flattened patch, which ``LinearPatchEmbed`` computes directly (the oneDNN convolution and its
  backward took 37 ms per step, 11 % of it).

Weights, parameter names and results are the stock ones (a test compares them); the saved model is
a stock model. Training, prediction and the probes switch a tower with ``speed_up_vision``; the ONNX
export keeps the stock modules.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import (Qwen2_5_VisionPatchEmbed, Qwen2_5_VLVisionAttention,
                                                                apply_rotary_pos_emb_vision)


class BatchedVisionAttention(Qwen2_5_VLVisionAttention):
    """Stock weights and maths; chunks of equal length attend in one call (no mask needed)."""

    def forward(self, hidden_states: torch.Tensor, cu_seqlens: torch.Tensor,
                position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None, max_seqlen: int | None = None,
                **kwargs) -> torch.Tensor:
        seq_length = hidden_states.shape[0]
        q, k, v = self.qkv(hidden_states).reshape(seq_length, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        cos, sin = position_embeddings
        q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)  # [S, H, d]
        out = torch.empty_like(q)
        starts, lengths = cu_seqlens[:-1].tolist(), (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
        for length in sorted(set(lengths)):
            first = torch.tensor([s for s, n in zip(starts, lengths) if n == length], device=q.device)
            rows = (first[:, None] + torch.arange(length, device=q.device)).reshape(-1)  # [n_chunks * length]
            gather = lambda t: t[rows].reshape(len(first), length, self.num_heads, -1).transpose(1, 2)  # noqa: E731 [n, H, L, d]
            attended = F.scaled_dot_product_attention(gather(q), gather(k), gather(v), scale=self.scaling)
            out = out.index_copy(0, rows, attended.transpose(1, 2).reshape(len(rows), self.num_heads, -1))
        return self.proj(out.reshape(seq_length, -1))


class LinearPatchEmbed(Qwen2_5_VisionPatchEmbed):
    """The patch convolution as the matrix product it is (kernel = stride = the patch; no bias)."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        weight = self.proj.weight
        return F.linear(hidden_states.to(weight.dtype), weight.reshape(self.embed_dim, -1))


_FASTER = {Qwen2_5_VLVisionAttention: BatchedVisionAttention, Qwen2_5_VisionPatchEmbed: LinearPatchEmbed}


def speed_up_vision(visual: torch.nn.Module) -> torch.nn.Module:
    """Switch the attention and patch-embedding modules of a Qwen2.5-VL vision tower to the faster
    equivalents above, in place (weights untouched); returns ``visual``."""
    for module in visual.modules():
        if (faster := _FASTER.get(type(module))) is not None:
            module.__class__ = faster
    return visual
