"""The oracle teacher's soft targets, computed once per training sample instead of every step.

The teacher is frozen during distillation, so its coarse and fine predictions for a sample never
change; running it (two forward passes and 22 ``lm_head`` projections with MC-dropout) on every
step made a distilled student 3x slower to train than SFT. ``precompute_teacher_targets`` runs it
once over the training set and keeps, per sample, the lowest-CE candidate's logits and hidden
states at the answer rows (float16); ``WithTeacherTargets`` hands them to the student beside its
inputs. One difference from the per-step teacher: the MC-dropout draws are made once per sample
rather than anew at every epoch, so each sample has one fixed selected candidate.

The rungs of the ablation ladder (coarse; + refinement; + MC-dropout) differ only in which of the
teacher's candidates they choose from, so ``cached_teacher_targets`` runs the teacher once for all of
them and keeps the selections in a file that the other rungs read: the same targets, bit for bit,
as each rung computing its own (the MC-dropout draws are seeded per batch, and the coarse and fine
passes draw no random numbers).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import safetensors
import safetensors.torch
import torch
from tqdm import tqdm
from transformers import Qwen2_5_VLForConditionalGeneration

from evodrive_training.dataset import TEACHER_PREFIX, TEACHER_TARGET_KEYS, collate
from evodrive_training.distill.config import DistillConfig
from evodrive_training.distill.losses import LowestCE, per_sample_ce
from evodrive_training.distill.teacher import teacher_candidates
from evodrive_training.models.forward import answer_masks
from evodrive_ros.core.safe_output import atomic_writer, sha256_file

TARGET_BATCH = 8  # fixed, not the training batch: the targets then do not depend on how training is laid out


def candidate_set(config: DistillConfig) -> str:
    """Which of the teacher's candidates a configuration selects from (``CANDIDATE_SETS``)."""
    return {(False, False): "coarse", (True, False): "refine", (False, True): "mc", (True, True): "refine+mc"}[
        (config.use_refinement, config.use_mc_dropout)]


CANDIDATE_SETS = ("coarse", "refine", "mc", "refine+mc")


def _members(name: str, n_dropout: int, with_fine: bool) -> list[int]:
    """Indices of the candidates a set holds among those ``teacher_candidates`` yields (coarse,
    fine ``with_fine``, the coarse window's dropout draws, then the fine window's). A set's own run
    yields them in the same (ascending) order, so ties resolve alike."""
    first_drop = 2 if with_fine else 1
    return {"coarse": [0], "refine": [0, 1], "mc": [0, *range(first_drop, first_drop + n_dropout)],
            "refine+mc": list(range(2 + 2 * n_dropout))}[name]


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
    sets: Sequence[str] | None = None,
) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Per candidate set (default: ``config``'s own) and per sample of ``dataset`` (kind ``distill``):
    (logits [R, V], hidden [R, D]) of the selected candidate.

    The samples go in fixed batches of ``TARGET_BATCH``, each with its own MC-dropout seed. Under
    distributed training (``world_size`` > 1, a process group initialised) each process computes
    every ``world_size``-th batch and the processes exchange their results, so the teacher runs
    once per sample in all and every process ends with the same targets as a one-process run.
    ``dropout_head`` scores the MC-dropout candidates (``teacher_candidates``)."""
    sets = list(sets or [candidate_set(config)])
    if unknown := set(sets) - set(CANDIDATE_SETS):
        raise ValueError(f"unknown candidate sets {sorted(unknown)} (known: {', '.join(CANDIDATE_SETS)})")
    every = config.updated(use_refinement=any("refine" in name for name in sets), use_mc_dropout=any("mc" in name for name in sets))
    teacher.eval()
    n_batches = -(-len(dataset) // TARGET_BATCH)
    mine = list(range(rank, n_batches, world_size))
    indices = [i for b in mine for i in range(b * TARGET_BATCH, min((b + 1) * TARGET_BATCH, len(dataset)))]
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=TARGET_BATCH,
                                         collate_fn=partial(collate, pad_token_id=pad_token_id))
    computed: dict[int, dict[str, list[tuple[torch.Tensor, torch.Tensor]]]] = {}
    for batch_index, batch in zip(mine, tqdm(loader, desc="teacher targets", unit="batch", disable=rank != 0)):
        torch.manual_seed(seed * 1_000_003 + batch_index)  # the MC-dropout draws of this batch, wherever it runs
        teacher_batch = {k[len(TEACHER_PREFIX):]: v for k, v in batch.items() if k.startswith(TEACHER_PREFIX)}
        labels = teacher_batch["labels"]
        target_mask, _ = answer_masks(labels)
        sample_of_row = torch.arange(labels.shape[0]).unsqueeze(1).expand_as(labels)[target_mask]
        targets = labels[target_mask]
        selections = {name: LowestCE(targets, sample_of_row, labels.shape[0]) for name in sets}
        members = {name: set(_members(name, every.mc_dropout_samples, every.use_refinement)) for name in sets}
        for k, candidate in enumerate(teacher_candidates(teacher, teacher_batch, hint_ids, pad_token_id, every, dropout_head)):
            ce = per_sample_ce(candidate.logits, targets, sample_of_row, labels.shape[0])  # once, whichever sets hold it
            for name in sets:
                if k in members[name]:
                    selections[name].add(candidate, ce)
        counts = target_mask.sum(dim=1).tolist()
        computed[batch_index] = {}
        for name, selection in selections.items():
            best, _ = selection.result()
            computed[batch_index][name] = list(zip(torch.split(best.logits.half(), counts), torch.split(best.hidden.half(), counts)))
    if world_size > 1:
        print(f"teacher targets: {len(mine)} of {n_batches} batches computed in process {rank} of {world_size}", flush=True)
        gathered: list[dict | None] = [None] * world_size
        torch.distributed.all_gather_object(gathered, computed)
        computed = {b: targets for part in gathered for b, targets in part.items()}
    return {name: [target for b in range(n_batches) for target in computed[b][name]] for name in sets}


def targets_identity(teacher_dir: Path, head_source: str, sample_tokens: Sequence[str], seed: int, config: DistillConfig) -> dict:
    """What a file of teacher targets was computed from: the teacher's weights, the model whose head
    scores the dropout candidates (a directory's weights, or a built preset's name and seed), the
    samples in order, the seed and the MC-dropout settings."""
    def weights_digest(directory: Path) -> str:
        digest = hashlib.sha256()
        for file in sorted(Path(directory).glob("*.safetensors")):
            digest.update(sha256_file(file).encode())
        return digest.hexdigest()

    head = weights_digest(Path(head_source)) if Path(head_source).is_dir() else head_source
    return {"format": 1, "teacher": weights_digest(teacher_dir), "dropout_head": head if config.mc_dropout_head == "student" else "teacher",
            "samples": hashlib.sha256("\n".join(sample_tokens).encode()).hexdigest(), "seed": seed,
            "mc_dropout_samples": config.mc_dropout_samples, "mc_dropout_p": config.mc_dropout_p, "target_batch": TARGET_BATCH}


def lock_file(path: Path) -> Path:
    """The lock beside a targets file that side-by-side trainings wait on (``cached_teacher_targets``)."""
    return Path(path).with_name(Path(path).name + ".lock")


def cached_teacher_targets(
    path: Path, wanted: str, identity: dict, compute: Callable[[], dict[str, list[tuple[torch.Tensor, torch.Tensor]]]]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The ``wanted`` candidate set's targets from the file ``path``; where it does not exist yet,
    ``compute()`` (every set) is written there first. ``identity`` (teacher, samples, seed, dropout
    settings) must equal the file's: targets of another teacher or sample share are refused, not
    reused. Trainings started side by side wait on a lock for the one computing the file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file(path), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            sets = compute()
            tensors = {"rows": torch.tensor([logits.shape[0] for logits, _ in next(iter(sets.values()))])}
            for name, targets in sets.items():
                tensors[f"{name}.logits"] = torch.cat([logits for logits, _ in targets])
                tensors[f"{name}.hidden"] = torch.cat([hidden for _, hidden in targets])
            with atomic_writer(path) as handle:
                handle.write(safetensors.torch.save(tensors, metadata={"identity": json.dumps(identity, sort_keys=True)}))
        with safetensors.safe_open(str(path), "pt") as stored:
            found = json.loads(stored.metadata()["identity"])
            if found != identity:
                differ = sorted(k for k in {*found, *identity} if found.get(k) != identity.get(k))
                raise ValueError(f"{path} holds teacher targets for another run (differs in {', '.join(differ)}); delete it or use another path")
            if f"{wanted}.logits" not in stored.keys():
                raise ValueError(f"{path} has no {wanted!r} targets (it has {sorted(k.split('.')[0] for k in stored.keys() if k != 'rows')})")
            rows = stored.get_tensor("rows").tolist()
            return list(zip(torch.split(stored.get_tensor(f"{wanted}.logits"), rows), torch.split(stored.get_tensor(f"{wanted}.hidden"), rows)))


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
