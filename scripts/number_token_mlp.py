"""Does reading numbers as tokens make a planner overfit? (issue 11 diagnostic)

The ego-status MLP on its usual inputs (2 s history, dynamics, command), its numbers read either
as continuous features (``rounded``: rounded to the prompt's 0.1, as the language model sees them),
or as the tiny language model reads them — one token per 0.1-rounded value,
a shared embedding table initialised sinusoidally in the value, plus a learned per-slot embedding
(``tokens-jitter``: each training input moved by up to two tokens, a smoothness prior;
``tokens+value``: plus a learned projection of the number's value, the remedy proposed for the LM).
Prints the UniAD-style mean of the 1/2/3 s L2 on the train and val samples with a full future.

    python scripts/number_token_mlp.py out/ablation-v2/samples/{train,val}/v1.0-synth/all \
        --modes continuous tokens tokens-frozen tokens+value --epochs 100
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

from evodrive_ros.core.conventions import COMMANDS, HISTORY_STEPS
from evodrive_ros.core.driving_samples import load_split
from evodrive_ros.core.ego_draft import ego_features
from evodrive_ros.core.openloop_metrics import protocol_values

FIELDS = ("sample_token", "history_xy", "history_valid", "history_dynamics", "command", "future_xy", "future_valid")
MODES = ("continuous", "rounded", "tokens", "tokens-jitter", "tokens-frozen", "tokens-lowfreq", "tokens+value")
JITTER_TENTHS = 2  # tokens-jitter: each training input moved by up to this many number tokens
N_NUMBERS = HISTORY_STEPS * (2 + 4)  # history positions and dynamics, ego_features' first columns
MAX_TENTHS = 999  # token values -99.9 ... 99.9, as the tiny tokenizer's number tokens


def numbers_and_command(arrays: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """The ego-MLP's own features (``ego_features``) split into the 30 numbers (history, dynamics)
    and the one-hot command; the validity flags are left out (the prompt has none)."""
    features = torch.from_numpy(ego_features(arrays))
    return features[:, :N_NUMBERS], features[:, -len(COMMANDS):]


class Planner(nn.Module):
    def __init__(self, mode: str, train_numbers: torch.Tensor, width: int = 16) -> None:
        super().__init__()
        self.mode = mode
        self.register_buffer("mean", train_numbers.mean(0))
        self.register_buffer("std", train_numbers.std(0) + 1e-3)
        slots = train_numbers.shape[1]
        if mode not in ("continuous", "rounded"):
            values = torch.arange(-MAX_TENTHS, MAX_TENTHS + 1) / 10.0
            freqs = torch.logspace(-2.5, -1, width // 2) if mode == "tokens-lowfreq" else torch.logspace(-1.5, 1, width // 2)
            self.table = nn.Embedding(len(values), width)
            with torch.no_grad():
                self.table.weight.copy_(torch.cat([torch.sin(values[:, None] * freqs), torch.cos(values[:, None] * freqs)], 1))
            self.table.weight.requires_grad_(mode != "tokens-frozen")
            self.slot = nn.Parameter(torch.zeros(slots, width))
            # tokens+value: the token's embedding plus a learned projection of its (normalised) value
            self.value = nn.Linear(1, width) if mode == "tokens+value" else None
        n_in = slots * (1 if mode in ("continuous", "rounded") else width) + len(COMMANDS)
        self.net = nn.Sequential(nn.Linear(n_in, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 12))

    def forward(self, x: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        if self.mode in ("continuous", "rounded"):
            h = ((torch.round(x * 10) / 10 if self.mode == "rounded" else x) - self.mean) / self.std
        else:
            ids = (torch.round(x * 10).clamp(-MAX_TENTHS, MAX_TENTHS) + MAX_TENTHS).long()
            h = self.table(ids) + self.slot
            if self.value is not None:
                h = h + self.value(((x - self.mean) / self.std)[..., None])
            h = h.flatten(1)
        return self.net(torch.cat([h, command], 1)).view(-1, 6, 2)


def uniad_mean_l2(pred: np.ndarray, arrays: dict[str, np.ndarray]) -> float:
    full = arrays["future_valid"].all(1)
    per_step = np.linalg.norm(pred - arrays["future_xy"], axis=-1)[full].mean(0)
    return protocol_values(per_step, "uniad")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train")
    parser.add_argument("val")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train, val = load_split(args.train, FIELDS).arrays, load_split(args.val, FIELDS).arrays
    (x, c), (xv, cv) = numbers_and_command(train), numbers_and_command(val)
    target = torch.tensor(train["future_xy"])
    weight = torch.tensor(train["future_valid"], dtype=torch.float32)[..., None]
    for mode in args.modes:
        torch.manual_seed(args.seed)
        model = Planner(mode, x)
        optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=1e-4)
        order = torch.Generator().manual_seed(args.seed)
        for epoch in range(1, args.epochs + 1):
            for batch in torch.randperm(len(x), generator=order).split(256):
                inputs = x[batch]
                if mode == "tokens-jitter":
                    inputs = inputs + torch.randint(-JITTER_TENTHS, JITTER_TENTHS + 1, inputs.shape, generator=order) / 10.0
                loss = ((model(inputs, c[batch]) - target[batch]).abs() * weight[batch]).sum() / weight[batch].sum()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            if epoch in (10, 30, 100, args.epochs):
                with torch.no_grad():
                    print(f"{mode:15s} epoch {epoch:4d}: train {uniad_mean_l2(model(x, c).numpy(), train):.3f}  "
                          f"val {uniad_mean_l2(model(xv, cv).numpy(), val):.3f}", flush=True)


if __name__ == "__main__":
    main()
