"""The generated reader remembers NumPy arguments it has checked; what it remembers never lets a
bad argument through (tests by behaviour: each bad call follows a good call of the same shapes)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def test_the_numpy_namespace_keeps_at_most_64_rows_of_ones(mod):
    rng = np.random.default_rng(0)
    for rows in range(1, 150):
        x = rng.normal(size=(rows, 3))
        np.testing.assert_allclose(mod._NUMPY.sum(x, axis=0), np.sum(x, axis=0), rtol=1e-13, atol=1e-13)
        assert len(mod._ONES) <= 64


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("keepdims", [True, False])
def test_the_numpy_namespace_max_is_numpys(mod, axis, keepdims):
    x = np.random.default_rng(1).normal(size=(5, 4))
    got = mod._NUMPY.max(x, axis=axis, keepdims=keepdims)
    assert np.array_equal(got, np.max(x, axis=axis, keepdims=keepdims))
    assert np.shape(got) == np.shape(np.max(x, axis=axis, keepdims=keepdims))


# -- _bind_*: the first check of NumPy arguments, against _read_checked (the general reader) --

FIRST_CALL_MODELS = ["mlp_relu", "xor", "digits_cnn", "rnn", "transformer", "shopping"]


@pytest.fixture(scope="module")
def modules():
    return {name: sb.compile(sb.derive(example(name))) for name in FIRST_CALL_MODELS}


def _reader_args(module, fn):
    """Good arguments for ``_inputs_<fn>``, and the names of the params and data it reads."""
    params, data = module.init_params(rng=0), module.random_data(rng=1, samples=3)
    code = getattr(module, f"_bind_{fn}").__code__
    names = code.co_varnames[:code.co_argcount]
    need_params = tuple(name for name in names if name in params)
    need_data = tuple(name for name in names if name in data)
    return params, {k: data[k] for k in need_data}, need_params, need_data


def _perturbed(array, how, axis):
    shape = list(array.shape)
    if how == "add axis":
        shape.insert(axis % (len(shape) + 1), 1)
    elif how == "drop axis" and shape:
        shape.pop(axis % len(shape))
    elif shape:
        k = axis % len(shape)
        shape[k] = {"grow": shape[k] + 1, "shrink": max(shape[k] - 1, 0), "zero": 0, "one": 1}[how]
    return np.zeros(shape, array.dtype)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=st.sampled_from(FIRST_CALL_MODELS), fn=st.sampled_from(["loss", "predict"]),
       which=st.integers(0, 40),
       how=st.sampled_from(["grow", "shrink", "zero", "one", "add axis", "drop axis"]),
       axis=st.integers(0, 3), twice=st.booleans(), rows=st.sampled_from([None, 0, 1]))
def test_the_first_call_check_agrees_with_the_general_reader(modules, model, fn, which, how, axis, twice,
                                                            rows):
    """Whatever one or two arrays' shapes, ``_bind_<fn>`` binds the dimensions _read_checked binds,
    and returns None where _read_checked refuses the arguments (or must broadcast them)."""
    module = modules[model]
    if fn == "predict" and not hasattr(module, "_bind_predict"):
        return
    params, data, need_params, need_data = _reader_args(module, fn)
    values = {**params, **data}
    names = [*need_params, *need_data]
    if rows is not None:  # every data array with that many samples
        values.update({k: np.zeros((rows, *np.shape(values[k])[1:]))
                       for k in need_data if np.ndim(values[k])})
    for step in range(2 if twice else 1):
        name = names[(which + 7 * step) % len(names)]
        values[name] = _perturbed(np.asarray(values[name]), how, axis + step)
    params = {k: values[k] for k in params}
    data = {k: values[k] for k in need_data}
    bound = getattr(module, f"_bind_{fn}")(*(values[k] for k in names))
    try:
        read = module._read_checked(params, data, need_params, need_data, (), fn == "loss")
    except ValueError:
        assert bound is None
        return
    as_given = not example(model).is_scalar or all(np.ndim(data[k]) == 1 for k in need_data)
    # a scalar model's per-sample number is broadcast by the general reader: bind leaves it to it
    assert bound == (tuple(read[1 + len(names):]) if as_given else None)


def test_the_first_call_binds_what_the_shapes_say(modules):
    """Hand-written expectations: mlp_relu binds n from X; xor binds the number of samples."""
    mlp = modules["mlp_relu"]
    W = [np.zeros(s) for s in [(4, 16), (1, 16), (16, 16), (1, 16), (16, 3), (1, 3)]]
    assert mlp._bind_loss(*W, np.zeros((7, 4)), np.zeros((7, 3))) == (7,)
    assert mlp._bind_loss(*W, np.zeros((0, 4)), np.zeros((0, 3))) is None  # no rows: no loss
    assert mlp._bind_predict(*W, np.zeros((0, 4))) == (0,)
    assert mlp._bind_loss(*W, np.zeros((7, 4)), np.zeros((6, 3))) is None
    assert mlp._bind_loss(*W, np.zeros(4), np.zeros((7, 3))) is None
    xor = modules["xor"]
    assert xor._bind_loss(*[np.zeros(())] * 9, np.zeros(5), np.zeros(5), np.zeros(5)) == (5,)
    assert xor._bind_loss(*[np.zeros(())] * 9, np.zeros(5), np.zeros(4), np.zeros(5)) is None


@pytest.mark.parametrize("model", FIRST_CALL_MODELS)
def test_a_first_call_with_a_bad_shape_names_it_and_remembers_nothing(modules, model):
    module = modules[model]
    module._READY.clear()
    params, data = module.init_params(rng=0), module.random_data(rng=1, samples=3)
    name = next(iter(module.PARAMS))
    bad = {**params, name: np.zeros((*np.shape(params[name]), 2))}  # one axis too many
    with pytest.raises(ValueError, match=f"^{name} has shape .* but the model expects"):
        module.loss_and_grad(bad, **data)
    assert module._READY == {}
    value, _ = module.loss_and_grad(params, **data)
    assert np.isfinite(value) and len(module._READY) == 1
