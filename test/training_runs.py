"""`evodrive train` as a user runs it — one process or several under torchrun — and what to compare."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

SMALL_RUN = ["--image-size", "56", "84", "--logging-steps", "1", "--lr", "1e-3", "--seed", "0"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_cli(mode: str, processes: int, batch: int, out: Path, *extra: str) -> str:
    """``evodrive train`` in one process or under torchrun with ``processes`` workers; its output."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_port", str(_free_port())]
    command = [*(launcher if processes > 1 else [sys.executable]), "-m", "evodrive_ros.cli", "train", mode, *SMALL_RUN,
               "--batch-size", str(batch), "--output-dir", str(out), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def logged_losses(checkpoint: Path) -> list[float]:
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


def max_weight_difference(a: Path, b: Path) -> float:
    x, y = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert x.keys() == y.keys()
    return max(float((x[k].float() - y[k].float()).abs().max()) for k in x)
