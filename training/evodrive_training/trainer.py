"""Hugging Face ``Trainer`` for the EvoDriveVLA wrappers (teacher / distilled student / SFT).

The wrappers (``OracleTeacher``, ``DistilledStudent``) compute their own loss and return its parts,
which are logged (TensorBoard) beside the total. A checkpoint directory is a loadable model
directory (``save_pretrained`` of the trained Qwen model + tokenizer) plus
``distill_state.safetensors`` with the other trained/frozen modules (AnchorFormer, projection,
anchor encoder) for resuming; the oracle teacher is never saved with the student.

Multi-GPU (the paper's recipe: 8 GPUs, batch 1 per GPU, lr 2e-5, cosine, 3 % warm-up, 5 epochs,
bf16) goes through accelerate or torchrun with the configs in ``config/accelerate/`` (plain DDP in
bf16, DeepSpeed ZeRO-2); the README's *Scale-out* section has the commands and what was verified
on CPU (``test/test_distributed_training.py``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import safetensors.torch
import torch
from transformers import Trainer, TrainerCallback

EXTRA_STATE_NAME = "distill_state.safetensors"


def _trained_prefix(wrapper: torch.nn.Module) -> str:
    name = next(n for n, m in wrapper.named_children() if m is wrapper.trained_model)
    return name + "."


class EvoDriveTrainer(Trainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._loss_parts: dict[str, list[float]] = defaultdict(list)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        for name, value in outputs.items():
            if name != "loss":
                self._loss_parts[name].append(float(value))
        return (outputs["loss"], outputs) if return_outputs else outputs["loss"]

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self._loss_parts and "loss" in logs:
            logs.update({f"loss_{k}": sum(v) / len(v) for k, v in self._loss_parts.items()})
            self._loss_parts.clear()
        super().log(logs, start_time)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """The trained model as a model directory, the rest of the wrapper beside it."""
        output_dir = output_dir or self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        wrapper = self.accelerator.unwrap_model(self.model)
        wrapper.trained_model.save_pretrained(output_dir)
        prefix = _trained_prefix(wrapper)
        extra = {k: v.detach().contiguous().cpu() for k, v in wrapper.state_dict().items() if not k.startswith(prefix)}
        if extra:
            safetensors.torch.save_file(extra, os.path.join(output_dir, EXTRA_STATE_NAME))
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        wrapper = self.accelerator.unwrap_model(model or self.model)
        trained = wrapper.trained_model
        # from_pretrained maps the on-disk (legacy) key names; then copy into the live model
        saved = type(trained).from_pretrained(resume_from_checkpoint, local_files_only=True, dtype=trained.dtype)
        trained.load_state_dict(saved.state_dict())
        del saved
        extra_path = os.path.join(resume_from_checkpoint, EXTRA_STATE_NAME)
        if os.path.isfile(extra_path):
            missing = wrapper.load_state_dict(safetensors.torch.load_file(extra_path), strict=False)
            prefix = _trained_prefix(wrapper)
            if unexpected := missing.unexpected_keys:
                raise ValueError(f"{extra_path}: unexpected entries {unexpected[:5]}")
            if lost := [k for k in missing.missing_keys if not k.startswith(prefix)]:
                raise ValueError(f"{extra_path}: missing entries {lost[:5]}")


VISION_SNAPSHOTS_DIR = "vision_snapshots"


def vision_snapshot_path(output_dir: Path, step: int) -> Path:
    return Path(output_dir) / VISION_SNAPSHOTS_DIR / f"step-{step}.safetensors"


def vision_snapshot_steps(output_dir: Path) -> list[int]:
    """The steps of the vision snapshots a training wrote into ``output_dir``, in order."""
    return sorted(int(p.stem.split("-")[1]) for p in (Path(output_dir) / VISION_SNAPSHOTS_DIR).glob("step-*.safetensors"))


class VisionSnapshots(TrainerCallback):
    """Saves the vision encoder's weights before training and at ``count`` evenly spaced optimizer
    steps (``OUT/vision_snapshots/step-N.safetensors``): what perception-over-training curves probe
    (how much an encoder keeps as SFT or distillation goes on; issue 15). Weights only, a few MB."""

    def __init__(self, visual: torch.nn.Module, output_dir: Path, count: int):
        self.visual, self.output_dir, self.count = visual, Path(output_dir), count
        self.steps: set[int] = set()

    def on_train_begin(self, args, state, control, **kwargs):
        self.steps = {max(1, round(state.max_steps * k / self.count)) for k in range(1, self.count + 1)}
        self._save(args, state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.steps:
            self._save(args, state.global_step)

    def _save(self, args, step: int) -> None:
        if args.process_index != 0:
            return
        path = vision_snapshot_path(self.output_dir, step)
        path.parent.mkdir(parents=True, exist_ok=True)
        safetensors.torch.save_file({k: v.detach().cpu().contiguous() for k, v in self.visual.state_dict().items()}, str(path))
