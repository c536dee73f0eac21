"""Tiny end-to-end forward/backward of the teacher, the distilled student and the SFT baseline."""

import pytest
import torch
from model_fixtures import fake_samples, hint_ids, tiny_pair

from evodrive_training.dataset import DrivingDataset, collate
from evodrive_training.distill.config import DistillConfig
from evodrive_training.distill.student import DistilledStudent
from evodrive_training.distill.teacher import OracleTeacher, teacher_candidates
from evodrive_training.models.presets import build_tiny, image_spec
from evodrive_training.models.presets import TinySize


@pytest.fixture(scope="module")
def kd_batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("samples")
    model, tok = tiny_pair()
    ds = DrivingDataset(fake_samples(root, 2), root, tok, image_spec(model), "distill")
    return collate([ds[0], ds[1]], tok.pad_token_id), tok


def _teacher_view(batch):
    return {k[len("teacher_"):]: v for k, v in batch.items() if k.startswith("teacher_")}


@pytest.mark.parametrize("refine_probability", [0.0, 1.0])
def test_oracle_teacher_trains_on_coarse_and_refined_inputs(kd_batch, refine_probability):
    batch, tok = kd_batch
    teacher, _ = tiny_pair(seed=1)
    wrapper = OracleTeacher(teacher, hint_ids(tok), tok.pad_token_id, refine_probability)
    out = wrapper(**_teacher_view(batch))
    assert out["refined"].item() == refine_probability
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and teacher.lm_head.weight.grad.abs().sum() > 0


def test_teacher_yields_22_candidates_with_matching_rows(kd_batch):
    batch, tok = kd_batch
    teacher, _ = tiny_pair(seed=1)
    tb = _teacher_view(batch)
    n_answer = int((tb["labels"] != -100).sum())
    cands = list(teacher_candidates(teacher.eval(), tb, hint_ids(tok), tok.pad_token_id, DistillConfig()))
    assert len(cands) == 22
    assert all(c.logits.shape == (n_answer, teacher.config.text_config.vocab_size) for c in cands)
    assert all(c.hidden.shape == (n_answer, teacher.config.text_config.hidden_size) for c in cands)
    assert not torch.equal(cands[0].logits, cands[1].logits)  # the refined pass differs from the coarse one
    no_extras = DistillConfig(use_refinement=False, use_mc_dropout=False)
    assert len(list(teacher_candidates(teacher, tb, hint_ids(tok), tok.pad_token_id, no_extras))) == 1


def test_mc_dropout_candidates_are_scored_with_the_given_head(kd_batch):
    """As released: the dropped-out teacher hidden states go through the *student's* head; coarse and
    fine keep the teacher's. The hidden states (the hidden-KD target) are the same either way."""
    batch, tok = kd_batch
    teacher, _ = tiny_pair(seed=1)
    student, _ = tiny_pair(seed=2)
    tb = _teacher_view(batch)
    config = DistillConfig(mc_dropout_samples=2)
    torch.manual_seed(0)
    own = list(teacher_candidates(teacher.eval(), tb, hint_ids(tok), tok.pad_token_id, config))
    seen = []

    def student_head(rows):
        seen.append(rows)
        return student.lm_head(rows)

    torch.manual_seed(0)
    scored = list(teacher_candidates(teacher, tb, hint_ids(tok), tok.pad_token_id, config, student_head))
    assert [torch.equal(a.hidden, b.hidden) for a, b in zip(own, scored)] == [True] * 6
    assert [torch.equal(a.logits, b.logits) for a, b in zip(own, scored)] == [True, True, False, False, False, False]
    assert len(seen) == 4 and all(torch.equal(c.logits, student.lm_head(rows).float()) for c, rows in zip(scored[2:], seen))


def test_distilled_student_all_terms_backward_teacher_untouched(kd_batch):
    batch, tok = kd_batch
    student, _ = tiny_pair(seed=0)
    teacher, _ = tiny_pair(seed=1)
    wrapper = DistilledStudent(student, DistillConfig(), teacher, hint_ids(tok), tok.pad_token_id).train()
    out = wrapper(**batch)
    assert set(out) == {"loss", "ce", "logit", "hidden", "anchor"}
    expected = out["ce"] + 0.1 * out["logit"] + 0.2 * out["hidden"] + 0.05 * out["anchor"]
    assert torch.isclose(out["loss"].detach(), expected)
    out["loss"].backward()
    assert student.model.visual.patch_embed.proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    assert not any(name.startswith("_teacher") or ".teacher" in name for name in wrapper.state_dict())


def test_student_and_teacher_of_different_widths_use_a_projection(kd_batch):
    batch, tok = kd_batch
    student, _ = tiny_pair()
    teacher, _ = build_tiny((56, 84), TinySize(hidden_size=64, intermediate_size=128), seed=2)
    with pytest.raises(ValueError, match="mc_dropout_head=teacher"):  # the student's head cannot read a 64-wide teacher
        DistilledStudent(student, DistillConfig(use_anchor=False), teacher, hint_ids(tok), tok.pad_token_id)
    config = DistillConfig(use_anchor=False, mc_dropout_head="teacher")
    wrapper = DistilledStudent(student, config, teacher, hint_ids(tok), tok.pad_token_id)
    out = wrapper(**batch)
    out["loss"].backward()
    assert wrapper.hidden_projection.weight.shape == (64, 128) and wrapper.hidden_projection.weight.grad is not None


def test_sft_baseline_is_cross_entropy_only(kd_batch):
    batch, _ = kd_batch
    student, _ = tiny_pair()
    wrapper = DistilledStudent(student, DistillConfig.sft())
    student_batch = {k: v for k, v in batch.items() if not k.startswith("teacher_")}
    out = wrapper(**student_batch)
    assert set(out) == {"loss", "ce"} and torch.equal(out["loss"].detach(), out["ce"])
    out["loss"].backward()
    assert student.lm_head.weight.grad.abs().sum() > 0
    assert not hasattr(wrapper, "anchor_encoder")


def test_precomputed_teacher_targets_give_the_per_step_losses(tmp_path):
    """Targets computed once per sample must be exactly what the teacher gives at a step (no dropout)."""
    from evodrive_training.distill.teacher_targets import WithTeacherTargets, precompute_teacher_targets

    model, tok = tiny_pair()
    samples = fake_samples(tmp_path, 3)
    spec = image_spec(model)
    config = DistillConfig(use_mc_dropout=False, use_anchor=False)
    teacher, _ = tiny_pair(seed=1)
    targets = precompute_teacher_targets(teacher, DrivingDataset(samples, tmp_path, tok, spec, "distill"), hint_ids(tok), tok.pad_token_id, config)["refine"]
    n_answer = [int((DrivingDataset(samples, tmp_path, tok, spec, "student")[i]["labels"] != -100).sum()) for i in range(3)]
    assert [t[0].shape[0] for t in targets] == n_answer and targets[0][0].dtype == torch.float16

    student, _ = tiny_pair(seed=2)
    per_step = DistilledStudent(student, config, teacher, hint_ids(tok), tok.pad_token_id).eval()
    cached = DistilledStudent(student, config, None, None, tok.pad_token_id, teacher_hidden_size=teacher.config.text_config.hidden_size).eval()
    distill = DrivingDataset(samples, tmp_path, tok, spec, "distill")
    with_targets = WithTeacherTargets(DrivingDataset(samples, tmp_path, tok, spec, "student"), targets)
    a = per_step(**collate([distill[1], distill[2]], tok.pad_token_id))
    b = cached(**collate([with_targets[1], with_targets[2]], tok.pad_token_id))
    for name in ("ce", "logit", "hidden"):
        assert torch.isclose(a[name], b[name], rtol=2e-3, atol=1e-4), name  # float16 storage
    with pytest.raises(ValueError, match="no precomputed teacher targets"):
        cached(**collate([with_targets.dataset[0]], tok.pad_token_id))


def test_one_teacher_pass_gives_every_rungs_targets_bit_for_bit(tmp_path):
    """The ladder's rungs read one file of targets: each set must equal what that rung computes alone,
    and the file must refuse another run's identity instead of handing its targets over."""
    from evodrive_training.distill.teacher_targets import CANDIDATE_SETS, cached_teacher_targets, precompute_teacher_targets

    model, tok = tiny_pair()
    teacher, _ = tiny_pair(seed=1)
    samples = fake_samples(tmp_path, 3)
    distill = DrivingDataset(samples, tmp_path, tok, image_spec(model), "distill")
    config = DistillConfig(mc_dropout_samples=3, mc_dropout_p=0.1, mc_dropout_head="teacher")  # where a dropout draw wins for a sample
    run = lambda sets, cfg=config: precompute_teacher_targets(teacher, distill, hint_ids(tok), tok.pad_token_id, cfg, seed=4, sets=sets)  # noqa: E731
    together = run(CANDIDATE_SETS)
    alone = {"coarse": run(None, config.updated(use_refinement=False, use_mc_dropout=False))["coarse"],
             "refine": run(None, config.updated(use_mc_dropout=False))["refine"],
             "mc": run(None, config.updated(use_refinement=False))["mc"],
             "refine+mc": run(None)["refine+mc"]}
    for name in CANDIDATE_SETS:
        for (logits_a, hidden_a), (logits_b, hidden_b) in zip(together[name], alone[name], strict=True):
            assert torch.equal(logits_a, logits_b) and torch.equal(hidden_a, hidden_b), name
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(together["coarse"], together["refine+mc"])), "a dropout candidate should win somewhere"

    path, identity = tmp_path / "targets.safetensors", {"teacher": "t", "samples": "s"}
    written = cached_teacher_targets(path, "refine", identity, lambda: together)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(written, together["refine"], strict=True))

    def never():
        raise AssertionError("the file exists: nothing to compute")

    read = cached_teacher_targets(path, "refine+mc", identity, never)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(read, together["refine+mc"], strict=True))
    with pytest.raises(ValueError, match="differs in teacher"):
        cached_teacher_targets(path, "refine", {**identity, "teacher": "another"}, never)
