"""Coarse-to-fine refinement splice of the oracle teacher (METHOD §2.3).

The teacher's coarse answer (teacher-forced argmax) is written into its own assistant turn after a
hint sentence, before the ground-truth answer: prefix ‖ hint ‖ coarse ‖ answer. The prefix keeps
its multimodal positions; everything after the splice point gets consecutive text positions
(equal on all three mRoPE axes) from the last prefix position + 1. Only the ground-truth answer
stays supervised. Works on right-padded batches with answers of different lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SplicedBatch:
    input_ids: torch.Tensor  # [B, L']
    labels: torch.Tensor  # [B, L']
    attention_mask: torch.Tensor  # [B, L']
    mm_token_type_ids: torch.Tensor  # [B, L']
    position_ids: torch.Tensor  # [3, B, L']


def coarse_answer_tokens(answer_logits: torch.Tensor) -> torch.Tensor:
    """The coarse prediction: argmax at every answer-predicting position, [N_ans_total]."""
    return answer_logits.argmax(dim=-1)


def splice_refinement(
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    attention_mask: torch.Tensor,
    mm_token_type_ids: torch.Tensor,
    position_ids: torch.Tensor,
    hint_ids: torch.Tensor,
    coarse_ids: torch.Tensor,
    pad_token_id: int,
) -> SplicedBatch:
    """Insert ``hint_ids`` + each sample's coarse tokens right before its answer.

    ``coarse_ids`` holds all samples' coarse tokens concatenated in batch order, one per
    supervised answer token (as produced from the logits at the predict positions).
    """
    answer = labels != -100
    counts = answer.sum(dim=1).tolist()
    if sum(counts) != coarse_ids.numel():
        raise ValueError(f"{coarse_ids.numel()} coarse tokens for {sum(counts)} answer tokens")
    coarse_per_sample = torch.split(coarse_ids.to(input_ids.device), counts)
    hint_ids = hint_ids.to(input_ids.device)
    rows = []
    for i, coarse in enumerate(coarse_per_sample):
        length = int(attention_mask[i].sum())
        start = int(answer[i].nonzero()[0])
        inserted = torch.cat([hint_ids, coarse])
        tail = input_ids[i, start:length]
        ids = torch.cat([input_ids[i, :start], inserted, tail])
        lab = torch.cat([torch.full((start + inserted.numel(),), -100, dtype=labels.dtype, device=labels.device), labels[i, start:length]])
        mm = torch.cat([mm_token_type_ids[i, :start], torch.zeros(inserted.numel() + tail.numel(), dtype=mm_token_type_ids.dtype, device=mm_token_type_ids.device)])
        prefix_pos = position_ids[:, i, :start]
        text_pos = prefix_pos.max() + 1 + torch.arange(inserted.numel() + tail.numel(), device=position_ids.device)
        pos = torch.cat([prefix_pos, text_pos.expand(3, -1)], dim=1)
        rows.append((ids, lab, mm, pos))
    width = max(r[0].numel() for r in rows)
    batch = len(rows)
    out = SplicedBatch(
        input_ids=input_ids.new_full((batch, width), pad_token_id),
        labels=labels.new_full((batch, width), -100),
        attention_mask=attention_mask.new_zeros((batch, width)),
        mm_token_type_ids=mm_token_type_ids.new_zeros((batch, width)),
        position_ids=position_ids.new_zeros((3, batch, width)),
    )
    for i, (ids, lab, mm, pos) in enumerate(rows):
        n = ids.numel()
        out.input_ids[i, :n], out.labels[i, :n], out.mm_token_type_ids[i, :n] = ids, lab, mm
        out.attention_mask[i, :n] = 1
        out.position_ids[:, i, :n] = pos
    return out
