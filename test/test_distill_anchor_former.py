import torch
from model_fixtures import fake_samples, tiny_pair

from evodrive_training.dataset import DrivingDataset, collate
from evodrive_training.distill.anchor_former import AnchorFormer
from evodrive_training.distill.config import DistillConfig
from evodrive_training.distill.student import DistilledStudent
from evodrive_training.models.presets import image_spec


def test_shapes_range_and_gradient_flow():
    model, _ = tiny_pair()
    former = AnchorFormer.from_student(model, layer_index=0, temperature=2.0)
    torch.manual_seed(0)
    embeds = torch.randn(2, 9, model.config.text_config.hidden_size)
    visual = torch.zeros(2, 9, dtype=torch.bool)
    visual[0, 1:4] = True
    visual[1, 2:4] = True
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 6:] = 0  # right padding
    w = former(embeds, visual, mask)
    assert w.shape == (5,) and ((w > 0) & (w < 1)).all()
    w.sum().backward()
    for name in ("query", "scorer.weight"):
        assert former.get_parameter(name).grad.abs().sum() > 0, name
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in former.layer.parameters())


def test_padding_does_not_change_the_weights():
    model, _ = tiny_pair()
    former = AnchorFormer.from_student(model).eval()
    torch.manual_seed(1)
    embeds = torch.randn(1, 6, model.config.text_config.hidden_size)
    visual = torch.tensor([[False, True, True, False, False, False]])
    alone = former(embeds, visual, torch.ones(1, 6, dtype=torch.long))
    padded = torch.cat([embeds, torch.randn(1, 3, embeds.shape[-1])], dim=1)
    visual_p = torch.cat([visual, torch.zeros(1, 3, dtype=torch.bool)], dim=1)
    mask_p = torch.tensor([[1] * 6 + [0] * 3])
    torch.testing.assert_close(former(padded, visual_p, mask_p), alone, atol=1e-5, rtol=1e-4)


def test_layer_is_a_copy_of_the_chosen_decoder_layer():
    model, _ = tiny_pair()
    layers = model.model.language_model.layers
    for index in (0, -1):
        former = AnchorFormer.from_student(model, layer_index=index)
        src = layers[index].self_attn.q_proj.weight
        assert torch.equal(former.layer.self_attn.q_proj.weight, src)
        assert former.layer.self_attn.q_proj.weight.data_ptr() != src.data_ptr()
    assert not torch.equal(layers[0].self_attn.q_proj.weight, layers[-1].self_attn.q_proj.weight)


def test_anchor_encoder_stays_frozen_while_the_student_encoder_trains(tmp_path):
    model, tok = tiny_pair()
    wrapper = DistilledStudent(model, DistillConfig(use_logit_kd=False, use_hidden_kd=False))
    wrapper.train()
    assert not wrapper.anchor_encoder.training
    assert all(not p.requires_grad for p in wrapper.anchor_encoder.parameters())
    before = {k: v.clone() for k, v in wrapper.anchor_encoder.state_dict().items()}
    student_before = model.model.visual.patch_embed.proj.weight.clone()
    batch = collate([DrivingDataset(fake_samples(tmp_path, 1), tmp_path, tok, image_spec(model), "student")[0]], tok.pad_token_id)
    opt = torch.optim.SGD([p for p in wrapper.parameters() if p.requires_grad], lr=1.0)
    out = wrapper(**batch)
    out["loss"].backward()
    assert wrapper.anchor_former.query.grad is not None
    opt.step()
    assert not torch.equal(model.model.visual.patch_embed.proj.weight, student_before)
    for k, v in wrapper.anchor_encoder.state_dict().items():
        assert torch.equal(v, before[k]), k
