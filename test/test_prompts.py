import numpy as np
import pytest

from evodrive_ros.core import prompts
from evodrive_ros.core.trajectory_codec import decode_text

HISTORY = np.array([[-8.0, 0.1], [-6.0, 0.05], [-4.0, 0.0], [-2.0, 0.0], [0.0, 0.0]])
DYNAMICS = np.tile([4.0, 0.5, 0.25, -0.1], (5, 1))


def test_student_prompt_has_six_cameras_in_paper_order_and_context():
    user = prompts.student_user_prompt(HISTORY, DYNAMICS, "LEFT")
    assert user.count(prompts.IMAGE_PLACEHOLDER) == 6
    lines = [line for line in user.splitlines() if prompts.IMAGE_PLACEHOLDER in line]
    assert [line.split(":")[0] for line in lines] == list(prompts.CAMERAS)
    # history in prompt convention (x right = -y_left, y forward = x_forward), 2 decimals
    assert "[(-0.10,-8.00), (-0.05,-6.00), (0.00,-4.00), (0.00,-2.00), (0.00,0.00)]" in user
    assert "(4.00,0.50,-0.25,-0.10)" in user  # lateral acceleration printed right-positive
    assert "turn LEFT" in user and prompts.TRAFFIC_RULES in user
    assert user.endswith(prompts.INSTRUCTION)


def test_teacher_prompt_has_four_front_images_and_future_ego():
    future = np.tile([5.0, 0.0, 0.0, 0.0], (6, 1))
    user = prompts.teacher_user_prompt(HISTORY, DYNAMICS, "FORWARD", future)
    assert user.count(prompts.IMAGE_PLACEHOLDER) == 4
    assert "Future ego state" in user and user.count("(5.00,0.00,0.00,0.00)") == 6
    student = prompts.student_user_prompt(HISTORY, DYNAMICS, "FORWARD")
    shared = student.split("Here is what you need")[1].split(prompts.INSTRUCTION)[0]
    assert shared in user  # same history text as the student


def test_answer_round_trips_through_the_codec():
    future = np.array([[1.0, 0.0], [2.0, -0.5], [3.0, -1.0], [4.0, -1.5], [5.0, -2.0], [6.0, -2.5]])
    answer = prompts.answer_text(future)
    assert answer.startswith("[(0.00,1.00), (0.50,2.00)")
    assert answer.endswith(prompts.ANSWER_SUFFIX)
    np.testing.assert_allclose(decode_text(answer), future)


def test_inference_prompt_is_training_prefix_without_extra_assistant_turn():
    user = prompts.student_user_prompt(HISTORY, DYNAMICS, "RIGHT")
    prompt = prompts.inference_prompt(user)
    training = prompt + prompts.answer_turn_tail("ANSWER")
    assert training.startswith(prompt)
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.count("<|im_start|>assistant") == 1
    assert prompt.startswith(f"<|im_start|>system\n{prompts.SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n")
    assert training.endswith("ANSWER<|im_end|>\n")


def test_expand_images_and_placeholder_count_check():
    text = prompts.expand_images("a <image> b <image>", [2, 3])
    assert text == "a <|vision_start|>" + "<|image_pad|>" * 2 + "<|vision_end|> b <|vision_start|>" + "<|image_pad|>" * 3 + "<|vision_end|>"
    with pytest.raises(ValueError, match="2 image placeholders"):
        prompts.expand_images("a <image> b <image>", [2])


def test_unknown_command_is_rejected():
    with pytest.raises(ValueError, match="command"):
        prompts.student_user_prompt(HISTORY, DYNAMICS, "UTURN")


def test_core_prompts_do_not_import_torch():
    import subprocess
    import sys

    code = "import sys, evodrive_ros.core.prompts, evodrive_ros.core.preprocessing; print('torch' in sys.modules or 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
