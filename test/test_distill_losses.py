import math

import torch
import torch.nn.functional as F

from evodrive_training.distill.losses import Candidate, anchor_loss, hidden_distance, logit_kl, per_sample_ce, select_lowest_ce
from evodrive_training.models.forward import answer_masks


def test_logit_kl_is_teacher_to_student_batchmean_times_tau_squared():
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 10), torch.randn(4, 10)
    tau = 5.0
    p = F.softmax(teacher / tau, -1)
    q = F.softmax(student / tau, -1)
    expected = (p * (p.log() - q.log())).sum() / 4 * tau**2
    assert torch.allclose(logit_kl(student, teacher, tau), expected, atol=1e-6)
    assert torch.allclose(logit_kl(student, teacher, tau, scale_by_tau_squared=False), expected / 25, atol=1e-6)
    assert logit_kl(teacher, teacher, tau).abs() < 1e-6


def test_hidden_distance_kinds():
    a, b = torch.zeros(2, 3), torch.tensor([[0.5, 2.0, 0.0], [0.0, 0.0, 0.0]])
    assert torch.isclose(hidden_distance(a, b, "smooth_l1"), torch.tensor((0.125 + 1.5) / 6))
    assert torch.isclose(hidden_distance(a, b, "mse"), torch.tensor((0.25 + 4.0) / 6))


def test_answer_masks_hidden_unshifted_logits_shifted():
    labels = torch.tensor([[-100, -100, 5, 6, -100], [-100, 7, 8, 9, -100]])
    target, predict = answer_masks(labels)
    assert target.tolist() == [[0, 0, 1, 1, 0], [0, 1, 1, 1, 0]]
    assert predict.tolist() == [[0, 1, 1, 0, 0], [1, 1, 1, 0, 0]]


def test_anchor_weighted_mean_normalised_by_weight_sum():
    student = torch.zeros(3, 2)
    anchor = torch.tensor([[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]])  # per-token mean sq: 1, 4, 0
    w = torch.tensor([1.0, 0.5, 0.5])
    assert torch.isclose(anchor_loss(student, anchor, w, "weights"), torch.tensor((1.0 + 2.0) / 2.0))
    # paper form: channel sum, divided by the token count
    assert torch.isclose(anchor_loss(student, anchor, w, "tokens"), torch.tensor((2.0 + 4.0) / 3))
    # uniform weights = plain mean
    assert torch.isclose(anchor_loss(student, anchor, torch.ones(3), "weights"), torch.tensor(5.0 / 3))


def test_per_sample_ce_and_lowest_ce_selection_per_sample():
    targets = torch.tensor([0, 1, 2])
    sample = torch.tensor([0, 0, 1])  # rows 0-1 belong to sample 0, row 2 to sample 1
    good = torch.full((3, 3), -5.0)
    good[torch.arange(3), targets] = 5.0
    bad = -good
    hidden = [torch.full((3, 2), float(k)) for k in range(3)]
    mixed = torch.cat([bad[:2], good[2:]])  # bad for sample 0, good for sample 1
    ce = per_sample_ce(good, targets, sample, 2)
    expected = F.cross_entropy(good, targets, reduction="none")
    assert torch.allclose(ce, torch.stack([expected[:2].mean(), expected[2]]))
    cands = [Candidate(mixed, hidden[0]), Candidate(good, hidden[1]), Candidate(good.clone(), hidden[2])]
    best, chosen = select_lowest_ce(iter(cands), targets, sample, 2)
    assert chosen.tolist() == [1, 0]  # tie on sample 1 keeps the earlier candidate
    assert torch.equal(best.logits, good)
    assert best.hidden[:, 0].tolist() == [1.0, 1.0, 0.0]


def test_selection_over_22_random_candidates_is_the_global_argmin():
    torch.manual_seed(1)
    targets, sample = torch.randint(0, 7, (10,)), torch.tensor([0] * 4 + [1] * 6)
    cands = [Candidate(torch.randn(10, 7), torch.randn(10, 3)) for _ in range(22)]
    _, chosen = select_lowest_ce(cands, targets, sample, 2)
    scores = torch.stack([per_sample_ce(c.logits, targets, sample, 2) for c in cands])
    assert chosen.tolist() == scores.argmin(0).tolist()
    assert not math.isinf(float(scores.min()))


def test_number_labels_cost_grows_with_the_distance_of_the_predicted_value():
    import numpy as np

    from evodrive_training.models.forward import NumberLabels

    ids, values = np.array([3, 4, 5, 6]), np.array([0.0, 0.1, 0.2, 1.0])
    labels = NumberLabels(ids, values, vocab_size=8, sigma=0.15)

    def cost(predicted_id: int, target_id: int) -> float:
        logits = torch.full((1, 8), -10.0)
        logits[0, predicted_id] = 10.0
        return float(labels.loss(logits, torch.tensor([target_id])))

    assert cost(4, 3) < cost(5, 3) < cost(6, 3)  # 0.1 off < 0.2 off < 1.0 off
    # a non-number target keeps the one-hot cross entropy
    logits = torch.randn(2, 8)
    plain = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 7]))
    assert torch.isclose(labels.loss(logits, torch.tensor([1, 7])), plain)
    assert torch.isclose(NumberLabels(ids, values, 8, sigma=0.0).loss(logits, torch.tensor([3, 5])),
                         torch.nn.functional.cross_entropy(logits, torch.tensor([3, 5])))
