"""Distillation losses and the teacher-candidate selection (METHOD §2.5, §3.3, §3.4).

All functions work on flattened answer rows: the answer tokens of every sample of a batch
concatenated in batch order, with a ``sample_index`` per row, so answers of different lengths
need no padding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Candidate:
    """One teacher prediction: logits at the answer-predicting rows, hidden states at the answer rows."""

    logits: torch.Tensor  # [R, V]
    hidden: torch.Tensor  # [R, D]


def per_sample_ce(logits: torch.Tensor, targets: torch.Tensor, sample_index: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Mean token cross entropy of each sample, [B] (fp32)."""
    token_ce = F.cross_entropy(logits.float(), targets, reduction="none")
    total = torch.zeros(batch_size, device=logits.device).index_add_(0, sample_index, token_ce)
    count = torch.zeros(batch_size, device=logits.device).index_add_(0, sample_index, torch.ones_like(token_ce))
    return total / count.clamp_min(1)


class LowestCE:
    """The running lowest-CE candidate of each sample (Eq. 9), fed one candidate at a time, so that
    22 candidates never sit in memory together. Ties keep the earlier candidate. Logit rows and
    hidden rows belong to the same samples in the same order."""

    def __init__(self, targets: torch.Tensor, sample_index: torch.Tensor, batch_size: int):
        self.targets, self.sample_index, self.batch_size = targets, sample_index, batch_size
        self.best: Candidate | None = None
        self.best_ce = torch.full((batch_size,), float("inf"), device=targets.device)
        self.chosen = torch.zeros(batch_size, dtype=torch.long, device=targets.device)
        self.seen = 0

    def add(self, cand: Candidate, ce: torch.Tensor | None = None) -> None:
        """Offer ``cand`` (its per-sample CE ``ce`` where already computed)."""
        ce = per_sample_ce(cand.logits, self.targets, self.sample_index, self.batch_size) if ce is None else ce
        better = ce < self.best_ce
        if self.best is None:
            self.best = Candidate(cand.logits.float(), cand.hidden)
        else:
            row_better = better[self.sample_index].unsqueeze(-1)
            self.best = Candidate(torch.where(row_better, cand.logits.float(), self.best.logits), torch.where(row_better, cand.hidden, self.best.hidden))
        self.best_ce = torch.where(better, ce, self.best_ce)
        self.chosen = torch.where(better, torch.full_like(self.chosen, self.seen), self.chosen)
        self.seen += 1

    def result(self) -> tuple[Candidate, torch.Tensor]:
        """The selection and the chosen candidate's index (in the order offered) per sample."""
        if self.best is None:
            raise ValueError("select_lowest_ce needs at least one candidate")
        return self.best, self.chosen


def select_lowest_ce(
    candidates: Iterable[Candidate], targets: torch.Tensor, sample_index: torch.Tensor, batch_size: int
) -> tuple[Candidate, torch.Tensor]:
    """Per sample, the candidate whose answer CE against the ground truth is lowest (``LowestCE``)."""
    selection = LowestCE(targets, sample_index, batch_size)
    for cand in candidates:
        selection.add(cand)
    return selection.result()


def logit_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, scale_by_tau_squared: bool = True) -> torch.Tensor:
    """KL(teacher ‖ student) of the softened distributions, mean over answer rows (``batchmean``), ×τ²."""
    log_p_student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    p_teacher = F.softmax(teacher_logits.float() / temperature, dim=-1)
    kl = F.kl_div(log_p_student, p_teacher, reduction="batchmean")
    return kl * temperature**2 if scale_by_tau_squared else kl


def hidden_distance(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, kind: str = "smooth_l1") -> torch.Tensor:
    """Smooth-L1 (β = 1, code) or MSE (paper) over all answer rows × channels."""
    student_hidden, teacher_hidden = student_hidden.float(), teacher_hidden.float()
    if kind == "smooth_l1":
        return F.smooth_l1_loss(student_hidden, teacher_hidden, beta=1.0)
    return F.mse_loss(student_hidden, teacher_hidden)


def anchor_loss(student_visual: torch.Tensor, anchor_visual: torch.Tensor, weights: torch.Tensor, normalisation: str = "weights") -> torch.Tensor:
    """Weighted drift of the student's visual tokens from the frozen anchor's, [N_v, D] each.

    ``weights``: Σ w_i·mean_c(Δ²) / Σ w_i (code); ``tokens``: Σ w_i·sum_c(Δ²) / N_v (paper Eq. 5).
    """
    squared = (anchor_visual.float() - student_visual.float()) ** 2
    weights = weights.float()
    if normalisation == "weights":
        return (weights * squared.mean(dim=-1)).sum() / weights.sum().clamp_min(1e-8)
    return (weights * squared.sum(dim=-1)).mean()
