import torch

from evodrive_training.distill.refinement import coarse_answer_tokens, splice_refinement

PAD = 0


def _batch():
    # sample 0: 4 prompt tokens (2 image tokens with 3-D positions) + answer [7, 8, 9]; sample 1: shorter, padded
    input_ids = torch.tensor([[1, 5, 5, 2, 7, 8, 9], [1, 2, 3, 6, 6, PAD, PAD]])
    labels = torch.tensor([[-100, -100, -100, -100, 7, 8, 9], [-100, -100, -100, 6, 6, -100, -100]])
    mask = torch.tensor([[1] * 7, [1] * 5 + [0, 0]])
    mm = torch.tensor([[0, 1, 1, 0, 0, 0, 0], [0] * 7])
    pos = torch.zeros(3, 2, 7, dtype=torch.long)
    pos[:, 0] = torch.tensor([[0, 1, 1, 3, 4, 5, 6], [0, 1, 1, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6]])
    pos[:, 1, :5] = torch.arange(5)
    return input_ids, labels, mask, mm, pos


def test_splice_sequence_labels_and_positions():
    input_ids, labels, mask, mm, pos = _batch()
    hint = torch.tensor([40, 41])
    coarse = torch.tensor([17, 18, 19, 26, 27])  # 3 for sample 0, 2 for sample 1
    out = splice_refinement(input_ids, labels, mask, mm, pos, hint, coarse, PAD)
    assert out.input_ids.tolist() == [
        [1, 5, 5, 2, 40, 41, 17, 18, 19, 7, 8, 9],
        [1, 2, 3, 40, 41, 26, 27, 6, 6, PAD, PAD, PAD],
    ]
    assert out.labels.tolist() == [
        [-100] * 9 + [7, 8, 9],
        [-100] * 7 + [6, 6, -100, -100, -100],
    ]
    assert out.attention_mask.tolist() == [[1] * 12, [1] * 9 + [0] * 3]
    assert out.mm_token_type_ids.tolist() == [[0, 1, 1, 0] + [0] * 8, [0] * 12]
    # prefix keeps its mRoPE ids; after the splice point consecutive text positions on all axes
    assert out.position_ids[:, 0, :4].tolist() == pos[:, 0, :4].tolist()
    for axis in range(3):
        assert out.position_ids[axis, 0, 4:].tolist() == list(range(4, 12))
        assert out.position_ids[axis, 1, 3:9].tolist() == list(range(3, 9))


def test_splice_rejects_wrong_coarse_count():
    input_ids, labels, mask, mm, pos = _batch()
    try:
        splice_refinement(input_ids, labels, mask, mm, pos, torch.tensor([40]), torch.tensor([1, 2]), PAD)
    except ValueError as exc:
        assert "2 coarse tokens for 5 answer tokens" in str(exc)
    else:
        raise AssertionError("expected a ValueError")


def test_coarse_tokens_are_argmax():
    logits = torch.tensor([[0.1, 2.0, 0.3], [5.0, 0.0, 1.0]])
    assert coarse_answer_tokens(logits).tolist() == [1, 0]
