"""The text trajectory codec: paper convention, 2 decimals, strict decoding."""

from __future__ import annotations

import numpy as np
import pytest

from evodrive_ros.core.conventions import command_from_future
from evodrive_ros.core.trajectory_codec import TrajectoryParseError, decode_text, encode_text


def test_encode_uses_x_right_y_forward_with_two_decimals() -> None:
    ego = np.array([[1.0, 0.5], [2.0, -0.25], [3.004, 0.0], [4, 0], [5, 0], [6, -1.234]])
    text = encode_text(ego)
    assert text == "[(-0.50,1.00), (0.25,2.00), (0.00,3.00), (0.00,4.00), (0.00,5.00), (1.23,6.00)]"
    np.testing.assert_allclose(decode_text(text), np.round(ego, 2), atol=1e-9)


def test_decode_ignores_trailing_text_and_rejects_short_or_non_finite() -> None:
    good = "[(0.00,1.00), (0.00,2.00), (0.00,3.00), (0.00,4.00), (0.00,5.00), (0.00,6.00)] These are..."
    assert decode_text(good).shape == (6, 2)
    with pytest.raises(TrajectoryParseError, match="expected 6"):
        decode_text("[(0.00,1.00), (0.00,2.00)]")
    with pytest.raises(TrajectoryParseError, match="expected 6"):
        decode_text("[(nan,1.00), (0.00,2.00), (0.00,3.00), (0.00,4.00), (0.00,5.00), (0.00,6.00)]")


@pytest.mark.parametrize("lateral, command", [(-2.0, "RIGHT"), (-1.9, "FORWARD"), (1.9, "FORWARD"), (2.5, "LEFT")])
def test_command_rule_uses_lateral_offset_at_3s(lateral: float, command: str) -> None:
    future = np.zeros((6, 2))
    future[:, 0] = np.arange(1, 7)
    future[-1, 1] = lateral
    assert command_from_future(future) == command


def test_residual_codec_writes_the_correction_to_its_prior_and_reads_it_back():
    from evodrive_ros.core.trajectory_codec import RESIDUAL_CODEC, get_codec

    future = np.array([[2.0 * i, 0.3 * i] for i in range(1, 7)])
    prior = np.array([[2.1 * i, 0.0] for i in range(1, 7)])
    text = RESIDUAL_CODEC.encode(future, prior)
    # x right = -(y left), y forward: the correction of the 3 s waypoint is (-1.8, -0.6)
    assert text.endswith("(-1.8,-0.6)]") and "-0.0" not in text
    np.testing.assert_allclose(RESIDUAL_CODEC.decode(text, prior), np.round(future - prior, 1) + prior, atol=1e-9)
    with pytest.raises(ValueError, match="prior"):
        RESIDUAL_CODEC.encode(future)
    assert get_codec("text").prior is None and get_codec("ctra-residual") is RESIDUAL_CODEC
    with pytest.raises(ValueError, match="unknown trajectory codec"):
        get_codec("bins")


def test_residual_codec_prior_is_the_ctra_plan_of_the_history():
    from evodrive_ros.core.kinematic_prediction import predict_kinematic
    from evodrive_ros.core.trajectory_codec import RESIDUAL_CODEC

    history = np.stack([np.arange(-4, 1) * 2.5, np.zeros(5)], axis=1)
    dynamics = np.tile([5.0, -1.0, 0.0, 0.0], (5, 1))
    prior = RESIDUAL_CODEC.prior_plan(history, None, dynamics, "FORWARD")
    np.testing.assert_allclose(prior, predict_kinematic("ctra", history[None], np.ones((1, 5), bool), dynamics[None])[0])
    assert prior[-1, 0] == pytest.approx(5.0 * 3.0 - 0.5 * 9.0, abs=1e-6)  # braking at 1 m/s^2, straight ahead


def test_scaled_residual_codec_puts_every_waypoint_on_the_3_s_scale():
    """(3 s / t)²: a correction growing like t² is one repeated number; decoding divides it back out
    (so the 0.5 s waypoint is written to 0.1/36 m); clipped at ±99.9 (one token of the tiny tokenizer)."""
    from evodrive_ros.core.trajectory_codec import SCALED_RESIDUAL_CODEC, get_codec

    t = np.arange(1, 7) * 0.5
    prior = np.stack([5.0 * t, np.zeros(6)], axis=1)
    future = prior + np.stack([-0.4 * t**2, 0.2 * t**2], axis=1)  # braking and drifting left, ∝ t²
    text = SCALED_RESIDUAL_CODEC.encode(future, prior)
    assert text == "[" + ", ".join(["(-1.8,-3.6)"] * 6) + "]"  # prompt frame: x right = -(0.2·9), y forward = -0.4·9
    np.testing.assert_allclose(SCALED_RESIDUAL_CODEC.decode(text, prior), future, atol=1e-9)
    far = prior.copy()
    far[0, 0] += 5.0  # 5 m at 0.5 s -> 180: clipped
    assert SCALED_RESIDUAL_CODEC.encode(far, prior).startswith("[(0.0,99.9)")
    assert get_codec("ctra-residual-t2") is SCALED_RESIDUAL_CODEC
