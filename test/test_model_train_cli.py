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
