"""Distributed data-parallel training, verified on CPU (gloo): two processes with batch B train like
one process with batch 2B, checkpoints resume in either layout, and the distilled student's teacher
targets are computed once per sample across the processes (issue 18)."""

import json
from pathlib import Path

import pytest
from model_fixtures import write_fake_split
from safetensors.torch import load_file
from training_runs import logged_losses, max_weight_difference, train_cli

N_SAMPLES = 16  # two teacher-target batches: one per process


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    return write_fake_split(tmp_path_factory.mktemp("ddp"), N_SAMPLES)


def test_two_processes_train_like_one_with_the_double_batch_and_resume_in_either_layout(split, tmp_path):
    args = ["--samples", str(split), "--max-steps", "3", "--save-steps", "3"]
    train_cli("sft", 2, 2, tmp_path / "two", *args)
    train_cli("sft", 1, 4, tmp_path / "one", *args)
    # The same samples in the same order per step (accelerate shards one seeded sampler by batch);
    # only the order of floating-point sums differs.
    assert logged_losses(tmp_path / "two" / "checkpoint-3") == pytest.approx(logged_losses(tmp_path / "one" / "checkpoint-3"), rel=1e-4)
    assert max_weight_difference(tmp_path / "two", tmp_path / "one") < 1e-5
    # Written once: rank 0 saves; every rank's RNG state is kept for an exact resume.
    assert sorted(p.name for p in (tmp_path / "two").glob("checkpoint-*")) == ["checkpoint-3"]
    assert {p.name for p in (tmp_path / "two" / "checkpoint-3").glob("rng_state*")} == {"rng_state_0.pth", "rng_state_1.pth"}

    # Resume across layouts: the two-process checkpoint in one process and the other way round.
    resume = ["--samples", str(split), "--max-steps", "4", "--save-steps", "4", "--resume"]
    train_cli("sft", 1, 4, tmp_path / "two", *resume)
    train_cli("sft", 2, 2, tmp_path / "one", *resume)
    for run in ("two", "one"):
        assert json.loads((tmp_path / run / "training.json").read_text())["global_step"] == 4
    assert max_weight_difference(tmp_path / "two", tmp_path / "one") < 1e-5


def test_distilled_student_under_ddp_runs_the_teacher_once_per_sample(split, tmp_path):
    train_cli("teacher", 1, 4, tmp_path / "teacher", "--samples", str(split), "--max-steps", "1", "--save-steps", "1")
    args = ["--samples", str(split), "--teacher", str(tmp_path / "teacher"), "--max-steps", "2", "--save-steps", "2"]
    log = train_cli("student", 2, 2, tmp_path / "two", *args)
    train_cli("student", 1, 4, tmp_path / "one", *args)
    for rank in (0, 1):  # each process runs the teacher on its own share of the batches
        assert f"teacher targets: 1 of 2 batches computed in process {rank} of 2" in log, log[-2000:]
    # The targets do not depend on the layout (fixed batches, a seed per batch), so neither do the
    # losses (cross entropy, logit and hidden KD, anchoring) nor the trained weights.
    assert logged_losses(tmp_path / "two" / "checkpoint-2") == pytest.approx(logged_losses(tmp_path / "one" / "checkpoint-2"), rel=1e-4)
    assert max_weight_difference(tmp_path / "two", tmp_path / "one") < 1e-5
    extra = load_file(tmp_path / "two" / "checkpoint-2" / "distill_state.safetensors")
    assert any(k.startswith("anchor_former.") for k in extra) and not any("teacher" in k for k in extra)
