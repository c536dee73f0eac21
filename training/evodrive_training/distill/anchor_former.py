"""AnchorFormer: per-visual-token weights for the self-anchored visual loss (METHOD §3.5).

Input: the student's input embedding sequence (prompt and teacher-forced answer) with every image
position holding the frozen anchor's visual tokens, plus one learnable query appended at the end.
One decoder layer copied from the student LLM (layer 0 by default, as in the released code; the
paper uses the last) runs over it with causal attention and plain integer 1-D positions. Score of
visual token i: a·(h_i ⊙ h_query); weight = sigmoid(score / τ_v).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from transformers import Qwen2_5_VLForConditionalGeneration


class AnchorFormer(nn.Module):
    def __init__(self, decoder_layer: nn.Module, rotary_emb: nn.Module, hidden_size: int, temperature: float = 2.0):
        super().__init__()
        self.layer = decoder_layer
        self.rotary_emb = rotary_emb
        self.query = nn.Parameter(torch.randn(hidden_size))
        self.scorer = nn.Linear(hidden_size, 1, bias=False)
        self.temperature = temperature

    @classmethod
    def from_student(cls, student: Qwen2_5_VLForConditionalGeneration, layer_index: int = 0, temperature: float = 2.0) -> AnchorFormer:
        """Copy a pretrained decoder layer (and the rotary embedding) of the student, at init time."""
        text = student.model.language_model
        return cls(copy.deepcopy(text.layers[layer_index]), copy.deepcopy(text.rotary_emb), text.config.hidden_size, temperature)

    def forward(self, inputs_embeds: torch.Tensor, visual_mask: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Weights in (0, 1) for every visual token of the batch, [N_v], in sequence (= feature) order.

        ``inputs_embeds`` [B, L, D] must already hold the anchor's visual tokens at ``visual_mask``;
        ``attention_mask`` [B, L] marks real tokens (right padding).
        """
        batch, length, _ = inputs_embeds.shape
        query = self.query.to(inputs_embeds.dtype).expand(batch, 1, -1)
        hidden = torch.cat([inputs_embeds, query], dim=1)
        valid = torch.cat([attention_mask.bool(), attention_mask.new_ones(batch, 1).bool()], dim=1)
        positions = (valid.long().cumsum(dim=1) - 1).clamp_min(0)  # 0..len-1, query at len
        positions = positions.unsqueeze(0).expand(3, -1, -1)
        causal = torch.ones(length + 1, length + 1, dtype=torch.bool, device=hidden.device).tril()
        allowed = causal.unsqueeze(0) & valid.unsqueeze(1)  # [B, q, k]
        mask = torch.zeros(allowed.shape, dtype=hidden.dtype, device=hidden.device)
        mask = mask.masked_fill(~allowed, torch.finfo(hidden.dtype).min).unsqueeze(1)
        out = self.layer(hidden, attention_mask=mask, position_embeddings=self.rotary_emb(hidden, positions))
        out = out[0] if isinstance(out, tuple) else out
        tokens, query_out = out[:, :length], out[:, length:]
        scores = self.scorer(tokens * query_out).squeeze(-1)  # [B, L]
        return torch.sigmoid(scores[visual_mask] / self.temperature)
