import numpy as np
import torch
from model_fixtures import IMAGE_HW, fake_samples, tiny_pair

from evodrive_ros.core import prompts
from evodrive_training.dataset import DrivingDataset, collate
from evodrive_training.models.forward import forward_hidden
from evodrive_training.models.presets import image_spec, load_model


def test_tiny_tokenizer_splits_numbers_digit_by_digit_and_decodes_exactly():
    _, tok = tiny_pair()
    text = prompts.answer_text(np.array([[1.0, -0.25]] * 6)) + prompts.IM_END + "\n"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
    assert tok.convert_ids_to_tokens(ids[:8]) == ["[", "(", "0", ".", "2", "5", ",", "1"]
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_special_tokens=True) == text.replace(prompts.IM_END, "")


def test_tiny_config_matches_tokenizer_and_round_trips(tmp_path):
    model, tok = tiny_pair()
    assert tok.convert_ids_to_tokens(model.config.image_token_id) == prompts.IMAGE_PAD
    assert tok.convert_ids_to_tokens(model.config.vision_start_token_id) == prompts.VISION_START
    assert model.config.text_config.vocab_size >= len(tok)
    assert image_spec(model).height == IMAGE_HW[0]
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, loaded_tok = load_model(str(tmp_path))
    assert image_spec(loaded) == image_spec(model) and len(loaded_tok) == len(tok)
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_forward_hidden_matches_stock_forward_on_a_padded_batch(tmp_path):
    model, tok = tiny_pair()
    model.eval()
    ds = DrivingDataset(fake_samples(tmp_path, 2), tmp_path, tok, image_spec(model), "student")
    items = [ds[0], ds[1]]
    items[1] = {k: (v[:-3] if k in ("input_ids", "labels", "mm_token_type_ids") else v) for k, v in items[1].items()}
    batch = collate(items, tok.pad_token_id)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "mm_token_type_ids")}
    with torch.no_grad():
        ours = model.lm_head(forward_hidden(model, **inputs).hidden)
        stock = model(**inputs).logits
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(ours[real], stock[real], atol=1e-5, rtol=1e-4)
