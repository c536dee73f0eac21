import torch

from evodrive_training.distill.config import DistillConfig
from evodrive_training.distill.mc_dropout import mc_dropout_candidates


def test_dropout_candidates_count_rate_and_scaling():
    torch.manual_seed(0)
    hidden = torch.ones(50, 40)
    cands = mc_dropout_candidates(hidden, 10, 0.1)
    assert len(cands) == 10
    for c in cands:
        kept = c[c != 0]
        assert torch.allclose(kept, torch.full_like(kept, 1 / 0.9))  # survivors scaled by 1/(1-p)
        assert 0.05 < (c == 0).float().mean() < 0.15
    assert not torch.equal(cands[0], cands[1])  # independent draws


def test_default_config_gives_22_candidates():
    config = DistillConfig()
    assert 2 + 2 * config.mc_dropout_samples == 22 and config.mc_dropout_p == 0.1
