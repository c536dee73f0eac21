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

from collections.abc import Callable, Sequence
from functools import partial

import torch
from tqdm import tqdm
from transformers import Qwen2_5_VLForConditionalGeneration

from evodrive_training.dataset import TEACHER_PREFIX, TEACHER_TARGET_KEYS, collate
from evodrive_training.distill.config import DistillConfig
from evodrive_training.distill.losses import select_lowest_ce
from evodrive_training.distill.teacher import teacher_candidates
from evodrive_training.models.forward import answer_masks



TARGET_BATCH = 8  # fixed, not the training batch: the targets then do not depend on how training is laid out


@torch.no_grad()
def precompute_teacher_targets(
    teacher: Qwen2_5_VLForConditionalGeneration,
    dataset: torch.utils.data.Dataset,
    hint_ids: torch.Tensor,
    pad_token_id: int,
    config: DistillConfig,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    dropout_head: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per sample of ``dataset`` (kind ``distill``): (logits [R, V], hidden [R, D]) of the selected candidate.

    The samples go in fixed batches of ``TARGET_BATCH``, each with its own MC-dropout seed. Under
    distributed training (``world_size`` > 1, a process group initialised) each process computes
    every ``world_size``-th batch and the processes exchange their results, so the teacher runs
    once per sample in all and every process ends with the same targets as a one-process run.
    ``dropout_head`` scores the MC-dropout candidates (``teacher_candidates``)."""
    teacher.eval()
    n_batches = -(-len(dataset) // TARGET_BATCH)
    mine = list(range(rank, n_batches, world_size))
    indices = [i for b in mine for i in range(b * TARGET_BATCH, min((b + 1) * TARGET_BATCH, len(dataset)))]
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=TARGET_BATCH,
                                         collate_fn=partial(collate, pad_token_id=pad_token_id))
    computed: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for batch_index, batch in zip(mine, tqdm(loader, desc="teacher targets", unit="batch", disable=rank != 0)):
        torch.manual_seed(seed * 1_000_003 + batch_index)  # the MC-dropout draws of this batch, wherever it runs
        teacher_batch = {k[len(TEACHER_PREFIX):]: v for k, v in batch.items() if k.startswith(TEACHER_PREFIX)}
        labels = teacher_batch["labels"]
        target_mask, _ = answer_masks(labels)
        sample_of_row = torch.arange(labels.shape[0]).unsqueeze(1).expand_as(labels)[target_mask]
        candidates = teacher_candidates(teacher, teacher_batch, hint_ids, pad_token_id, config, dropout_head)
        best, _ = select_lowest_ce(candidates, labels[target_mask], sample_of_row, labels.shape[0])
        counts = target_mask.sum(dim=1).tolist()
        computed[batch_index] = list(zip(torch.split(best.logits.half(), counts), torch.split(best.hidden.half(), counts)))
    if world_size > 1:
        print(f"teacher targets: {len(mine)} of {n_batches} batches computed in process {rank} of {world_size}", flush=True)
        gathered: list[dict | None] = [None] * world_size
        torch.distributed.all_gather_object(gathered, computed)
        computed = {b: targets for part in gathered for b, targets in part.items()}
    return [target for b in range(n_batches) for target in computed[b]]


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
