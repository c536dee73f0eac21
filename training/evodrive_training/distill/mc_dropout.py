"""MC-dropout candidates on the teacher's final hidden states (METHOD §2.4).

The teacher itself stays in eval mode; only a dropout on its final (normed) hidden states is
sampled, and each dropped version goes through the teacher's ``lm_head``. Surviving units are
scaled by 1/(1-p), as ``nn.Dropout`` in train mode does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mc_dropout_candidates(hidden: torch.Tensor, n_samples: int, p: float) -> list[torch.Tensor]:
    """``n_samples`` independent dropout draws of ``hidden`` (any shape)."""
    return [F.dropout(hidden, p=p, training=True) for _ in range(n_samples)]
