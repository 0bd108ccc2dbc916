"""The generated reader remembers NumPy arguments it has checked; what it remembers never lets a
bad argument through (tests by behaviour: each bad call follows a good call of the same shapes)."""

import numpy as np
import pytest

import symbp as sb
from symbp.examples import example


@pytest.fixture(scope="module")
def mod():
    return sb.compile(sb.derive(example("mlp_relu")))


@pytest.fixture
def case(mod):
    return mod.init_params(rng=0), mod.random_data(rng=1, samples=5)


def test_a_second_call_returns_the_given_arrays_and_the_same_result(mod, case):
    params, data = case
    first_value, first = mod.loss_and_grad(params, **data)
    value, grads = mod.loss_and_grad(params, **data)
    assert value == first_value and all(np.array_equal(grads[k], first[k]) for k in grads)
    unpacked = mod._inputs_loss(params, data)
    assert unpacked[0] is mod._NUMPY and unpacked[1] is params["W1"] and unpacked[-1] == 5


@pytest.mark.parametrize("bad, message", [
    (lambda p, d: ({**p, "W1": p["W1"].astype(complex)}, d), "params entry 'W1' is not an array of real"),
    (lambda p, d: (p, {**d, "Y": d["Y"][:4]}),
     "Y has shape (4, 3) but the model expects (n, 3) with n = 5 from X"),
    (lambda p, d: (p, {**d, "extra": d["X"]}), "unexpected data 'extra'"),
    (lambda p, d: (p, {"X": d["X"]}), "missing data entry 'Y'"),
])
def test_after_a_good_call_a_bad_argument_is_still_refused_with_its_sentence(mod, case, bad, message):
    params, data = case
    mod.loss_and_grad(params, **data)
    bad_params, bad_data = bad(params, data)
    with pytest.raises(ValueError) as err:
        mod.loss_and_grad(bad_params, **bad_data)
    assert message in str(err.value)


def test_an_ndarray_subclass_is_converted_as_before_not_passed_through(mod, case):
    params, data = case
    mod.loss_and_grad(params, **data)
    value, grads = mod.loss_and_grad({k: np.asmatrix(v) for k, v in params.items()}, **data)
    expected_value, expected = mod.loss_and_grad(params, **data)
    assert np.isclose(value, expected_value) and type(grads["W1"]) is np.ndarray
    np.testing.assert_allclose(grads["W1"], expected["W1"])


def test_the_same_shapes_in_another_dtype_compute_in_that_dtype(mod, case):
    params, data = case
    mod.loss_and_grad(params, **data)
    value, grads = mod.loss_and_grad({k: v.astype(np.float32) for k, v in params.items()},
                                     **{k: v.astype(np.float32) for k, v in data.items()})
    assert grads["W1"].dtype == np.float32


@pytest.mark.parametrize("shape", [(64, 3), (5, 1), (1, 7), (0, 4)])
@pytest.mark.parametrize("keepdims", [True, False])
def test_the_numpy_namespace_sums_columns_as_numpy_does(mod, shape, keepdims):
    x = np.random.default_rng(0).normal(size=shape)
    got = mod._NUMPY.sum(x, axis=0, keepdims=keepdims)
    np.testing.assert_allclose(got, np.sum(x, axis=0, keepdims=keepdims), rtol=1e-13, atol=1e-13)
    assert got.shape == np.sum(x, axis=0, keepdims=keepdims).shape
    assert mod._NUMPY.sum(np.arange(6).reshape(3, 2), axis=0).tolist() == [6, 9]
    assert mod._NUMPY.sum(x) == pytest.approx(float(np.sum(x)))
