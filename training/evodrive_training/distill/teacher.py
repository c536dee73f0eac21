"""The future-aware oracle teacher (METHOD §2): its training objective and its soft targets.

Training (§2.2): on each step, with probability ``refine_probability`` the teacher is trained on
the refinement input built from its own coarse prediction (CE on the ground truth after the
splice), otherwise on the plain input, so the same weights learn coarse and fine prediction.

Distillation (§2.4–2.5): ``teacher_candidates`` yields the coarse and fine predictions and their
MC-dropout versions as ``Candidate``s at the answer rows, for ``select_lowest_ce``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn
from transformers import Qwen2_5_VLForConditionalGeneration

from evodrive_training.distill.config import DistillConfig
from evodrive_training.distill.losses import Candidate
from evodrive_training.distill.mc_dropout import mc_dropout_candidates
from evodrive_training.distill.refinement import SplicedBatch, coarse_answer_tokens, splice_refinement
from evodrive_training.models.forward import AnswerNumberDropout, NumberLabels, answer_ce, answer_masks, forward_hidden, mrope_positions

MODEL_INPUTS = ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "mm_token_type_ids")


def refinement_inputs(
    model: Qwen2_5_VLForConditionalGeneration, batch: dict, answer_logits: torch.Tensor, hint_ids: torch.Tensor, pad_token_id: int
) -> dict:
    """The spliced batch (prefix ‖ hint ‖ coarse ‖ answer) as model inputs with explicit positions."""
    positions = mrope_positions(model, batch["input_ids"], batch["mm_token_type_ids"], batch["image_grid_thw"], batch["attention_mask"])
    spliced: SplicedBatch = splice_refinement(
        batch["input_ids"], batch["labels"], batch["attention_mask"], batch["mm_token_type_ids"], positions,
        hint_ids, coarse_answer_tokens(answer_logits), pad_token_id,
    )
    return {**vars(spliced), "pixel_values": batch["pixel_values"], "image_grid_thw": batch["image_grid_thw"]}


class OracleTeacher(nn.Module):
    """Training wrapper: coarse/fine alternation with the refinement splice."""

    def __init__(
        self,
        model: Qwen2_5_VLForConditionalGeneration,
        hint_ids: torch.Tensor,
        pad_token_id: int,
        refine_probability: float = 0.5,
        number_labels: NumberLabels | None = None,
        number_dropout: AnswerNumberDropout | None = None,
    ):
        super().__init__()
        self.model = model
        self.number_labels = number_labels
        self.number_dropout = number_dropout
        self.register_buffer("hint_ids", hint_ids.long(), persistent=False)
        self.pad_token_id = pad_token_id
        self.refine_probability = refine_probability

    @property
    def trained_model(self) -> Qwen2_5_VLForConditionalGeneration:
        return self.model

    def forward(self, labels: torch.Tensor, **batch) -> dict[str, torch.Tensor]:
        inputs = {k: batch[k] for k in MODEL_INPUTS}
        if self.training and self.number_dropout is not None:
            inputs["input_ids"] = self.number_dropout(inputs["input_ids"], labels)
        refine = bool(torch.rand(()) < self.refine_probability)
        if refine:
            with torch.no_grad():
                coarse = forward_hidden(self.model, **inputs)
                _, coarse_logits = answer_ce(self.model, coarse.hidden, labels)
            inputs = refinement_inputs(self.model, {**inputs, "labels": labels}, coarse_logits, self.hint_ids, self.pad_token_id)
            labels = inputs.pop("labels")
        out = forward_hidden(self.model, **inputs)
        ce, _ = answer_ce(self.model, out.hidden, labels, self.number_labels)
        return {"loss": ce, "ce": ce.detach(), "refined": torch.tensor(float(refine))}


def _answer_window(hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hidden rows covering both the answer-predicting and the answer positions, with the two row masks."""
    target, predict = answer_masks(labels)
    window = target | predict
    return hidden[window], predict[window], target[window]


def _candidate(head: Callable[[torch.Tensor], torch.Tensor], window: torch.Tensor, predict_rows: torch.Tensor, target_rows: torch.Tensor) -> Candidate:
    return Candidate(logits=head(window[predict_rows]).float(), hidden=window[target_rows])


@torch.no_grad()
def teacher_candidates(
    model: Qwen2_5_VLForConditionalGeneration,
    batch: dict,
    hint_ids: torch.Tensor,
    pad_token_id: int,
    config: DistillConfig,
    dropout_head: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[Candidate]:
    """Coarse, fine, then N dropout versions of each (2 + 2N = 22 by default), lazily. The dropout
    versions' logits come from ``dropout_head`` (the student's ``lm_head`` where
    ``config.mc_dropout_head`` is "student"; None: the teacher's own)."""
    head = dropout_head if dropout_head is not None else model.lm_head
    inputs = {k: batch[k] for k in MODEL_INPUTS}
    coarse_out = forward_hidden(model, **inputs)
    windows = [_answer_window(coarse_out.hidden, batch["labels"])]
    coarse = _candidate(model.lm_head, *windows[0])
    yield coarse
    if config.use_refinement:
        fine_inputs = refinement_inputs(model, batch, coarse.logits, hint_ids, pad_token_id)
        fine_labels = fine_inputs.pop("labels")
        windows.append(_answer_window(forward_hidden(model, **fine_inputs).hidden, fine_labels))
        yield _candidate(model.lm_head, *windows[1])
    if config.use_mc_dropout:
        for window, predict_rows, target_rows in windows:
            for dropped in mc_dropout_candidates(window, config.mc_dropout_samples, config.mc_dropout_p):
                yield _candidate(head, dropped, predict_rows, target_rows)
