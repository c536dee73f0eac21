"""The multi-GPU recipe's config files load, and ZeRO-2 trains on CPU exactly like one process (issue 18).

No GPU here: the accelerate configs are checked by loading them; the DeepSpeed one also runs for
real with two CPU processes (DeepSpeed's CPU accelerator, gloo), which is as far as this machine
can take it — the bf16 and NCCL parts run only on a GPU machine."""

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType
from model_fixtures import write_fake_split
from training_runs import logged_losses, max_weight_difference, train_cli

CONFIGS = Path(__file__).resolve().parents[1] / "config" / "accelerate"


def test_accelerate_configs_load_as_eight_gpu_runs():
    plain = load_config_from_file(str(CONFIGS / "multi_gpu_bf16.yaml"))
    assert plain.distributed_type == DistributedType.MULTI_GPU and plain.num_processes == 8 and plain.mixed_precision == "bf16"
    zero = load_config_from_file(str(CONFIGS / "deepspeed_zero2.yaml"))
    assert zero.distributed_type == DistributedType.DEEPSPEED and zero.num_processes == 8
    assert (CONFIGS.parents[1] / zero.deepspeed_config["deepspeed_config_file"]).is_file()


def test_zero2_config_trains_two_cpu_processes_like_one(tmp_path):
    pytest.importorskip("deepspeed")
    split = write_fake_split(tmp_path, 8)
    args = ["--samples", str(split), "--max-steps", "3", "--save-steps", "3"]
    train_cli("sft", 2, 2, tmp_path / "zero2", *args, "--deepspeed", str(CONFIGS / "zero2.json"))
    train_cli("sft", 1, 4, tmp_path / "one", *args)
    assert logged_losses(tmp_path / "zero2" / "checkpoint-3") == pytest.approx(logged_losses(tmp_path / "one" / "checkpoint-3"), rel=1e-4)
    assert max_weight_difference(tmp_path / "zero2", tmp_path / "one") < 1e-5
    assert (tmp_path / "zero2" / "checkpoint-3" / "global_step3").is_dir()  # the sharded ZeRO optimizer state
