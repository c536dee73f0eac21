"""The distilled student (METHOD §3): CE + oracle-guided trajectory KD + self-anchored visual KD.

L = CE + λ_logit·τ²·KL + λ_hidden·SmoothL1 + λ_anchor·L_anchor, each term behind a switch of
``DistillConfig``; with every switch off (``DistillConfig.sft()``) this is the plain SFT baseline.

What is trained: the whole student, the AnchorFormer and (when teacher and student widths differ)
a linear projection of the student's hidden states to the teacher's width. Frozen: the oracle
teacher (held outside the module tree: never saved, never optimised) and the anchor encoder, a
copy of the student's vision tower taken at construction, i.e. before fine-tuning. The teacher's
selected candidate either comes with the batch, precomputed once per sample
(``distill.teacher_targets``, the default of ``evodrive train student``), or is computed from the
teacher at every step when a teacher model is given.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from transformers import Qwen2_5_VLForConditionalGeneration

from evodrive_training.distill.anchor_former import AnchorFormer
from evodrive_training.dataset import TEACHER_PREFIX, TEACHER_TARGET_KEYS
from evodrive_training.distill.config import DistillConfig
from evodrive_training.distill.losses import Candidate, anchor_loss, hidden_distance, logit_kl, select_lowest_ce
from evodrive_training.distill.teacher import MODEL_INPUTS, teacher_candidates
from evodrive_training.models.forward import AnswerNumberDropout, NumberLabels, answer_ce, answer_masks, forward_hidden, vision_tokens_of



class DistilledStudent(nn.Module):
    def __init__(
        self,
        student: Qwen2_5_VLForConditionalGeneration,
        config: DistillConfig,
        teacher: Qwen2_5_VLForConditionalGeneration | None = None,
        hint_ids: torch.Tensor | None = None,
        pad_token_id: int = 0,
        number_labels: NumberLabels | None = None,
        teacher_hidden_size: int | None = None,
        number_dropout: AnswerNumberDropout | None = None,
    ):
        super().__init__()
        self.student = student
        self.number_labels = number_labels
        self.number_dropout = number_dropout
        self.distill_config = config
        self.pad_token_id = pad_token_id
        if config.use_anchor:
            self.anchor_encoder = copy.deepcopy(student.model.visual).requires_grad_(False).eval()
            if config.use_anchor_former:
                self.anchor_former = AnchorFormer.from_student(student, config.anchor_layer_index, config.anchor_temperature)
        self._teacher: tuple[Qwen2_5_VLForConditionalGeneration, ...] = ()
        if config.uses_teacher:
            if teacher is not None:
                if hint_ids is None:
                    raise ValueError("a per-step teacher needs the refinement hint ids")
                self._check_teacher(teacher)
                self._teacher = (teacher.requires_grad_(False).eval(),)
                self.register_buffer("hint_ids", hint_ids.long(), persistent=False)
                teacher_hidden_size = teacher.config.text_config.hidden_size
            elif teacher_hidden_size is None:
                raise ValueError("trajectory distillation needs a teacher model, or precomputed targets and the teacher's hidden size")
            student_width, teacher_width = student.config.text_config.hidden_size, teacher_hidden_size
            if config.use_mc_dropout and config.mc_dropout_head == "student" and student_width != teacher_width:
                raise ValueError(f"mc_dropout_head 'student' scores the teacher's {teacher_width}-wide hidden states with the student's "
                                 f"{student_width}-wide head: use mc_dropout_head=teacher for teachers of another width")
            if config.use_hidden_kd and student_width != teacher_width:
                self.hidden_projection = nn.Linear(student_width, teacher_width, bias=False)

    def _check_teacher(self, teacher: Qwen2_5_VLForConditionalGeneration) -> None:
        vocab_s, vocab_t = self.student.config.text_config.vocab_size, teacher.config.text_config.vocab_size
        if self.distill_config.use_logit_kd and vocab_s != vocab_t:
            raise ValueError(f"logit distillation needs one vocabulary: student has {vocab_s} entries, teacher {vocab_t}")

    @property
    def teacher(self) -> Qwen2_5_VLForConditionalGeneration | None:
        return self._teacher[0] if self._teacher else None

    @property
    def trained_model(self) -> Qwen2_5_VLForConditionalGeneration:
        return self.student

    def train(self, mode: bool = True) -> DistilledStudent:
        super().train(mode)
        if self.distill_config.use_anchor:
            self.anchor_encoder.eval()  # frozen reference, whatever mode the wrapper is in
        return self

    def forward(self, labels: torch.Tensor, **batch) -> dict[str, torch.Tensor]:
        inputs = {k: batch[k] for k in MODEL_INPUTS}
        if self.training and self.number_dropout is not None:
            inputs["input_ids"] = self.number_dropout(inputs["input_ids"], labels)
        out = forward_hidden(self.student, **inputs)
        ce, student_logits = answer_ce(self.student, out.hidden, labels, self.number_labels)
        losses = {"ce": ce}
        if self.distill_config.uses_teacher:
            losses.update(self._trajectory_kd(out.hidden, student_logits, labels, batch))
        if self.distill_config.use_anchor:
            losses["anchor"] = self._anchor(out.visual, out.inputs_embeds, batch)
        weights = {"ce": 1.0, "logit": self.distill_config.logit_weight, "hidden": self.distill_config.hidden_weight, "anchor": self.distill_config.anchor_weight}
        total = sum(weights[name] * value for name, value in losses.items())
        return {"loss": total, **{name: value.detach() for name, value in losses.items()}}

    def _trajectory_kd(self, hidden: torch.Tensor, student_logits: torch.Tensor, labels: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        target_mask, _ = answer_masks(labels)
        if TEACHER_TARGET_KEYS[0] in batch:
            best = Candidate(*(batch[key].to(hidden.device).float() for key in TEACHER_TARGET_KEYS))
            if best.logits.shape[0] != int(target_mask.sum()):
                raise ValueError(f"{best.logits.shape[0]} teacher target rows for {int(target_mask.sum())} answer tokens")
        elif self.teacher is None:
            raise ValueError("this batch has no precomputed teacher targets and no teacher model was given")
        else:
            best = self._teacher_selection(labels, target_mask, batch)
        losses = {}
        if self.distill_config.use_logit_kd:
            losses["logit"] = logit_kl(student_logits, best.logits, self.distill_config.temperature, self.distill_config.scale_kl_by_tau_squared)
        if self.distill_config.use_hidden_kd:
            student_hidden = hidden[target_mask]
            if hasattr(self, "hidden_projection"):
                student_hidden = self.hidden_projection(student_hidden)
            losses["hidden"] = hidden_distance(student_hidden, best.hidden, self.distill_config.hidden_loss)
        return losses

    def _teacher_selection(self, labels: torch.Tensor, target_mask: torch.Tensor, batch: dict) -> Candidate:
        """Run the teacher on this batch: the lowest-CE of its candidates, per sample."""
        teacher = self.teacher.to(labels.device)
        teacher_batch = {k[len(TEACHER_PREFIX):]: v for k, v in batch.items() if k.startswith(TEACHER_PREFIX)}
        targets = labels[target_mask]
        if not torch.equal(teacher_batch["labels"][teacher_batch["labels"] != -100], targets):
            raise ValueError("teacher and student answers differ: both must be built from the same ground truth")
        sample_of_row = torch.arange(labels.shape[0], device=labels.device).unsqueeze(1).expand_as(labels)[target_mask]
        candidates = teacher_candidates(teacher, teacher_batch, self.hint_ids, self.pad_token_id, self.distill_config,
                                        self.student.lm_head if self.distill_config.mc_dropout_head == "student" else None)
        return select_lowest_ce(candidates, targets, sample_of_row, labels.shape[0])[0]

    def _anchor(self, student_visual: torch.Tensor, inputs_embeds: torch.Tensor, batch: dict) -> torch.Tensor:
        with torch.no_grad():
            anchor_visual = vision_tokens_of(self.anchor_encoder, batch["pixel_values"], batch["image_grid_thw"])
        visual_mask = batch["input_ids"] == self.student.config.image_token_id
        if self.distill_config.use_anchor_former:
            embeds = inputs_embeds.detach().masked_scatter(visual_mask.unsqueeze(-1), anchor_visual.to(inputs_embeds.dtype))
            weights = self.anchor_former(embeds, visual_mask, batch["attention_mask"])
        else:
            weights = torch.ones(student_visual.shape[0], device=student_visual.device)
        return anchor_loss(student_visual, anchor_visual, weights, self.distill_config.anchor_normalisation)
