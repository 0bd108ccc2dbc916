"""The generated module at run time: fresh gradients, atomic train_step, arguments checked first."""

import copy
import re
import warnings

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.examples import EXAMPLES

n, d = sp.Symbol("n", integer=True, positive=True), sp.Symbol("d", integer=True, positive=True)


def compiled(loss, params, name):
    return sb.compile(sb.derive(sb.Model(loss, params=params, name=name)))


@pytest.fixture(scope="module")
def trace_product():
    """L = tr(Aᵀ B): dL/dA = B and dL/dB = A, the gradients that are the other parameter."""
    A, B = sp.MatrixSymbol("A", 3, 2), sp.MatrixSymbol("B", 3, 2)
    return compiled(sp.Trace(A.T * B), [A, B], "trace_product")


@pytest.fixture(scope="module")
def column_sums():
    """L = 𝟙ᵀ X W 𝟙: dL/dW = (column sums of X)ᵀ 𝟙ᵀ, printed as a broadcast."""
    X, W = sp.MatrixSymbol("X", n, 4), sp.MatrixSymbol("W", 4, 3)
    return compiled(sp.Trace(sp.OneMatrix(1, n) * X * W * sp.OneMatrix(3, 1)), [W], "column_sums")


@pytest.fixture(scope="module")
def ridge():
    """Least squares with a width d and a data scalar lam: (1/n)‖X W − Y‖² + lam ‖W‖²."""
    X, W, Y = sp.MatrixSymbol("X", n, d), sp.MatrixSymbol("W", d, 2), sp.MatrixSymbol("Y", n, 2)
    E = X * W - Y
    return compiled(sp.Trace(E.T * E) / n + sp.Symbol("lam") * sp.Trace(W.T * W), [W], "ridge")


@pytest.fixture(scope="module")
def modules():
    return {name: sb.compile(sb.derive(EXAMPLES[name]())) for name in ("mlp", "xor", "shopping")}


def ab(rng):
    return {"A": rng.normal(size=(3, 2)), "B": rng.normal(size=(3, 2))}


def snapshot(*dicts):
    return copy.deepcopy(dicts)


def assert_unchanged(before, *dicts):
    for old, new in zip(before, dicts, strict=True):
        assert list(old) == list(new)
        for key in old:
            np.testing.assert_array_equal(new[key], old[key], strict=True)


# -- gradients are fresh, writable arrays --------------------------------------
def test_gradient_that_equals_another_parameter_is_a_copy_of_it(trace_product, rng):
    params = ab(rng)
    B = params["B"].copy()
    _, grads = trace_product.loss_and_grad(params)
    assert grads["A"] is not params["B"] and grads["B"] is not params["A"]
    assert not np.shares_memory(grads["A"], params["B"]) and grads["A"].flags.writeable
    np.testing.assert_array_equal(grads["A"], B)
    grads["A"] += 1.0
    np.testing.assert_array_equal(params["B"], B)  # changing the gradient leaves B alone


def test_sgd_step_uses_the_old_value_of_every_parameter(trace_product, rng):
    params = ab(rng)
    A, B = params["A"].copy(), params["B"].copy()
    trace_product.train_step(params, {}, lr=0.1)
    np.testing.assert_allclose(params["A"], A - 0.1 * B, rtol=0, atol=1e-15)
    np.testing.assert_allclose(params["B"], B - 0.1 * A, rtol=0, atol=1e-15)


def test_momentum_steps_match_the_hand_computed_velocities(trace_product, rng):
    params = ab(rng)
    A0, B0 = params["A"].copy(), params["B"].copy()
    state = {}
    trace_product.train_step(params, state, lr=0.1, optimizer="momentum", momentum=0.5)
    trace_product.train_step(params, state, lr=0.1, optimizer="momentum", momentum=0.5)
    A1, B1 = A0 - 0.1 * B0, B0 - 0.1 * A0  # the first velocity is the gradient
    vA, vB = 0.5 * B0 + B1, 0.5 * A0 + A1
    np.testing.assert_allclose(params["A"], A1 - 0.1 * vA, atol=1e-15)
    np.testing.assert_allclose(params["B"], B1 - 0.1 * vB, atol=1e-15)
    assert state["step"] == 2
    np.testing.assert_allclose(state["velocity/A"], vA, atol=1e-15)


def test_broadcast_gradient_comes_back_writable(column_sums, rng):
    X = rng.normal(size=(5, 4))
    _, grads = column_sums.loss_and_grad({"W": rng.normal(size=(4, 3))}, X=X)
    assert grads["W"].flags.writeable and grads["W"].shape == (4, 3)
    np.testing.assert_allclose(grads["W"], np.repeat(X.sum(axis=0)[:, None], 3, axis=1))
    grads["W"][0, 0] = 0.0  # no "assignment destination is read-only"


def test_scalar_gradients_are_distinct_writable_arrays(modules):
    params = modules["shopping"].init_params()
    _, grads = modules["shopping"].loss_and_grad(params)
    assert grads["shirt_price"] is not params["discount"]  # dL/dshirt = discount
    assert all(isinstance(g, np.ndarray) and g.flags.writeable for g in grads.values())
    assert len({id(g) for g in grads.values()}) == len(grads)
    _, grads = modules["xor"].loss_and_grad(modules["xor"].init_params(rng=0),
                                            x1=np.ones(3), x2=np.zeros(3), y=np.ones(3))
    assert all(isinstance(g, np.ndarray) and g.flags.writeable for g in grads.values())


def test_fresh_gradients_of_an_mlp_are_returned_without_a_copy():
    source = sb.generate(sb.derive(EXAMPLES["mlp"]()))
    grads = source[source.index("    grads = {"):source.index("    return L, grads")]
    assert '"W1": W1_bar,' in grads and "np.array" not in grads


# -- train_step: checked first, then applied all at once -------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("spoil, culprit", [
    (lambda p: p["b2"].setflags(write=False), "params entry 'b2' is read-only"),
    (lambda p: p.update(b2=np.zeros((1, 3), dtype=int)), "params entry 'b2' has dtype int64"),
])
def test_train_step_refusing_a_parameter_changes_nothing(modules, optimizer, spoil, culprit):
    mod = modules["mlp"]
    params, data = mod.init_params(rng=0), mod.random_data(rng=1, n=8)
    state = {}
    mod.train_step(params, state, optimizer=optimizer, **data)  # a state worth protecting
    spoil(params)
    before = snapshot(params, state)
    with pytest.raises(ValueError, match=culprit):
        mod.train_step(params, state, optimizer=optimizer, **data)
    assert_unchanged(before, params, state)


@pytest.mark.parametrize("settings, culprit", [
    ({"lr": float("nan")}, "lr must be a finite number above 0, not nan"),
    ({"lr": -0.1}, "lr must be"),
    ({"lr": "0.1"}, "lr must be"),
    ({"lr": np.inf}, "lr must be"),
    ({"optimizer": "momentum", "momentum": 1.5}, "momentum must be"),
    ({"optimizer": "adam", "beta2": 1.0}, "beta2 must be"),
    ({"optimizer": "adam", "eps": 0.0}, "eps must be"),
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
])
def test_train_step_refuses_bad_settings_before_any_change(modules, settings, culprit):
    mod = modules["mlp"]
    params, data = mod.init_params(rng=0), mod.random_data(rng=1, n=8)
    state = {}
    mod.train_step(params, state, optimizer="adam", **data)  # a state worth protecting
    before = snapshot(params, state)
    with pytest.raises(ValueError, match=culprit):
        mod.train_step(params, state, **settings, **data)
    assert_unchanged(before, params, state)


@pytest.mark.parametrize("state", [None, [], "adam"])
def test_train_step_needs_a_dict_state(modules, state):
    mod = modules["mlp"]
    params = mod.init_params(rng=0)
    before = snapshot(params)
    with pytest.raises(ValueError, match="state must be the dict"):
        mod.train_step(params, state, **mod.random_data(rng=1, n=4))
    assert_unchanged(before, params)


# -- fit: every argument checked before the first step ---------------------------
@pytest.mark.parametrize("arguments, culprit", [
    ({"batch_size": 2.5}, "batch_size must be a positive integer, not 2.5"),
    ({"batch_size": None}, "batch_size must be a positive integer, not None"),
    ({"batch_size": 0}, "batch_size must be"),
    ({"batch_size": True}, "batch_size must be"),
    ({"epochs": 2.5}, "epochs must be a positive integer, not 2.5"),
    ({"epochs": -1}, "epochs must be"),
    ({"lr": float("nan")}, "lr must be a finite number"),
    ({"momentum": 2.0, "optimizer": "momentum"}, "momentum must be"),
    ({"beta": 0.9}, "fit got unknown options beta"),
    ({"val_data": "the test set"}, "fit takes val_data as a dict name -> array"),
])
def test_fit_refuses_bad_arguments_before_training(modules, arguments, culprit):
    mod = modules["mlp"]
    params = mod.init_params(rng=0)
    before = snapshot(params)
    with pytest.raises(ValueError, match=culprit):
        mod.fit(params, mod.random_data(rng=1, n=10), verbose=False, **arguments)
    assert_unchanged(before, params)


@pytest.mark.parametrize("verbose", [True, False])
def test_fit_checks_val_data_before_the_first_epoch(modules, verbose):
    mod = modules["mlp"]
    params, data = mod.init_params(rng=0), mod.random_data(rng=1, n=10)
    before = snapshot(params)
    with pytest.raises(ValueError, match="fit takes val_data as a dict name -> array, .* not a list"):
        mod.fit(params, data, val_data=[data["X"], data["Y"]], verbose=verbose)
    bad = {"X": data["X"][:, :3], "Y": data["Y"]}
    with pytest.raises(ValueError, match=r"val_data: X has shape \(10, 3\)"):
        mod.fit(params, data, val_data=bad, verbose=verbose)
    assert_unchanged(before, params)


def test_fit_refuses_data_of_strings_before_training(modules):
    mod = modules["mlp"]
    params, data = mod.init_params(rng=0), mod.random_data(rng=1, n=10)
    before = snapshot(params)
    data["Y"] = data["Y"].astype(str)
    with pytest.raises(ValueError, match="data entry 'Y' is not an array of real numbers"):
        mod.fit(params, data, verbose=False)
    assert_unchanged(before, params)


# -- init_params and random_data --------------------------------------------------
@pytest.mark.parametrize("value", [0, 2.5, "3", -1, None])
def test_init_params_names_a_bad_dimension(ridge, value):
    with pytest.raises(ValueError, match=f"the dimension d must be a positive integer, not {value!r}"):
        ridge.init_params(d=value)


def test_init_params_takes_a_numpy_integer_dimension(ridge):
    assert ridge.init_params(rng=0, d=np.int64(5))["W"].shape == (5, 2)


@pytest.mark.parametrize("call, culprit", [
    (lambda m: m.random_data(samples=0), "samples must be a positive integer"),
    (lambda m: m.random_data(n=2.5), "the dimension n must be a positive integer"),
    (lambda m: m.init_params(dtype="float"), None),
    (lambda m: m.init_params(dtype="fast"), "dtype must be a floating-point type"),
    (lambda m: m.init_params(dtype=int), "dtype must be a floating-point type"),
])
def test_random_data_and_init_params_check_their_arguments(modules, call, culprit):
    if culprit is None:
        assert call(modules["mlp"])["W1"].dtype == np.float64
        return
    with pytest.raises(ValueError, match=culprit):
        call(modules["mlp"])


# -- what loss and loss_and_grad read -----------------------------------------------
@pytest.mark.parametrize("entry, value, culprit", [
    ("X", np.full((4, 4), "1.0"), "data entry 'X' is not an array of real numbers (its dtype is <U3)"),
    ("X", np.ones((4, 4), dtype=object), "data entry 'X' is not an array of real numbers (its dtype "
                                         "is object)"),
    ("X", np.ones((4, 4)) + 1j, "data entry 'X' is not an array of real numbers (its dtype is "
                                "complex128)"),
    ("Y", None, "data entry 'Y' is not an array of real numbers (its dtype is object)"),
    ("W1", np.full((4, 8), "w"), "params entry 'W1' is not an array of real numbers"),
])
def test_loss_refuses_arrays_that_are_not_real_numbers(modules, entry, value, culprit):
    mod = modules["mlp"]
    params, data = mod.init_params(rng=0), mod.random_data(rng=1, n=4)
    (params if entry in params else data)[entry] = value
    for function in (mod.loss, mod.loss_and_grad):
        with pytest.raises(ValueError, match=re.escape(culprit)):
            function(params, **data)


def test_predict_refuses_complex_data(modules):
    mod = modules["mlp"]
    with pytest.raises(ValueError, match="data entry 'X' is not an array of real numbers"):
        mod.predict(mod.init_params(rng=0), X=np.ones((2, 4)) * 1j)


def test_empty_batch_is_refused_without_a_warning(modules):
    mod = modules["mlp"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"X has shape \(0, 4\) but the model expects \(n, 4\) "
                                             "with n at least 1"):
            mod.loss_and_grad(mod.init_params(rng=0), X=np.zeros((0, 4)), Y=np.zeros((0, 3)))
        with pytest.raises(ValueError, match=r"x1 has no samples \(shape \(0,\)\)"):
            modules["xor"].loss(modules["xor"].init_params(rng=0), x1=np.zeros(0),
                                x2=np.zeros(0), y=np.zeros(0))


# -- precision: a Python number does not widen float32 --------------------------------
def test_python_float_data_scalar_keeps_float32(ridge, rng):
    params = {"W": rng.normal(size=(3, 2)).astype(np.float32)}
    X, Y = rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=(6, 2)).astype(np.float32)
    value, grads = ridge.loss_and_grad(params, X=X, Y=Y, lam=0.1)
    assert value.dtype == np.float32 and grads["W"].dtype == np.float32
    W = params["W"].astype(np.float64)  # the gradient by hand: (2/n) Xᵀ(XW − Y) + 2 lam W
    expected = 2 / 6 * X.T.astype(np.float64) @ (X @ W - Y) + 0.2 * W
    np.testing.assert_allclose(grads["W"], expected, rtol=1e-4, atol=1e-5)
    _, grads = ridge.loss_and_grad(params, X=X, Y=Y, lam=np.float64(0.1))
    assert grads["W"].dtype == np.float64  # a NumPy float64 widens, as in NumPy itself


def test_python_float_data_of_a_scalar_model_keeps_float32(modules):
    mod = modules["xor"]
    params = mod.init_params(rng=0, dtype=np.float32)
    value, grads = mod.loss_and_grad(params, x1=1.0, x2=0.0, y=1)
    assert value.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
