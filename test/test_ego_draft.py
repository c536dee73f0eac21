"""The learned ego draft (``draft-residual-t2``): numpy runtime = torch fit, out-of-fold plans for
training, the prompt shows the draft, and a trained model carries it through export to the runtime."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from model_fixtures import write_fake_split

from evodrive_ros.core import prompts
from evodrive_ros.core.conventions import COMMANDS
from evodrive_ros.core.ego_draft import DRAFT_FILE, EgoDraft
from evodrive_ros.core.trajectory_codec import DRAFT_RESIDUAL_CODEC, SCALED_RESIDUAL_CODEC, decode_text


def _arrays(n: int, seed: int) -> dict[str, np.ndarray]:
    """Ego samples whose future is a non-linear function of speed and command, plus noise."""
    rng = np.random.default_rng(seed)
    speed = rng.uniform(2, 12, n)
    command = rng.integers(0, 3, n)
    t = np.arange(1, 7) * 0.5
    lateral = np.select([command == 1, command == 2], [1.0, -1.0], 0.0)[:, None] * (t**2)[None] * 0.3
    return {
        "sample_token": np.array([f"s{i}" for i in range(n)]),
        "history_xy": np.stack([np.outer(speed, np.arange(-4, 1) * 0.5), np.zeros((n, 5))], axis=-1),
        "history_valid": np.ones((n, 5), bool),
        "history_dynamics": np.stack([np.tile(speed[:, None], 5), *np.zeros((3, n, 5))], axis=-1),
        "command": command.astype(np.uint8),
        "future_xy": np.stack([np.outer(speed, t), lateral], axis=-1) + rng.normal(0, 0.3, (n, 6, 2)),
        "future_valid": np.ones((n, 6), bool),
    }


def test_the_numpy_draft_plans_as_the_torch_mlp_and_survives_a_file(tmp_path):
    from evodrive_training.baselines.ego_mlp import EgoMLPConfig, as_draft, predict_ego_mlp, train_ego_mlp

    train, test = _arrays(120, 0), _arrays(20, 1)
    model = train_ego_mlp(train, EgoMLPConfig(epochs=20, hidden=32))
    draft = as_draft(model)
    np.testing.assert_allclose(draft.plans(test), predict_ego_mlp(model, test), atol=1e-4)
    draft.save(tmp_path / DRAFT_FILE)
    loaded = EgoDraft.load(tmp_path / DRAFT_FILE)
    one = loaded.plan(test["history_xy"][3], test["history_valid"][3], test["history_dynamics"][3], COMMANDS[int(test["command"][3])])
    np.testing.assert_allclose(one, predict_ego_mlp(model, test)[3], atol=1e-4)
    np.savez(tmp_path / "bad.npz", mean=np.zeros(38), std=np.ones(38), weight_0=np.zeros((38, 5)), bias_0=np.zeros(5))
    with pytest.raises(ValueError, match="do not chain"):
        EgoDraft.load(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="not an ego-draft file"):
        EgoDraft.load(tmp_path / "missing.npz")


def test_an_ensemble_draft_averages_separately_trained_mlps(tmp_path):
    """``members`` MLPs in one module: each is an ordinary MLP of its own weights that fits the data
    by itself; the draft plans their average, in torch and in numpy, and a one-MLP file still loads."""
    import torch
    from torch import nn

    from evodrive_training.baselines.ego_mlp import EgoMLPConfig, as_draft, predict_ego_mlp, train_ego_mlp
    from evodrive_ros.core.ego_draft import ego_features

    train, test = _arrays(200, 5), _arrays(30, 6)
    model = train_ego_mlp(train, EgoMLPConfig(epochs=400, hidden=32, batch_size=64, members=3))
    x = (torch.as_tensor(ego_features(train)) - model.mean) / model.std
    members = []
    for k in range(3):
        layers = []
        for w, b in zip(model.weights, model.biases):
            linear = nn.Linear(*w.shape[1:])
            linear.weight.data, linear.bias.data = w[k].detach().T.clone(), b[k].detach().clone()
            layers += [linear, nn.ReLU()]
        with torch.no_grad():
            members.append(nn.Sequential(*layers[:-1])(x).view(-1, 6, 2).numpy())
    still = np.abs(train["future_xy"] - train["future_xy"].mean(axis=0)).mean()
    for plans in members:  # every member learnt the data on its own
        assert np.abs(plans - train["future_xy"]).mean() < 0.5 * still
    assert np.abs(members[0] - members[1]).max() > 1e-2  # seeded apart
    np.testing.assert_allclose(predict_ego_mlp(model, train), np.mean(members, axis=0), atol=1e-5)
    draft = as_draft(model)
    draft.save(tmp_path / DRAFT_FILE)
    loaded = EgoDraft.load(tmp_path / DRAFT_FILE)
    assert loaded.members == 3
    np.testing.assert_allclose(loaded.plans(test), predict_ego_mlp(model, test), atol=1e-4)
    single = {f"weight_{i}": w[1] for i, w in enumerate(draft.weights)} | {f"bias_{i}": b[1] for i, b in enumerate(draft.biases)}
    np.savez(tmp_path / "one.npz", mean=draft.mean, std=draft.std, **single)  # the format of the drafts shipped before session 18
    one = EgoDraft.load(tmp_path / "one.npz")
    assert one.members == 1
    np.testing.assert_allclose(one.plans(train), members[1], atol=1e-4)


def test_a_road_reading_draft_uses_the_road_and_refuses_to_plan_without_it(tmp_path):
    """With ``road_cells`` the draft's features end with the road ahead: on data whose future turns
    with the road it fits better than the ego-only draft; numpy = torch, through its file."""
    from evodrive_training.baselines.ego_mlp import EgoMLPConfig, as_draft, predict_ego_mlp, train_ego_mlp
    from evodrive_ros.core.ego_draft import ROAD_KEY, coarse_road

    def with_road(arrays, seed):
        bend = np.random.default_rng(seed + 100).uniform(-1, 1, len(arrays["command"]))  # how the road bends ahead: only the road shows it
        fine = np.clip(0.5 + bend[:, None, None] * np.linspace(-1, 1, 4)[None, None, :], 0, 1) * np.ones((1, 4, 1))
        future = arrays["future_xy"].copy()
        future[..., 1] += bend[:, None] * np.arange(1, 7)[None] ** 2 * 0.1
        return {**arrays, "future_xy": future, ROAD_KEY: coarse_road(fine, 2)}

    train, test = with_road(_arrays(300, 7), 7), with_road(_arrays(60, 8), 8)
    config = EgoMLPConfig(epochs=150, hidden=32, batch_size=64)
    ego_only = train_ego_mlp(train, config)
    road = train_ego_mlp(train, replace(config, road_cells=2))
    error = lambda model: np.abs(predict_ego_mlp(model, test) - test["future_xy"]).mean()  # noqa: E731
    assert error(road) < 0.6 * error(ego_only), (error(road), error(ego_only))
    draft = as_draft(road)
    draft.save(tmp_path / DRAFT_FILE)
    loaded = EgoDraft.load(tmp_path / DRAFT_FILE)
    assert loaded.reads_road and loaded.road_cells == 2
    np.testing.assert_allclose(loaded.plans(test), predict_ego_mlp(road, test), atol=1e-4)
    one = loaded.plan(test["history_xy"][0], None, test["history_dynamics"][0], COMMANDS[int(test["command"][0])], road=test[ROAD_KEY][0])
    np.testing.assert_allclose(one, predict_ego_mlp(road, test)[0], atol=1e-4)
    with pytest.raises(ValueError, match="reads the road ahead"):
        loaded.plan(test["history_xy"][0], None, test["history_dynamics"][0], "LEFT")
    with pytest.raises(ValueError, match="2x2 road cells, got 16"):
        loaded.plans({**test, ROAD_KEY: np.zeros((60, 16))})
    with np.load(tmp_path / DRAFT_FILE) as data:  # a file whose road cells do not match its features
        np.savez(tmp_path / "bad.npz", **{**{k: data[k] for k in data.files}, "road_cells": np.int64(3)})
    with pytest.raises(ValueError, match="3x3 road cells"):
        EgoDraft.load(tmp_path / "bad.npz")
    np.testing.assert_allclose(coarse_road(np.arange(16.0).reshape(1, 4, 4), 2), [[2.5, 4.5, 10.5, 12.5]])
    with pytest.raises(ValueError, match="does not pool"):
        coarse_road(np.zeros((1, 4, 4)), 3)


def test_out_of_fold_plans_come_from_models_that_did_not_see_the_sample():
    """On pure-noise targets a fitted MLP memorises its samples; out-of-fold plans cannot."""
    from evodrive_training.baselines.ego_mlp import EgoMLPConfig, fit_ego_draft

    rng = np.random.default_rng(3)
    arrays = {**_arrays(100, 2), "history_dynamics": rng.normal(0, 1, (100, 5, 4)), "future_xy": rng.normal(0, 1, (100, 6, 2))}
    draft, out_of_fold = fit_ego_draft(arrays, EgoMLPConfig(epochs=200, hidden=64))
    in_sample = np.abs(draft.plans(arrays) - arrays["future_xy"]).mean()
    held_out = np.abs(out_of_fold - arrays["future_xy"]).mean()
    assert in_sample < 0.7 * held_out, (in_sample, held_out)


def test_the_draft_codec_corrects_and_shows_the_draft():
    from evodrive_training.baselines.ego_mlp import EgoMLPConfig, as_draft, train_ego_mlp

    arrays = _arrays(40, 4)
    draft = as_draft(train_ego_mlp(arrays, EgoMLPConfig(epochs=5, hidden=16)))
    with pytest.raises(ValueError, match="with_draft"):
        DRAFT_RESIDUAL_CODEC.prior_plan(arrays["history_xy"][0], None, arrays["history_dynamics"][0], "LEFT")
    with pytest.raises(ValueError, match="not a learned ego draft"):
        SCALED_RESIDUAL_CODEC.with_draft(draft)
    codec = DRAFT_RESIDUAL_CODEC.with_draft(draft)
    history, dynamics = arrays["history_xy"][0], arrays["history_dynamics"][0]
    prior = codec.prior_plan(history, None, dynamics, "LEFT")
    np.testing.assert_allclose(prior, draft.plans({**arrays, "command": np.full(40, COMMANDS.index("LEFT"))})[0])
    future = prior + np.array([[0.02 * i, -0.01 * i] for i in range(1, 7)])
    np.testing.assert_allclose(codec.decode(codec.encode(future, prior), prior), future, atol=0.05 / 6**2 * 36)
    user = prompts.student_user_prompt(history, dynamics, "LEFT", codec, with_cameras=False, prior_xy=prior)
    assert prompts.DRAFT_LINE + codec.format_points(np.stack([-prior[:, 1], prior[:, 0]], axis=1)) in user
    with pytest.raises(ValueError, match="give prior_xy"):
        prompts.student_user_prompt(history, dynamics, "LEFT", codec)
    assert prompts.DRAFT_LINE not in prompts.student_user_prompt(history, dynamics, "LEFT", SCALED_RESIDUAL_CODEC)
    from evodrive_training.models.tokenizer import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()  # every word of the draft line is a word of the tiny vocabulary
    assert tokenizer.unk_token_id not in tokenizer(user, add_special_tokens=False)["input_ids"]


def test_a_draft_model_trains_exports_and_plans_in_the_runtime(tmp_path, capsys):
    """``train --codec draft-residual-t2`` fits the draft; the models trained from it carry it; the
    export ships it under a hash; the runtime plans with it and refuses a folder without it."""
    from evodrive_ros.cli import main
    from evodrive_ros.core.model_manifest import MANIFEST_FILE, read_manifest
    from evodrive_ros.runtime.loader import load_planner
    from evodrive_training.export.onnx_export import export_model_dir
    from evodrive_training.models.presets import DRAFT_TRAIN_FILE, training_drafts
    from exported_tiny import planner_input

    split = write_fake_split(tmp_path, 6)
    common = ["--samples", str(split), "--image-size", "56", "84", "--batch-size", "2", "--max-steps", "1", "--save-steps", "1"]
    first, second = tmp_path / "warmup", tmp_path / "sft"
    assert main(["train", "sft", *common, "--output-dir", str(first), "--codec", "draft-residual-t2", "--text-only"]) == 0
    assert sorted(training_drafts(first)) == [f"tok{i}" for i in range(6)]
    assert main(["train", "sft", *common, "--output-dir", str(second), "--init", str(first)]) == 0
    assert (second / DRAFT_FILE).read_bytes() == (first / DRAFT_FILE).read_bytes() and (second / DRAFT_TRAIN_FILE).is_file()
    pred = tmp_path / "pred.json"
    assert main(["predict", "--model", str(second), "--samples", str(split), "--output", str(pred)]) == 0
    assert all(decode_text(p["predict"]).shape == (6, 2) for p in json.loads(pred.read_text()))

    model_dir = tmp_path / "model"
    manifest = export_model_dir(second, model_dir)
    assert manifest.prior == "ego-draft" and manifest.draft.file == DRAFT_FILE and not (model_dir / DRAFT_TRAIN_FILE).exists()
    result = load_planner(model_dir, backend="onnxruntime").plan(planner_input(0, 56, 84))
    assert result.ok and result.waypoints.shape == (6, 2)
    (model_dir / DRAFT_FILE).write_bytes((model_dir / DRAFT_FILE).read_bytes() + b"\0")
    with pytest.raises(ValueError, match="sha256"):
        read_manifest(model_dir, verify_hashes=True)
    data = json.loads((model_dir / MANIFEST_FILE).read_text())
    del data["draft"]
    (model_dir / MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="no 'draft' file"):
        read_manifest(model_dir)
    (second / DRAFT_FILE).unlink()
    assert main(["predict", "--model", str(second), "--samples", str(split), "--output", str(pred)]) == 2
    assert f"has no {DRAFT_FILE}" in capsys.readouterr().out


def test_a_model_whose_draft_reads_the_road_sees_it_in_training_prediction_export_and_the_runtime(tmp_path, capsys):
    """A draft that reads the road: prediction sees it through the model's road perception (an error
    without that file), blanked cameras change what it sees; the export ships the perception as the
    road graph and the runtime's draft, on onnxruntime, plans as the PyTorch reference's."""
    import shutil

    import torch

    from evodrive_ros.cli import main
    from evodrive_ros.core.ego_draft import ROAD_KEY
    from evodrive_ros.core.model_manifest import MANIFEST_FILE, ROAD_GRAPH, read_manifest
    from evodrive_ros.runtime.loader import load_planner
    from evodrive_training.baselines.ego_mlp import EgoMLPConfig, as_draft, train_ego_mlp
    from evodrive_training.export.onnx_export import export_model_dir
    from evodrive_training.export.torch_planner import load_torch_planner
    from evodrive_training.models.perception import OccupancyProbe, RoadPerception
    from evodrive_training.models.presets import ROAD_PERCEPTION_FILE, image_spec, load_pretrained
    from exported_tiny import planner_input

    split = write_fake_split(tmp_path, 4)
    model_dir = tmp_path / "sft"
    assert main(["train", "sft", "--samples", str(split), "--image-size", "56", "84", "--batch-size", "2", "--max-steps", "1",
                 "--save-steps", "1", "--output-dir", str(model_dir), "--codec", "draft-residual-t2", "--text-only"]) == 0
    road = np.random.default_rng(0).uniform(0, 1, (60, 4))
    arrays = {**_arrays(60, 9), ROAD_KEY: road}
    arrays["future_xy"][..., 1] += 3 * road[:, :1]  # the plan moves with what the road cells show
    as_draft(train_ego_mlp(arrays, EgoMLPConfig(epochs=100, hidden=16, road_cells=2))).save(model_dir / DRAFT_FILE)
    predict = ["predict", "--model", str(model_dir), "--samples", str(split), "--draft-only", "--output"]
    assert main([*predict, str(tmp_path / "p.json")]) == 2
    assert f"has no {ROAD_PERCEPTION_FILE}" in capsys.readouterr().out

    model, _ = load_pretrained(model_dir)
    torch.manual_seed(0)
    head = OccupancyProbe(6 * image_spec(model).tokens_per_image, model.config.text_config.hidden_size, 4)
    torch.nn.init.normal_(head.to_grid.weight, std=0.5)
    RoadPerception(model.model.visual, head).save(model_dir / ROAD_PERCEPTION_FILE)
    assert main([*predict, str(tmp_path / "seen.json")]) == 0
    assert main([*predict, str(tmp_path / "blank.json"), "--blank-cameras"]) == 0
    seen, blank = (np.stack([decode_text(p["predict"]) for p in json.loads((tmp_path / f"{name}.json").read_text())]) for name in ("seen", "blank"))
    assert np.abs(seen - blank).max() > 0.01  # what the draft plans depends on what the cameras show

    exported = tmp_path / "exported"
    manifest = export_model_dir(model_dir, exported)
    assert ROAD_GRAPH in manifest.graphs and (exported / manifest.graphs[ROAD_GRAPH].file).is_file()
    inputs = planner_input(0, 56, 84)
    runtime, reference = load_planner(exported, backend="onnxruntime"), load_torch_planner(model_dir)
    np.testing.assert_allclose(runtime._prior(inputs, runtime._pixel_values(inputs)), reference._prior(inputs, reference._pixel_values(inputs)),
                               atol=1e-4)
    assert runtime.plan(inputs).ok
    from evodrive_ros.runtime.bench import model_frame_shape

    assert model_frame_shape(runtime, inputs).prompt_tokens == runtime.prompt_ids(inputs).shape[1]  # `evodrive bench` sizes its frames
    covered = runtime.plan(replace(inputs, images={**inputs.images, "CAM_BACK": np.full_like(inputs.images["CAM_BACK"], 20)}))
    assert not covered.ok and "['CAM_BACK'] show a uniform frame" in covered.error  # it cannot see the road: no plan
    data = json.loads((exported / MANIFEST_FILE).read_text())
    del data["graphs"][ROAD_GRAPH]
    shutil.copytree(exported, tmp_path / "no_road")
    (tmp_path / "no_road" / MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="no 'road' graph"):
        read_manifest(tmp_path / "no_road").trajectory_codec(tmp_path / "no_road")
