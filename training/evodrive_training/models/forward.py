"""The pieces of a Qwen2.5-VL forward pass that distillation needs separately.

The stock ``forward`` hides the visual tokens and the final normalised hidden states and projects
every position through ``lm_head``. Distillation needs the visual tokens (anchor loss), explicit
mRoPE positions (refinement splice), the final hidden states (hidden-state loss) and logits only
at answer positions (a 151,936-word vocabulary over 2 k positions is 1 GB of fp32 per pass).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Qwen2_5_VLForConditionalGeneration


@dataclass
class ForwardOutput:
    hidden: torch.Tensor  # [B, L, D] after the final RMSNorm
    visual: torch.Tensor  # [N_v, D] merger outputs scattered into the sequence
    inputs_embeds: torch.Tensor  # [B, L, D] token embeddings with visual tokens in place


def visual_tokens(model: Qwen2_5_VLForConditionalGeneration, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
    """Vision tower + merger outputs for all images of the batch, concatenated: [N_v, D]."""
    return vision_tokens_of(model.model.visual, pixel_values, image_grid_thw)


def vision_tokens_of(visual: torch.nn.Module, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
    """Merged visual tokens of any Qwen2.5-VL vision tower (student, frozen anchor copy)."""
    param = next(visual.parameters())
    return visual(pixel_values.to(param.device, param.dtype), grid_thw=image_grid_thw).pooler_output


def mrope_positions(
    model: Qwen2_5_VLForConditionalGeneration,
    input_ids: torch.Tensor,
    mm_token_type_ids: torch.Tensor,
    image_grid_thw: torch.Tensor,
    attention_mask: torch.Tensor,
) -> torch.Tensor:
    """Multimodal rotary positions [3, B, L] (text: same value on all axes; images: t/h/w grid)."""
    positions, _ = model.model.get_rope_index(
        input_ids, mm_token_type_ids=mm_token_type_ids, image_grid_thw=image_grid_thw, attention_mask=attention_mask
    )
    return positions


def forward_hidden(
    model: Qwen2_5_VLForConditionalGeneration,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    pixel_values: torch.Tensor,
    image_grid_thw: torch.Tensor,
    mm_token_type_ids: torch.Tensor,
    position_ids: torch.Tensor | None = None,
) -> ForwardOutput:
    """Final hidden states of the decoder; positions computed from the images unless given. A batch
    without images (``image_grid_thw`` with no rows: the language warm-up) skips the vision tower."""
    embeds = model.get_input_embeddings()(input_ids)
    image_mask = (input_ids == model.config.image_token_id).unsqueeze(-1)
    has_images = image_grid_thw.shape[0] > 0
    visual = visual_tokens(model, pixel_values, image_grid_thw) if has_images else embeds.new_zeros((0, embeds.shape[-1]))
    if int(image_mask.sum()) != visual.shape[0]:
        raise ValueError(f"{int(image_mask.sum())} image tokens in the sequence but {visual.shape[0]} visual tokens")
    embeds = embeds.masked_scatter(image_mask, visual.to(embeds.dtype))
    if position_ids is None:
        position_ids = mrope_positions(model, input_ids, mm_token_type_ids, image_grid_thw if has_images else None, attention_mask)
    out = model.model.language_model(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids)
    return ForwardOutput(hidden=out.last_hidden_state, visual=visual, inputs_embeds=embeds)


def answer_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(target_mask, predict_mask), both [B, L] bool.

    ``target_mask`` marks the supervised answer tokens (labels != -100; where the hidden-state
    loss compares); ``predict_mask`` is the same shifted left by one: the positions whose logits
    predict those tokens (where CE and the logit KL are computed).
    """
    target = labels != -100
    predict = torch.zeros_like(target)
    predict[:, :-1] = target[:, 1:]
    return target, predict


class NumberLabels:
    """Cross entropy that knows magnitude: where the target is a number token, the target
    distribution is a Gaussian over the number tokens' values (σ in metres, or the units the number
    has) instead of a one-hot, so predicting 4.1 for 4.2 costs little and 9.7 costs much. Other
    tokens keep the one-hot target. σ = 0 or no number tokens: plain cross entropy.

    ``value_weight`` adds the absolute error of the predicted distribution's expected value over
    the number tokens: a gradient that says which way the value is off even where the predicted
    mass lies far from the target (where the soft labels alone say only "not here")."""

    def __init__(self, ids: np.ndarray, values: np.ndarray, vocab_size: int, sigma: float, value_weight: float = 0.0) -> None:
        self.sigma = float(sigma)
        self.value_weight = float(value_weight)
        self.ids = torch.as_tensor(ids, dtype=torch.long)
        self.values = torch.as_tensor(values, dtype=torch.float32)
        self.index = torch.full((vocab_size,), -1, dtype=torch.long)
        self.index[self.ids] = torch.arange(len(self.ids))

    @property
    def active(self) -> bool:
        return self.sigma > 0 and len(self.ids) > 0

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean over rows of ``logits`` [R, V] with target ids [R]."""
        log_p = F.log_softmax(logits.float(), dim=-1)
        hard = -log_p.gather(1, targets[:, None])[:, 0]
        if not self.active:
            return hard.mean()
        index = self.index.to(targets.device)[targets]
        is_number = index >= 0
        values = self.values.to(logits.device)
        target_values = values[index.clamp_min(0)]
        weights = torch.softmax(-((values[None] - target_values[:, None]) ** 2) / (2 * self.sigma**2), dim=-1)
        number_log_p = log_p[:, self.ids.to(logits.device)]
        soft = -(weights * number_log_p).sum(-1)
        loss = torch.where(is_number, soft, hard).mean()
        if self.value_weight > 0 and bool(is_number.any()):
            expected = (torch.softmax(number_log_p[is_number], dim=-1) * values[None]).sum(-1)
            loss = loss + self.value_weight * (expected - target_values[is_number]).abs().mean()
        return loss


class AnswerNumberDropout:
    """Word dropout on the answer's number tokens, in the model's *input* only (labels unchanged).

    With the true earlier numbers in context, the next correction is mostly a copy of the previous
    one, so a model learns to copy and barely to read the prompt; decoding on its own it then
    copies its own first guess (measured in issue 11: teacher-forced 0.27 m vs free-running 1.27 m,
    the prior's error). Replacing each earlier number by ``replacement_id`` with probability ``p``
    makes copying unreliable, so the prompt has to carry the prediction."""

    def __init__(self, number_ids: np.ndarray, replacement_id: int, p: float) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"answer number dropout must be in [0, 1), got {p}")
        self.number_ids = torch.as_tensor(number_ids, dtype=torch.long)
        self.replacement_id, self.p = int(replacement_id), float(p)

    def __call__(self, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        is_number = (labels != -100) & torch.isin(labels, self.number_ids.to(labels.device))
        drop = is_number & (torch.rand(labels.shape, device=labels.device) < self.p)
        return torch.where(drop, torch.full_like(input_ids, self.replacement_id), input_ids)


def answer_ce(
    model: Qwen2_5_VLForConditionalGeneration, hidden: torch.Tensor, labels: torch.Tensor, number_labels: NumberLabels | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-mean cross entropy over all supervised tokens of the batch (soft on number tokens when
    ``number_labels`` is given), and the answer logits (fp32)."""
    target, predict = answer_masks(labels)
    logits = model.lm_head(hidden[predict]).float()
    if number_labels is not None:
        return number_labels.loss(logits, labels[target]), logits
    return F.cross_entropy(logits, labels[target]), logits
