"""The oracle teacher's soft targets, computed once per training sample instead of every step.

The teacher is frozen during distillation, so its coarse and fine predictions for a sample never
change; running it (two forward passes and 22 ``lm_head`` projections with MC-dropout) on every
step made a distilled student 3x slower to train than SFT. ``precompute_teacher_targets`` runs it
once over the training set and keeps, per sample, the lowest-CE candidate's logits and hidden
states at the answer rows (float16); ``WithTeacherTargets`` hands them to the student beside its
inputs. One difference from the per-step teacher: the MC-dropout draws are made once per sample
rather than anew at every epoch, so each sample has one fixed selected candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from tqdm import tqdm
from transformers import Qwen2_5_VLForConditionalGeneration

from evodrive_training.dataset import TEACHER_PREFIX, TEACHER_TARGET_KEYS, collate
from evodrive_training.distill.config import DistillConfig
from evodrive_training.distill.losses import select_lowest_ce
from evodrive_training.distill.teacher import teacher_candidates
from evodrive_training.models.forward import answer_masks



@torch.no_grad()
def precompute_teacher_targets(
    teacher: Qwen2_5_VLForConditionalGeneration,
    dataset: torch.utils.data.Dataset,
    hint_ids: torch.Tensor,
    pad_token_id: int,
    config: DistillConfig,
    batch_size: int = 8,
    seed: int = 0,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per sample of ``dataset`` (kind ``distill``): (logits [R, V], hidden [R, D]) of the selected candidate."""
    torch.manual_seed(seed)  # the MC-dropout draws
    teacher.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=partial(collate, pad_token_id=pad_token_id))
    targets: list[tuple[torch.Tensor, torch.Tensor]] = []
    for batch in tqdm(loader, desc="teacher targets", unit="batch"):
        teacher_batch = {k[len(TEACHER_PREFIX):]: v for k, v in batch.items() if k.startswith(TEACHER_PREFIX)}
        labels = teacher_batch["labels"]
        target_mask, _ = answer_masks(labels)
        sample_of_row = torch.arange(labels.shape[0]).unsqueeze(1).expand_as(labels)[target_mask]
        candidates = teacher_candidates(teacher, teacher_batch, hint_ids, pad_token_id, config)
        best, _ = select_lowest_ce(candidates, labels[target_mask], sample_of_row, labels.shape[0])
        counts = target_mask.sum(dim=1).tolist()
        targets += zip(torch.split(best.logits.half(), counts), torch.split(best.hidden.half(), counts))
    return targets


class WithTeacherTargets(torch.utils.data.Dataset):
    """A student dataset whose items also carry their precomputed teacher targets."""

    def __init__(self, dataset: torch.utils.data.Dataset, targets: Sequence[tuple[torch.Tensor, torch.Tensor]]):
        if len(dataset) != len(targets):
            raise ValueError(f"{len(targets)} teacher targets for {len(dataset)} samples")
        self.dataset, self.targets = dataset, targets

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        logits, hidden = self.targets[index]
        return {**self.dataset[index], TEACHER_TARGET_KEYS[0]: logits.numpy(), TEACHER_TARGET_KEYS[1]: hidden.numpy()}
