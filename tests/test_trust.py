"""Regression tests for silently wrong gradients and refusals of reasonable models.

Every expected value comes from autograd applied to the same function written
by hand in ``autograd.numpy`` (independent of symbp's graph, rules and printer).
"""

import autograd.numpy as anp
import numpy as np
import pytest
import sympy as sp
from autograd import grad

import symbp as sb

ONES = sp.OneMatrix
n = sp.Symbol("n", integer=True, positive=True)
ROWS = 5


def _run(loss, params, values, dims=None):
    """symbp's loss and gradients for ``values`` (name -> array), via the generated module."""
    model = sb.Model(loss, params=params, name="t")
    mod = sb.compile(sb.derive(model))
    p = {s.name: values[s.name] for s in params}
    data = {s.name: values[s.name] for s in model.data}
    value, grads = mod.loss_and_grad(p, **data, **(dims or {}))
    assert np.allclose(mod.loss(p, **data, **(dims or {})), value, rtol=1e-12)
    return value, grads


def _assert_matches(loss, params, values, reference, dims=None):
    value, grads = _run(loss, params, values, dims)
    names = [s.name for s in params]

    def f(*args):
        return reference({**values, **dict(zip(names, args, strict=True))})
    args = [values[k] for k in names]
    assert np.allclose(value, f(*args), rtol=1e-10, atol=1e-12)
    for k, name in enumerate(names):
        expected = grad(f, k)(*args)
        assert grads[name].shape == values[name].shape, name
        assert np.allclose(grads[name], expected, rtol=1e-9, atol=1e-12), name


RNG = np.random.default_rng(7)


def _normal(*shape):
    return RNG.normal(size=shape)


def test_sum_of_broadcast_only_terms_keeps_the_batch_factor():
    b = sp.MatrixSymbol("b", 1, 3)
    bb = ONES(n, 1) * b + ONES(n, 3) / 2
    values = {"b": _normal(1, 3)}
    _assert_matches(sp.Trace(bb.T * bb) / n, [b], values,
                    lambda v: anp.sum((v["b"] + 0.5) ** 2) * ROWS / ROWS, dims={"n": ROWS})


def test_squared_broadcast_mean_has_the_right_gradient():
    mu = sp.MatrixSymbol("mu", 1, 3)
    loss = sp.Trace(ONES(3, n) * sp.HadamardPower(ONES(n, 1) * mu, 2)) / (2 * n)
    _assert_matches(loss, [mu], {"mu": _normal(1, 3)},
                    lambda v: anp.sum(v["mu"] ** 2) / 2, dims={"n": ROWS})


def test_ones_square_matrix_product_gives_a_gradient_of_the_parameter_shape():
    c = sp.MatrixSymbol("c", 3, 1)
    _assert_matches(sp.Trace(2 * ONES(3, 3) * c * c.T), [c], {"c": _normal(3, 1)},
                    lambda v: 2 * anp.sum(v["c"]) ** 2)


def test_gaussian_nll_with_broadcast_scale_and_epsilon():
    s, x = sp.MatrixSymbol("s", 1, 3), sp.MatrixSymbol("x", n, 3)
    var = ONES(n, 1) * s.applyfunc(sp.exp) + ONES(n, 3) / 100
    loss = sp.Trace(sp.HadamardProduct(x, x, var.applyfunc(lambda t: 1 / t)).T * ONES(n, 3)) / n
    values = {"s": _normal(1, 3), "x": _normal(ROWS, 3)}
    _assert_matches(loss, [s], values,
                    lambda v: anp.sum(v["x"] ** 2 / (anp.exp(v["s"]) + 0.01)) / ROWS)


def test_numpy_style_bias_is_a_row_broadcast():
    x, w, b = sp.MatrixSymbol("X", n, 4), sp.MatrixSymbol("W1", 4, 8), sp.MatrixSymbol("b1", 1, 8)
    a = sb.sigmoid(x * w + b)
    d = sb.derive(sb.Model(sp.Trace(a.T * a) / n, params=[w, b]))
    assert "Z1 = X W1 + 𝟙 b1" in str(d)
    assert d.step("b1_bar").shape == (1, 8)

    def sig(z):
        return 1 / (1 + anp.exp(-z))
    values = {"X": _normal(ROWS, 4), "W1": _normal(4, 8), "b1": _normal(1, 8)}
    _assert_matches(sp.Trace(a.T * a) / n, [w, b], values,
                    lambda v: anp.sum(sig(v["X"] @ v["W1"] + v["b1"]) ** 2) / ROWS)


def test_terms_that_cannot_broadcast_are_refused_with_their_shapes():
    a, b = sp.MatrixSymbol("A", n, 4), sp.MatrixSymbol("B", 3, 4)
    with pytest.raises(sb.SymbpError, match=r"do not broadcast.*A.*is (n x 4|4 x n).*B.*is (3 x 4|4 x 3)"):
        sb.derive(sb.Model(sp.Trace((a + b).T * (a + b)), params=[b]))


@pytest.mark.parametrize("label_kind", ["weighted", "padding", "soft"])
def test_softmax_cross_entropy_gradient_is_exact_for_labels_not_summing_to_one(label_kind):
    x, w, y = sp.MatrixSymbol("X", n, 4), sp.MatrixSymbol("W", 4, 3), sp.MatrixSymbol("Y", n, 3)
    labels = np.eye(3)[RNG.integers(0, 3, ROWS)]
    if label_kind == "weighted":
        labels *= RNG.uniform(0.5, 2.0, size=(ROWS, 1))
    elif label_kind == "padding":
        labels[-2:] = 0
    else:
        labels = RNG.uniform(0, 1, size=(ROWS, 3))

    def reference(v):
        z = v["X"] @ v["W"]
        logp = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
        return -anp.sum(v["Y"] * logp) / ROWS
    values = {"X": _normal(ROWS, 4), "W": _normal(4, 3), "Y": labels}
    _assert_matches(sb.softmax_cross_entropy(x * w, y), [w], values, reference)


def _sig(z):
    return 1 / (1 + anp.exp(-z))


def test_activations_of_one_by_one_matrices():
    w, x, a = sp.MatrixSymbol("w", 3, 1), sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("A", 3, 3)
    y = sp.MatrixSymbol("y", 1, 1)
    values = {"w": _normal(3, 1), "x": _normal(3, 1), "A": _normal(3, 3), "y": _normal(1, 1)}
    _assert_matches(sp.Trace(sb.sigmoid(w.T * x)), [w], values,
                    lambda v: anp.sum(_sig(v["w"].T @ v["x"])))
    _assert_matches(sp.Trace(sb.relu(w.T * a * w)), [w], values,
                    lambda v: anp.sum(anp.maximum(v["w"].T @ v["A"] @ v["w"], 0)))
    _assert_matches(sb.mse(sb.sigmoid(w.T * x), y), [w], values,
                    lambda v: anp.sum((_sig(v["w"].T @ v["x"]) - v["y"]) ** 2))


def test_matrix_entries_of_a_parameter_inside_an_elementwise_lambda():
    t, z, c = sp.MatrixSymbol("T", 2, 2), sp.MatrixSymbol("Z", 2, 2), sp.Symbol("c")
    u = sp.Symbol("u")
    loss = sp.Trace(z.applyfunc(sp.Lambda(u, sp.tanh(u * t[0, 0] + c * t[1, 0]))))
    values = {"T": _normal(2, 2), "Z": _normal(2, 2), "c": np.float64(0.3)}
    _assert_matches(loss, [t], values,
                    lambda v: anp.trace(anp.tanh(v["Z"] * v["T"][0, 0] + v["c"] * v["T"][1, 0])))


def test_sum_of_ones_row_times_column_is_a_sum_over_the_rows():
    v = sp.MatrixSymbol("v", n, 1)
    loss = (ONES(1, n) * v.applyfunc(sp.tanh))[0, 0]
    assert isinstance(loss, sp.Sum)  # what SymPy makes of it with a symbolic n
    _assert_matches(loss, [v], {"v": _normal(ROWS, 1)}, lambda p: anp.sum(anp.tanh(p["v"])))


def test_entry_of_a_product_with_a_symbolic_inner_size():
    a, b = sp.MatrixSymbol("A", n, 3), sp.MatrixSymbol("B", n, 3)
    values = {"A": _normal(ROWS, 3), "B": _normal(ROWS, 3)}
    _assert_matches((a.T * b)[1, 2] / n, [a, b], values,
                    lambda v: anp.sum(v["A"][:, 1] * v["B"][:, 2]) / ROWS)


def test_index_notation_sum_over_the_batch():
    a, b, i = sp.MatrixSymbol("A", n, 3), sp.MatrixSymbol("B", n, 3), sp.Symbol("i", integer=True)
    loss = sp.Sum(sp.log(1 + sp.exp(a[i, 0] * b[i, 1])) + 2 * a[i, 2] ** 2 - b[i, 0], (i, 0, n - 1)) / n
    values = {"A": _normal(ROWS, 3), "B": _normal(ROWS, 3)}
    _assert_matches(loss, [a], values, lambda v: anp.sum(
        anp.log(1 + anp.exp(v["A"][:, 0] * v["B"][:, 1])) + 2 * v["A"][:, 2] ** 2 - v["B"][:, 0]) / ROWS)


def test_sums_symbp_cannot_write_over_rows_are_refused_in_one_sentence():
    a, i = sp.MatrixSymbol("A", n, 3), sp.Symbol("i", integer=True)
    with pytest.raises(sb.SymbpError, match="starts at 1"):
        sb.derive(sb.Model(sp.Sum(a[i, 0] ** 2, (i, 1, n - 1)), [a]))
    with pytest.raises(sb.SymbpError, match="cannot sum atan2"):
        sb.derive(sb.Model(sp.Sum(sp.atan2(a[i, 0], a[i, 1]), (i, 0, n - 1)), [a]))


def test_top_level_piecewise_in_a_scalar_model_huber():
    w, x, y = sp.symbols("w x y")
    r = w * x - y
    loss = sp.Piecewise((r**2 / 2, sp.Abs(r) <= 1), (sp.Abs(r) - sp.Rational(1, 2), True))
    mod = sb.compile(sb.derive(sb.Model(loss, params=[w], name="huber")))
    xs, ys = np.array([1.0, 2.0, 3.0, -1.0]), np.array([0.5, 5.0, -1.0, 0.2])

    def huber(wv):
        res = wv * xs - ys
        return anp.mean(anp.where(anp.abs(res) <= 1, res**2 / 2, anp.abs(res) - 0.5))
    value, grads = mod.loss_and_grad({"w": np.float64(0.7)}, x=xs, y=ys)
    assert np.isclose(value, huber(0.7)) and np.isclose(grads["w"], grad(huber)(0.7))


@pytest.mark.parametrize("reference", ["fd", "autograd", "torch", "jax"])
def test_check_evaluates_sums_over_rows_and_dimension_indices(reference):
    pytest.importorskip({"fd": "numpy"}.get(reference, reference))
    a, b, i = sp.MatrixSymbol("A", n, 3), sp.MatrixSymbol("B", n, 3), sp.Symbol("i", integer=True)
    loss = sp.Sum(sp.log(1 + sp.exp(a[i, 0] * b[i, 1])) + 3, (i, 0, n - 1)) / n + a[n - 1, 2] ** 2
    assert sb.check(sb.Model(loss, [a]), reference).ok


def test_loss_builders_read_the_broadcast_shape_when_sympy_puts_the_row_first():
    z, a, y = sp.MatrixSymbol("Z", n, 2), sp.MatrixSymbol("A", 1, 2), sp.MatrixSymbol("Y", n, 2)
    assert (z + a).shape == (1, 2)  # SymPy's claim, from the first term after sorting
    values = {"Z": _normal(ROWS, 2), "A": _normal(1, 2), "Y": _normal(ROWS, 2)}
    _assert_matches(sb.mse(z + a, y), [a], values,
                    lambda v: anp.mean((v["Z"] + v["A"] - v["Y"]) ** 2))


def test_broadcast_inside_a_broadcast_is_summed_once():
    z1, a5, z0 = sp.MatrixSymbol("Z1", 3, n), sp.MatrixSymbol("A5", 1, 2), sp.MatrixSymbol("Z0", n, n)
    inner = (a5 * ONES(2, n) + z0) * ONES(n, 3)
    loss = sp.Trace(z1 * sp.HadamardProduct(ONES(n, 3), inner))
    values = {"Z1": _normal(3, ROWS), "A5": _normal(1, 2), "Z0": _normal(ROWS, ROWS)}
    _assert_matches(loss, [a5], values, lambda v: anp.trace(
        v["Z1"] @ ((anp.sum(v["A5"]) + v["Z0"]) @ anp.ones((ROWS, 3)))))


def test_full_size_term_next_to_a_row_keeps_its_gradient_shape():
    z0, a3, z1, a5 = (sp.MatrixSymbol("Z0", 3, n), sp.MatrixSymbol("A3", n, 3),
                      sp.MatrixSymbol("Z1", 1, 3), sp.MatrixSymbol("A5", n, 3))
    values = {"Z0": _normal(3, ROWS), "A3": _normal(ROWS, 3), "Z1": _normal(1, 3),
              "A5": _normal(ROWS, 3)}
    _assert_matches(-sp.Trace(z0 * sp.HadamardProduct(a3 + z1, a5)), [a3], values,
                    lambda v: -anp.trace(v["Z0"] @ ((v["A3"] + v["Z1"]) * v["A5"])))


def test_dense_after_a_numpy_style_bias_spreads_its_own_bias_over_every_row():
    x, w1, b1 = sp.MatrixSymbol("X", n, 4), sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("b1", 1, 3)
    w2, b2 = sp.MatrixSymbol("W2", 3, 2), sp.MatrixSymbol("b2", 1, 2)
    h = sb.tanh(b1 + x * w1)
    loss = sb.mse(sb.dense(h, w2, b2), sp.ZeroMatrix(n, 2))
    values = {"X": _normal(ROWS, 4), "W1": _normal(4, 3), "b1": _normal(1, 3), "W2": _normal(3, 2),
              "b2": _normal(1, 2)}
    _assert_matches(loss, [w1, b1, w2, b2], values, lambda v: anp.mean(
        (anp.tanh(v["X"] @ v["W1"] + v["b1"]) @ v["W2"] + v["b2"]) ** 2))


def test_inverse_of_a_sum_with_a_broadcast_first_term_keeps_the_square_shape():
    a0, a2, y = sp.MatrixSymbol("A0", n, n), sp.MatrixSymbol("A2", 1, 3), sp.MatrixSymbol("Y", n, n)
    loss = sb.softmax_cross_entropy(sp.Inverse(a0 + a2 * ONES(3, n)), y)
    assert sb.check(sb.Model(loss, [a2]), "autograd").ok
