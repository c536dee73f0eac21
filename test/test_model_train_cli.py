"""`evodrive train` / `evodrive predict` on a tiny fake split: checkpoints, resume, predictions file."""

import json

import torch
from model_fixtures import write_fake_split
from safetensors.torch import load_file

from evodrive_ros.cli import main
from evodrive_ros.core.trajectory_codec import decode_text
from evodrive_training.models.presets import load_pretrained


def test_train_teacher_then_student_resume_and_predict(tmp_path, capsys):
    split = write_fake_split(tmp_path, 2)
    common = ["--samples", str(split), "--image-size", "56", "84", "--batch-size", "2", "--logging-steps", "1", "--save-steps", "1"]
    assert main(["train", "teacher", *common, "--output-dir", str(tmp_path / "teacher"), "--max-steps", "1"]) == 0
    student_dir = tmp_path / "student"
    student_args = ["train", "student", *common, "--output-dir", str(student_dir), "--teacher", str(tmp_path / "teacher")]
    # cached teacher targets that would not fit in memory: refused before any work, with the way out
    assert main([*student_args, "--max-steps", "1", "--max-target-gib", "1e-6"]) == 2
    assert "use --per-step-teacher" in capsys.readouterr().out and not student_dir.exists()
    assert main([*student_args, "--max-steps", "1"]) == 0
    checkpoint = student_dir / "checkpoint-1"
    extra = load_file(checkpoint / "distill_state.safetensors")
    assert any(k.startswith("anchor_former.") for k in extra) and not any("teacher" in k for k in extra)
    assert json.loads((student_dir / "distill_config.json").read_text())["use_mc_dropout"] is True
    assert (student_dir / "runs").is_dir()  # TensorBoard logs

    assert main([*student_args, "--max-steps", "2", "--resume"]) == 0
    state = json.loads((student_dir / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and [h["step"] for h in state["log_history"] if "loss" in h] == [1, 2]

    out = tmp_path / "pred.json"
    assert main(["predict", "--model", str(student_dir), "--samples", str(split), "--output", str(out)]) == 0
    predictions = json.loads(out.read_text())
    assert [p["id"] for p in predictions] == ["tok0", "tok1"]
    for p in predictions:  # a 3-step model still writes valid plans: decoding is grammar-constrained
        assert decode_text(p["predict"]).shape == (6, 2) and p["predict"].startswith("[(") and p["predict"].endswith(")]")
    forced = tmp_path / "forced.json"  # the exposure-bias diagnostic: choices along the true answer
    assert main(["predict", "--model", str(student_dir), "--samples", str(split), "--output", str(forced), "--teacher-forced"]) == 0
    assert [decode_text(p["predict"]).shape for p in json.loads(forced.read_text())] == [(6, 2), (6, 2)]
    final, _ = load_pretrained(student_dir)
    resumed, _ = load_pretrained(student_dir / "checkpoint-2")
    assert all(torch.equal(a, b) for a, b in zip(final.state_dict().values(), resumed.state_dict().values()))


def test_scaled_codec_and_answer_number_dropout_train_and_predict(tmp_path, capsys):
    """The options under evaluation in issue 11 run end to end: a fresh tiny model with the
    ``ctra-residual-t2`` codec, trained with answer-number dropout, predicts decodable plans."""
    split = write_fake_split(tmp_path, 2)
    out = tmp_path / "sft"
    common = ["--samples", str(split), "--image-size", "56", "84", "--batch-size", "2", "--max-steps", "2", "--save-steps", "2"]
    assert main(["train", "sft", *common, "--output-dir", str(out), "--codec", "ctra-residual-t2", "--set", "answer_number_dropout=0.5"]) == 0
    model, _ = load_pretrained(out)
    assert model.config.evodrive_codec == "ctra-residual-t2"
    assert json.loads((out / "distill_config.json").read_text())["answer_number_dropout"] == 0.5
    pred = tmp_path / "pred.json"
    assert main(["predict", "--model", str(out), "--samples", str(split), "--output", str(pred)]) == 0
    assert all(decode_text(p["predict"]).shape == (6, 2) for p in json.loads(pred.read_text()))
    assert main(["train", "sft", *common, "--output-dir", str(tmp_path / "again"), "--init", str(out), "--codec", "ctra-residual"]) == 2
    assert "keeps the codec it was trained with" in capsys.readouterr().out


def test_answer_number_dropout_touches_only_answer_numbers():
    import numpy as np

    from evodrive_training.models.forward import AnswerNumberDropout

    number_ids = np.array([10, 11, 12])
    input_ids = torch.tensor([[10, 11, 5, 10, 6, 12, 11, 7]] * 200)
    labels = torch.tensor([[-100, -100, -100, 10, 6, 12, 11, 7]] * 200)  # prompt numbers 10, 11 come first
    dropped = AnswerNumberDropout(number_ids, 99, 0.5)(input_ids, labels)
    changed = (dropped != input_ids).float().mean(0)
    assert torch.equal(changed[[0, 1, 2, 4, 7]], torch.zeros(5))  # prompt and non-number answer tokens never
    assert torch.all((changed[[3, 5, 6]] > 0.35) & (changed[[3, 5, 6]] < 0.65)) and set(dropped[dropped != input_ids].tolist()) == {99}


def test_text_only_warm_up_trains_the_language_model_and_leaves_vision_alone(tmp_path, capsys):
    split = write_fake_split(tmp_path, 2)
    common = ["--samples", str(split), "--image-size", "56", "84", "--batch-size", "2", "--max-steps", "2", "--save-steps", "2"]
    assert main(["train", "sft", *common, "--output-dir", str(tmp_path / "init")]) == 0
    assert main(["train", "sft", *common, "--init", str(tmp_path / "init"), "--output-dir", str(tmp_path / "warm"), "--text-only"]) == 0
    before, _ = load_pretrained(tmp_path / "init")
    after, _ = load_pretrained(tmp_path / "warm")
    b, a = before.state_dict(), after.state_dict()
    vision = [k for k in b if "visual" in k]
    assert vision and all(torch.equal(b[k], a[k]) for k in vision)
    assert not torch.equal(b["lm_head.weight"], a["lm_head.weight"])
    assert main(["train", "teacher", *common, "--output-dir", str(tmp_path / "t"), "--text-only"]) == 2
    for mode in ([], ["--teacher-forced"]):  # the warmed-up model answers the camera-less prompt
        pred = tmp_path / "pred.json"
        assert main(["predict", "--model", str(tmp_path / "warm"), "--samples", str(split), "--output", str(pred), "--text-only", *mode]) == 0
        assert all(decode_text(p["predict"]).shape == (6, 2) for p in json.loads(pred.read_text()))


def test_a_fraction_of_an_epoch_is_one_pass_over_a_seeded_share(tmp_path, capsys):
    from evodrive_training.train_cli import share_of

    dataset = list(range(10))
    assert share_of(dataset, 1.0, 0) is dataset and share_of(dataset, 2.5, 0) is dataset
    share = share_of(dataset, 0.4, 3)
    assert len(share) == 4 and list(share) == list(share_of(dataset, 0.4, 3))  # the same samples for every method of a seed
    assert list(share) != list(share_of(dataset, 0.4, 4)) and len(set(share)) == 4
    split = write_fake_split(tmp_path, 4)
    out = tmp_path / "sft"
    assert main(["train", "sft", "--samples", str(split), "--image-size", "56", "84", "--batch-size", "1", "--epochs", "0.5",
                 "--output-dir", str(out), "--save-steps", "1000"]) == 0
    assert json.loads((out / "training.json").read_text())["global_step"] == 2  # 2 of the 4 samples, once each
    assert "2 samples (a 0.5 share of one pass)" in capsys.readouterr().out
