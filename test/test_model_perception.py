import math

import numpy as np
import torch
from model_fixtures import fake_samples, tiny_pair

from evodrive_ros.core.driving_samples import pack_occupancy
from evodrive_training.models.perception import (
    OccupancyProbe, PerceptionDataset, average_precision, best_iou_threshold, coarse_occupancy, collate_views,
    encode_views, fit_linear_probe, probe_metrics, train_occupancy,
)
from evodrive_training.models.presets import image_spec


def test_coarse_occupancy_max_pools_the_first_future_step():
    grids = np.zeros((6, 200, 200), bool)
    grids[0, 0, 0] = True
    grids[0, 199, 100] = True
    grids[1, 50, 50] = True  # a later step: ignored
    coarse = coarse_occupancy(pack_occupancy(grids), cells=16)  # 12-cell blocks (192 of 200 used)
    assert coarse.shape == (16, 16) and coarse.sum() == 1 and coarse[0, 0] == 1


def _data(tmp_path, model):
    samples = fake_samples(tmp_path, 2)
    grids = np.zeros((2, 6, 200, 200), bool)
    grids[0, 0, :100] = True
    grids[1, 0, 100:] = True
    ds = PerceptionDataset([s.camera_paths for s in samples], pack_occupancy(grids), tmp_path, image_spec(model), cells=4)
    return collate_views([ds[0], ds[1]])


def test_probe_separates_what_the_encoder_sees_on_held_out_samples(tmp_path):
    model, _ = tiny_pair()
    batch = _data(tmp_path, model)
    tokens, targets = encode_views(model.model.visual, [batch])
    assert tokens.shape[:2] == (2, batch["pixel_values"].shape[0] // 4 // 2) and targets.shape == (2, 4, 4)
    # Held-out copies: the same two scenes seen through slightly different pixels (fresh noise on the tokens).
    noisy = tokens + 0.01 * tokens.std() * torch.randn(tokens.shape, generator=torch.Generator().manual_seed(1))
    probe = fit_linear_probe(tokens, targets, steps=60, lr=1e-2)
    metrics = probe_metrics(probe, (tokens, targets), (noisy, targets))
    assert metrics["ap"] > 0.9 and metrics["iou"] > 0.9 and metrics["positive_rate"] == 0.5
    assert metrics["ap_ci95"][0] <= metrics["ap"] <= metrics["ap_ci95"][1]
    shuffled = probe_metrics(probe, (tokens, targets), (noisy, targets.flip(0)))  # held-out labels swapped
    assert shuffled["ap"] < 0.6 and shuffled["iou"] < 0.1


def test_average_precision_and_threshold_on_known_cases():
    labels = np.array([1, 0, 1, 0, 0], bool)
    assert average_precision(np.array([5.0, 4.0, 3.0, 2.0, 1.0]), labels) == (1 + 2 / 3) / 2
    assert average_precision(np.array([1.0, 2.0, 5.0, 3.0, 4.0]), labels) == (1 / 1 + 2 / 5) / 2
    assert math.isnan(average_precision(np.arange(5.0), np.zeros(5, bool)))
    tied = average_precision(np.array([1.0, 1.0, 0.0]), np.array([0, 1, 0], bool))
    assert tied == average_precision(np.array([1.0, 1.0, 0.0]), np.array([1, 0, 0], bool)) == 0.5
    scores = np.array([0.9, 0.8, 0.2, 0.1])
    threshold = best_iou_threshold(scores, np.array([1, 1, 0, 0], bool))
    assert 0.2 <= threshold < 0.8


def test_pretraining_updates_the_encoder(tmp_path):
    model, _ = tiny_pair()
    batch = _data(tmp_path, model)
    visual = model.model.visual
    before = visual.patch_embed.proj.weight.clone()
    probe = OccupancyProbe(batch["pixel_values"].shape[0] // 8, model.config.text_config.hidden_size, cells=4)
    train_occupancy(visual, probe, [batch] * 2, positive_rate=0.5)
    assert not torch.equal(visual.patch_embed.proj.weight, before)
