import math

import pytest

import numpy as np
import torch
from model_fixtures import fake_samples, tiny_pair

from evodrive_ros.core.driving_samples import pack_occupancy
from evodrive_training.models.perception import (
    OccupancyProbe, PerceptionDataset, average_precision, best_iou_threshold, coarse_occupancy, collate_views,
    encode_views, fit_linear_probe, location_prior_ap, probe_metrics, train_occupancy,
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


def test_location_prior_scores_cells_by_how_often_they_were_occupied():
    fit = torch.zeros(10, 2, 2)
    fit[:, 0, 0] = 1.0  # always occupied
    fit[:3, 1, 1] = 1.0  # sometimes
    held_out = torch.zeros(4, 2, 2)
    held_out[:, 0, 0] = 1.0
    assert location_prior_ap(fit, held_out) == 1.0  # the always-occupied cell ranks first
    held_out[:, 0, 0], held_out[:, 0, 1] = 0.0, 1.0  # now only a cell never seen occupied: ranked last
    assert location_prior_ap(fit, held_out) == 0.25  # its four positives tie with every empty cell of rate 0


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


def test_token_targets_follow_the_encoders_token_order():
    """Block k of ``token_targets`` is the image area of merged visual token k (row-major 28×28
    blocks), checked against the patch order ``preprocess_images`` gives the encoder."""
    from evodrive_ros.core.preprocessing import ImageSpec, preprocess_images
    from evodrive_training.models.perception import token_targets

    spec = ImageSpec(height=56, width=84)
    block = spec.patch_size * spec.merge_size
    label = np.zeros((56, 84), np.uint8)
    depth = np.zeros((56, 84), np.uint16)
    label[28:, 28:56], depth[28:, 28:56] = 1, 2000  # token 4 (row 1, column 1): a vehicle 20 m away
    label[0:14, 56:84], depth[0:14, 56:84] = 5, 4000  # token 2, top half: a red signal 40 m away
    shares, log_depth, objects = token_targets(label, depth, block)
    assert shares.shape == (6, 6) and np.allclose(shares.sum(axis=1), 1.0)
    assert shares[4, 1] == 1.0 and shares[2, 5] == 0.5 and shares[2, 0] == 0.5 and shares[0, 0] == 1.0
    assert np.isclose(np.exp(log_depth[4]), 20.0) and np.isclose(np.exp(log_depth[2]), 40.0) and objects[[0, 2, 4]].tolist() == [0.0, 0.5, 1.0]

    rgb = np.zeros((56, 84, 3), np.uint8)
    rgb[28:, 28:56] = 255  # the same area, white: its patches must be merged token 4's
    pixels, _ = preprocess_images([rgb], spec)
    bright = pixels.reshape(-1, spec.merge_size**2, spec.patch_dim).mean(axis=(1, 2))
    assert np.argmax(bright) == 4 and (bright > bright.min() + 1e-3).sum() == 1


def test_dense_labels_drawn_with_the_image(tmp_path):
    """Every vehicle or pedestrian pixel of the instance buffer is labelled as one, has a depth, and
    the signal heads are labelled by their state."""
    from evodrive_training.synth import SynthConfig, generate_dataset
    from evodrive_training.synth.config import VISION_TRAFFIC
    from evodrive_training.synth.dataset import build_scene

    config = SynthConfig.from_dict({"traffic": VISION_TRAFFIC, "camera": {"width": 196, "height": 112}, "scene": {"duration_s": 6.0}})
    scene = build_scene(config, 5, 0)
    found_signal = False
    for t in np.arange(0.0, 6.0, 1.0):
        for image, buffers in scene.frame(t, with_ids=True, with_dense=True):
            agents = buffers.instance > 0
            assert np.isin(buffers.label[agents], [1, 2]).all()
            assert ((buffers.depth > 0) == (buffers.label > 0)).all()
            signal = buffers.label >= 3
            found_signal |= bool(signal.any())
            if signal.any():  # lit in its colour: red heads are red in the image, green ones green
                colour = image[signal].astype(int).mean(axis=0)  # BGR
                state = int(np.bincount(buffers.label[signal]).argmax())
                assert (colour[2] > colour[1]) if state == 5 else (colour[1] > colour[2]) if state == 3 else True
    assert found_signal, "scene 0 of seed 5 should show a signal within 6 s"

    dataroot = generate_dataset(tmp_path / "data", 1, 5, SynthConfig.from_dict({**{"write_dense_labels": True}, "scene": {"duration_s": 4.0},
                                                                                  "camera": {"width": 196, "height": 112}}))
    model, _ = tiny_pair()
    from evodrive_ros.core.driving_samples import load_split
    from evodrive_training.data.cache import build_split

    build_split(dataroot, "v1.0-synth", "all", tmp_path / "cache", progress=False)
    arrays = load_split(tmp_path / "cache" / "v1.0-synth" / "all", ("camera_paths", "occupancy_bits")).arrays
    spec = image_spec(model)
    item = PerceptionDataset([tuple(p) for p in arrays["camera_paths"]], arrays["occupancy_bits"], dataroot, spec, 4, dense=True)[0]
    assert item["shares"].shape == (6 * spec.tokens_per_image, 6) and item["log_depth"].shape == (6 * spec.tokens_per_image,)
    assert torch.allclose(item["shares"].sum(-1), torch.ones(1)) and (item["objects"] > 0).any()


def test_dense_pretraining_fits_the_token_labels(tmp_path):
    from evodrive_training.models.perception import DenseHead, class_weights, dense_loss, sample_tokens

    model, _ = tiny_pair()
    batch = _data(tmp_path, model)
    n_tokens = batch["pixel_values"].shape[0] // 4 // 2
    generator = torch.Generator().manual_seed(0)
    batch["shares"] = torch.nn.functional.one_hot(torch.randint(0, 6, (2, n_tokens), generator=generator), 6).float()
    batch["log_depth"] = torch.rand(2, n_tokens, generator=generator) * 3
    batch["objects"] = (batch["shares"][..., 0] == 0).float()
    dense = (DenseHead(model.config.text_config.hidden_size), class_weights(batch["shares"].numpy()))
    before = dense_loss(dense[0], sample_tokens(model.model.visual, batch).float(), batch, dense[1]).item()
    probe = OccupancyProbe(n_tokens, model.config.text_config.hidden_size, 4)
    train_occupancy(model.model.visual, probe, [batch] * 30, lr=3e-3, dense=dense)
    model.model.visual.eval()
    after = dense_loss(dense[0], sample_tokens(model.model.visual, batch).float(), batch, dense[1]).item()
    assert after < 0.5 * before


def test_road_target_is_the_drivable_share_ahead():
    from evodrive_training.models.perception import coarse_drivable

    grid = np.zeros((200, 200), bool)
    grid[100:180, 95:105] = True  # a 5 m-wide strip straight ahead, 40 m long (y in [-2.5, 2.5))
    grid[:100] = True  # behind the car: outside the target
    road = coarse_drivable(pack_occupancy(grid), cells=16)
    assert road.shape == (16, 16) and np.allclose(road[:, 7:9], 1.0) and road.sum() == 16 * 2
    with pytest.raises(ValueError):
        coarse_drivable(pack_occupancy(grid), cells=12)


def test_road_pretraining_fits_the_drivable_area(tmp_path):
    from evodrive_training.models.perception import sample_tokens

    model, _ = tiny_pair()
    batch = _data(tmp_path, model)
    batch["road"] = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])
    n_tokens = batch["pixel_values"].shape[0] // 4 // 2
    road = OccupancyProbe(n_tokens, model.config.text_config.hidden_size, 2)
    bce = lambda: torch.nn.functional.binary_cross_entropy_with_logits(road(sample_tokens(model.model.visual, batch).float()), batch["road"]).item()  # noqa: E731
    before = bce()
    train_occupancy(model.model.visual, OccupancyProbe(n_tokens, model.config.text_config.hidden_size, 4), [batch] * 30, lr=3e-3, road=road)
    model.model.visual.eval()
    assert bce() < 0.3 * before


def test_the_road_perception_sees_what_its_encoder_and_head_see_and_survives_a_file(tmp_path):
    """``RoadPerception`` = the encoder's tokens through the road head, as drivable shares; saved and
    loaded beside another model of the same architecture it sees the same; blanked cameras differ."""
    from evodrive_training.models.perception import RoadPerception, road_grids, sample_tokens

    model, _ = tiny_pair()
    batch = _data(tmp_path, model)
    n_tokens = batch["pixel_values"].shape[0] // 4 // 2
    head = OccupancyProbe(n_tokens, model.config.text_config.hidden_size, 4)
    torch.nn.init.normal_(head.to_grid.weight, std=1.0)
    model.model.visual.eval()
    with torch.no_grad():
        expected = torch.sigmoid(head(sample_tokens(model.model.visual, batch).float())).numpy()
    RoadPerception(model.model.visual, head).save(tmp_path / "road.safetensors")
    other, _ = tiny_pair(seed=1)  # another encoder: the file's weights replace its copy's
    perception = RoadPerception.load(tmp_path / "road.safetensors", other.model.visual)
    paths = [s.camera_paths for s in fake_samples(tmp_path, 2)]
    seen = road_grids(perception, paths, tmp_path, image_spec(model), batch_size=1)
    assert seen.shape == (2, 4, 4) and np.all((seen > 0) & (seen < 1))
    np.testing.assert_allclose(seen, expected, atol=1e-5)
    assert np.abs(road_grids(perception, paths, tmp_path, image_spec(model), blank=True) - seen).max() > 1e-3
