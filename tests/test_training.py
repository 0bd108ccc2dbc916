"""The training half of the generated module: init_params, random_data, train_step, fit."""

import subprocess
import sys

import numpy as np
import pytest

import symbp as sb
from symbp.examples import EXAMPLES


@pytest.fixture(scope="module")
def modules():
    return {name: sb.compile(sb.derive(EXAMPLES[name]()))
            for name in ("mlp", "mlp_relu", "xor", "autoencoder", "rnn", "shopping", "digits_mlp")}


def test_init_params_is_he_before_relu_glorot_otherwise_zero_biases(modules):
    params = modules["digits_mlp"].init_params(rng=0)
    assert params["W1"].shape == (64, 64) and params["b1"].shape == (1, 64)
    assert np.all(params["b1"] == 0) and np.all(params["b2"] == 0)
    assert params["W1"].std() == pytest.approx(np.sqrt(2 / 64), rel=0.05)  # He, fan-in 64
    limit = np.sqrt(6 / (64 + 10))  # Glorot uniform for the softmax layer
    assert np.abs(params["W2"]).max() <= limit and np.abs(params["W2"]).max() > 0.9 * limit


def test_init_params_uses_the_tied_weight_shape(modules):
    params = modules["autoencoder"].init_params(rng=0)
    assert params["W"].shape == (6, 3) and np.all(params["c"] == 0)


def test_init_params_of_a_scalar_net(modules):
    params = modules["xor"].init_params(rng=0)
    assert params["b1"] == 0 and params["c"] == 0
    assert np.ndim(params["w11"]) == 0 and params["w11"] != 0


def test_init_params_of_a_teaching_model_is_its_example(modules):
    assert {k: float(v) for k, v in modules["shopping"].init_params().items()} == {
        "shirt_price": 400.0, "pants_price": 300.0, "pants_count": 2.0, "discount": 0.7}


def test_init_params_is_reproducible_and_takes_a_dtype(modules):
    a = modules["mlp"].init_params(rng=3)
    b = modules["mlp"].init_params(rng=3, dtype=np.float32)
    assert b["W1"].dtype == np.float32
    np.testing.assert_allclose(a["W1"], b["W1"], rtol=1e-6)


def test_random_data_has_the_models_shapes_and_one_hot_labels(modules):
    data = modules["mlp"].random_data(rng=0, n=10)
    assert data["X"].shape == (10, 4) and data["Y"].shape == (10, 3)
    np.testing.assert_array_equal(data["Y"].sum(axis=1), 1.0)
    assert set(np.unique(data["Y"])) == {0.0, 1.0}


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_train_step_updates_in_place_and_lowers_the_loss(modules, optimizer):
    mod = modules["mlp_relu"]
    params, data = mod.init_params(rng=0), mod.random_data(rng=1, n=32)
    w1 = params["W1"]
    state = {}
    first = mod.train_step(params, state, optimizer=optimizer, lr=0.01, **data)
    for _ in range(20):
        last = mod.train_step(params, state, optimizer=optimizer, lr=0.01, **data)
    assert params["W1"] is w1  # updated in place
    assert last < first
    assert state["step"] == 21


def test_adam_first_step_moves_each_weight_by_about_lr(modules):
    mod = modules["mlp"]
    params, data = mod.init_params(rng=0), mod.random_data(rng=1, n=16)
    before = {k: v.copy() for k, v in params.items()}
    mod.train_step(params, {}, optimizer="adam", lr=0.01, **data)
    moved = np.abs(params["W1"] - before["W1"])
    assert np.all(moved <= 0.01 + 1e-9) and np.median(moved) > 0.009


def test_unknown_optimizer_is_named(modules):
    mod = modules["mlp"]
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        mod.train_step(mod.init_params(rng=0), {}, optimizer="rmsprop", **mod.random_data(rng=0))


def test_fit_returns_one_mean_loss_per_epoch_and_learns_xor(modules):
    mod = modules["xor"]
    params = mod.init_params(rng=0)
    x1, x2 = np.array([0.0, 0, 1, 1]), np.array([0.0, 1, 0, 1])
    data = {"x1": x1, "x2": x2, "y": np.array([0.0, 1, 1, 0])}
    history = mod.fit(params, data, epochs=1500, batch_size=4, lr=0.5, optimizer="momentum",
                      verbose=False)
    assert len(history) == 1500 and history[-1] < 0.01 < history[0]
    np.testing.assert_allclose(mod.predict(params, x1=x1, x2=x2), data["y"], atol=0.15)


def test_fit_prints_one_line_per_epoch_with_validation(modules, capsys):
    mod = modules["mlp"]
    params = mod.init_params(rng=0)
    mod.fit(params, mod.random_data(rng=1, n=40), epochs=3, batch_size=16,
            val_data=mod.random_data(rng=2, n=10))
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3  loss") and "val_loss" in lines[0]


def test_fit_shuffles_along_the_batch_dimension_only(modules):
    mod = modules["rnn"]
    params = mod.init_params(rng=0)
    data = mod.random_data(rng=1, n=50)
    history = mod.fit(params, data, epochs=2, batch_size=8, verbose=False)
    assert len(history) == 2 and all(np.isfinite(history))
    assert mod.BATCHED == ["X1", "X2", "X3", "Y"]


def test_fit_trains_in_float32(modules):
    mod = modules["mlp_relu"]
    params = mod.init_params(rng=0, dtype=np.float32)
    history = mod.fit(params, mod.random_data(rng=1, dtype=np.float32), epochs=3,
                      optimizer="adam", verbose=False)
    assert params["W1"].dtype == np.float32 and history[-1] < history[0]


def test_fit_reports_disagreeing_batch_lengths(modules):
    mod = modules["mlp"]
    data = mod.random_data(rng=1, n=10)
    data["Y"] = data["Y"][:5]
    with pytest.raises(ValueError, match="disagree in length"):
        mod.fit(mod.init_params(rng=0), data, epochs=1, verbose=False)


def test_digits_reach_95_percent_held_out():
    pytest.importorskip("sklearn")
    from symbp.examples.demo import train_digits

    _, accuracy = train_digits(plot=None, verbose=False)
    assert accuracy >= 0.95


def test_generated_module_trains_when_run_as_a_script(tmp_path):
    path = sb.emit(sb.derive(EXAMPLES["softmax_regression"]()), tmp_path / "softreg.py")
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                            check=True)
    assert result.stdout.count("/5  loss") == 5 and "loss" in result.stdout.splitlines()[-1]
