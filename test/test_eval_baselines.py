"""Kinematic baselines (hand-computed) and the seeded ego-status MLP."""

import numpy as np
import pytest

from evodrive_ros.core.kinematic_prediction import predict_kinematic


def _inputs(speed, accel=0.0, omega=0.0):
    t = np.array([-2.0, -1.5, -1.0, -0.5, 0.0])
    if omega:
        hist = np.stack([speed / omega * np.sin(omega * t), speed / omega * (1 - np.cos(omega * t))], axis=1)
    else:
        hist = np.stack([speed * t, np.zeros(5)], axis=1)
    dyn = np.zeros((1, 5, 4))
    dyn[0, :, 0], dyn[0, :, 1] = speed, accel
    return hist[None], np.ones((1, 5), dtype=bool), dyn


def test_constant_velocity():
    pred = predict_kinematic("cv", *_inputs(2.0))
    assert np.allclose(pred[0], [[1, 0], [2, 0], [3, 0], [4, 0], [5, 0], [6, 0]])


def test_constant_acceleration_stops_instead_of_reversing():
    pred = predict_kinematic("ca", *_inputs(2.0, accel=-1.0))
    assert np.allclose(pred[0, :, 0], [0.875, 1.5, 1.875, 2.0, 2.0, 2.0])


def test_constant_turn_rate_follows_the_circle():
    speed, omega = 5.0, 0.2
    pred = predict_kinematic("ctrv", *_inputs(speed, omega=omega))
    t = np.arange(1, 7) * 0.5
    expected = np.stack([speed / omega * np.sin(omega * t), speed / omega * (1 - np.cos(omega * t))], axis=1)
    assert np.allclose(pred[0], expected, atol=1e-9)
    assert pred[0, -1, 1] > 0.8  # turning left


def test_ego_mlp_is_seeded_and_learns():
    torch = pytest.importorskip("torch")
    from evodrive_training.baselines.ego_mlp import EgoMLPConfig, predict_ego_mlp, train_ego_mlp

    rng = np.random.default_rng(0)
    n = 64
    speed = rng.uniform(0, 10, n)
    arrays = {
        "history_xy": np.stack([np.outer(speed, np.arange(-2, 0.5, 0.5)), np.zeros((n, 5))], axis=-1),
        "history_valid": np.ones((n, 5), dtype=bool),
        "history_dynamics": np.repeat(np.stack([speed, 0 * speed, 0 * speed, 0 * speed], axis=1)[:, None], 5, axis=1),
        "command": np.full(n, 2),
        "future_xy": np.stack([np.outer(speed, np.arange(1, 7) * 0.5), np.zeros((n, 6))], axis=-1),
        "future_valid": np.ones((n, 6), dtype=bool),
    }
    config = EgoMLPConfig(hidden=32, epochs=100, batch_size=64, learning_rate=1e-2, seed=3)
    a = predict_ego_mlp(train_ego_mlp(arrays, config), arrays)
    b = predict_ego_mlp(train_ego_mlp(arrays, config), arrays)
    assert np.array_equal(a, b)
    error = np.abs(a - arrays["future_xy"]).mean()
    assert error < 0.2 * np.abs(arrays["future_xy"]).mean(), error
    assert torch.get_num_threads() >= 1


def test_ctra_turns_and_stops_rather_than_reversing():
    speed, omega = 5.0, 0.2
    hist, valid, dyn = _inputs(speed, omega=omega)
    np.testing.assert_allclose(predict_kinematic("ctra", hist, valid, dyn), predict_kinematic("ctrv", hist, valid, dyn), atol=1e-3)
    hist, valid, dyn = _inputs(2.0, accel=-1.0)
    np.testing.assert_allclose(predict_kinematic("ctra", hist, valid, dyn)[0, :, 0], [0.875, 1.5, 1.875, 2.0, 2.0, 2.0], atol=1e-3)


def test_integrating_the_dynamics_recovers_a_circle():
    from evodrive_ros.core.kinematic_prediction import integrate_dynamics

    speed, omega = 6.0, 0.25
    row = [speed, 0.0, speed * omega, 0.0]  # lateral acceleration v·ω, left positive
    path = integrate_dynamics(np.array([row]), np.tile(row, (1, 6, 1)))
    t = np.arange(1, 7) * 0.5
    expected = np.stack([speed / omega * np.sin(omega * t), speed / omega * (1 - np.cos(omega * t))], axis=1)
    np.testing.assert_allclose(path[0], expected, atol=1e-3)
