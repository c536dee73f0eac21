import numpy as np
import torch
from model_fixtures import fake_samples, tiny_pair

from evodrive_ros.core import prompts
from evodrive_training.dataset import DrivingDataset, collate, encode_prompt, student_user
from evodrive_training.models.presets import image_spec


def test_labels_supervise_exactly_the_answer_turn(tmp_path):
    model, tok = tiny_pair()
    samples = fake_samples(tmp_path, 1)
    spec = image_spec(model)
    item = DrivingDataset(samples, tmp_path, tok, spec, "student")[0]
    prompt_ids = encode_prompt(tok, student_user(samples[0]), 6, spec)
    n = len(prompt_ids)
    assert item["input_ids"][:n].tolist() == prompt_ids  # inference prompt == training prefix
    assert (item["labels"][:n] == -100).all() and (item["labels"][n:] == item["input_ids"][n:]).all()
    answer = tok.decode(item["input_ids"][n:])
    assert answer == prompts.answer_text(samples[0].future_xy) + prompts.IM_END + "\n"
    assert tok.decode(prompt_ids).endswith("<|im_start|>assistant\n")
    image_positions = item["input_ids"] == model.config.image_token_id
    assert (item["mm_token_type_ids"] == image_positions).all()
    assert image_positions.sum() == 6 * spec.tokens_per_image
    assert item["pixel_values"].shape == (6 * spec.grid_thw[1] * spec.grid_thw[2], spec.patch_dim)


def test_collate_pads_a_batch_with_student_and_teacher_tensors(tmp_path):
    model, tok = tiny_pair()
    ds = DrivingDataset(fake_samples(tmp_path, 2), tmp_path, tok, image_spec(model), "distill")
    items = [ds[0], ds[1]]
    lengths = [len(i["input_ids"]) for i in items]
    batch = collate(items, tok.pad_token_id)
    width = max(lengths)
    assert batch["input_ids"].shape == (2, width) and batch["teacher_input_ids"].shape[0] == 2
    for row, n in enumerate(lengths):
        assert batch["attention_mask"][row].sum() == n
        assert (batch["input_ids"][row, n:] == tok.pad_token_id).all() and (batch["labels"][row, n:] == -100).all()
    assert batch["image_grid_thw"].shape == (12, 3) and batch["teacher_image_grid_thw"].shape == (8, 3)
    s_answer = batch["labels"][batch["labels"] != -100]
    t_answer = batch["teacher_labels"][batch["teacher_labels"] != -100]
    assert torch.equal(s_answer, t_answer)  # identical answer token sequences (KD relies on it)


def test_samples_without_a_full_future_are_dropped(tmp_path):
    model, tok = tiny_pair()
    samples = fake_samples(tmp_path, 2)
    cut = samples[1].__class__(**{**samples[1].__dict__, "future_mask": np.array([1, 1, 1, 0, 0, 0], bool)})
    ds = DrivingDataset([samples[0], cut], tmp_path, tok, image_spec(model), "student")
    assert len(ds) == 1 and ds.dropped == 1


def test_blanked_cameras_keep_the_prompt_and_replace_every_image_with_one_grey_frame(tmp_path):
    from evodrive_training.dataset import encode_example

    model, tokenizer = tiny_pair()
    spec = image_spec(model)
    sample = fake_samples(tmp_path, 1)[0]
    paths = [tmp_path / p for p in sample.camera_paths]
    seen = encode_example(tokenizer, student_user(sample), paths, spec)
    blank = encode_example(tokenizer, student_user(sample), paths, spec, blank_images=True)
    assert np.array_equal(seen["input_ids"], blank["input_ids"]) and np.array_equal(seen["image_grid_thw"], blank["image_grid_thw"])
    per_camera = blank["pixel_values"].reshape(len(paths), -1)
    assert np.allclose(per_camera, per_camera[0]) and not np.allclose(seen["pixel_values"], blank["pixel_values"])
