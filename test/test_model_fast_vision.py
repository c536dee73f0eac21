import copy

import pytest
import torch

from evodrive_training.models.fast_vision import BatchedVisionAttention, LinearPatchEmbed, speed_up_vision
from evodrive_training.models.forward import vision_tokens_of
from evodrive_training.models.presets import build_tiny


@pytest.mark.parametrize("image_hw", [(112, 196), (56, 84)])
def test_faster_vision_tower_computes_the_stock_tokens_and_gradients(image_hw):
    """Windows of several lengths (full 4x4-merge windows, edge windows, whole images) in one batch."""
    model, _ = build_tiny(image_hw, seed=3)
    stock = model.model.visual
    fast = speed_up_vision(copy.deepcopy(stock))
    assert {type(m) for m in fast.modules()} >= {BatchedVisionAttention, LinearPatchEmbed}
    assert fast.state_dict().keys() == stock.state_dict().keys()
    gh, gw = image_hw[0] // 14, image_hw[1] // 14
    grid = torch.tensor([[1, gh, gw]] * 5)
    pixels = torch.randn(5 * gh * gw, 3 * 2 * 14 * 14, generator=torch.Generator().manual_seed(0))
    want, got = vision_tokens_of(stock, pixels, grid), vision_tokens_of(fast, pixels, grid)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    want_grads = torch.autograd.grad(want.square().sum(), list(stock.parameters()))
    got_grads = torch.autograd.grad(got.square().sum(), list(fast.parameters()))
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)
