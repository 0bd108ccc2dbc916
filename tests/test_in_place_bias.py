"""A sum with broadcast terms (a NumPy-style bias) adds them in place: ``Z1 = X @ W1`` then
``Z1 += b1``. NumPy reuses a temporary only for an operand of its own shape, so ``X @ W1 + b1``
made two arrays of the layer's size. The references here are NumPy formulas written by hand."""

import tracemalloc

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.codegen import generate

n = sp.Symbol("n", integer=True, positive=True)


def affine(rows=n, inputs=3, outputs=4, minus=False):
    """``predict``: X W + b (or X W - b); the loss: the mean square of it against Y."""
    X, W = sp.MatrixSymbol("X", rows, inputs), sp.MatrixSymbol("W", inputs, outputs)
    b, Y = sp.MatrixSymbol("b", 1, outputs), sp.MatrixSymbol("Y", rows, outputs)
    Z = sb.add(X * W, -b if minus else b)  # sb.add: SymPy refuses a (1, k) row beside (4, k)
    return sb.compile(sb.derive(sb.Model(sb.mse(Z, Y), [W, b], outputs=Z, name="affine")))


def by_hand(W, b, X, Y, minus=False):
    """Loss and gradients of mean((X W ± b - Y)^2), in the arrays' own promotion."""
    Z = X @ W - b if minus else X @ W + b
    E = Z - Y
    G = 2 * E / E.size
    gb = G.sum(axis=0, keepdims=True)
    return (E * E).mean(), {"W": X.T @ G, "b": -gb if minus else gb}, Z


def test_the_module_adds_a_bias_in_place_after_the_terms_of_full_shape():
    A, W, c = sp.MatrixSymbol("A", n, 3), sp.MatrixSymbol("W", 3, 4), sp.MatrixSymbol("c", 1, 4)
    Y, T = sp.MatrixSymbol("Y", n, 4), sp.MatrixSymbol("T", n, 4)
    source = generate(sb.derive(sb.Model(sb.mse(A * W + c - Y, T), [W, c], name="m")))
    body = source[source.index("def loss_and_grad"):]
    assert "    Z1 = A @ W - Y - T\n    Z1 += c\n" in body, body[:400]


@pytest.mark.parametrize("minus", [False, True], ids=["plus", "minus"])
@pytest.mark.parametrize("rows", [1, 4, 5], ids=["one row", "square", "five"])
def test_values_match_the_hand_written_formulas(rows, minus):
    module = affine(4, 4, 4, minus) if rows == 4 else affine(minus=minus)
    rng = np.random.default_rng(rows)
    size = 4 if rows == 4 else 3
    W, b = rng.normal(size=(size, 4)), rng.normal(size=(1, 4))
    X, Y = rng.normal(size=(rows, size)), rng.normal(size=(rows, 4))
    kept = [a.copy() for a in (W, b, X, Y)]
    loss, grads = module.loss_and_grad({"W": W, "b": b}, X=X, Y=Y)
    want_loss, want, Z = by_hand(W, b, X, Y, minus)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    for name in want:
        np.testing.assert_allclose(grads[name], want[name], rtol=1e-12, atol=1e-14, err_msg=name)
    np.testing.assert_allclose(module.predict({"W": W, "b": b}, X=X), Z, rtol=1e-13)
    for before, now in zip(kept, (W, b, X, Y), strict=True):
        np.testing.assert_array_equal(before, now)


def test_predict_holds_one_array_of_the_layers_size_not_two():
    module = affine(inputs=8, outputs=512)
    params = module.init_params(rng=0)
    X = np.random.default_rng(1).normal(size=(2048, 8))
    module.predict(params, X=X)  # the first call reads the shapes
    tracemalloc.start()
    try:
        Z = module.predict(params, X=X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert Z.nbytes <= peak < 1.25 * Z.nbytes, (peak, Z.nbytes)


def test_two_float_types_compute_in_the_wider():
    module = affine()
    rng = np.random.default_rng(7)
    W, b = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(1, 4))  # b: float64
    X, Y = rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=(6, 4)).astype(np.float32)
    kept = [a.copy() for a in (W, b, X, Y)]
    loss, grads = module.loss_and_grad({"W": W, "b": b}, X=X, Y=Y)
    want_loss, want, _ = by_hand(*(a.astype(np.float64) for a in (W, b, X, Y)))
    assert np.asarray(loss).dtype == np.float64 and loss == pytest.approx(want_loss, rel=1e-12)
    for name in want:
        assert grads[name].dtype == np.float64
        np.testing.assert_allclose(grads[name], want[name], rtol=1e-12, err_msg=name)
        assert not any(np.shares_memory(grads[name], a) for a in (W, b, X, Y))
    for before, now in zip(kept, (W, b, X, Y), strict=True):  # nothing written into the arguments
        np.testing.assert_array_equal(before, now)


def test_integer_data_with_float32_parameters():
    module = affine()
    rng = np.random.default_rng(8)
    W, b = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(1, 4)).astype(np.float32)
    X, Y = rng.integers(-3, 4, size=(6, 3)), rng.normal(size=(6, 4)).astype(np.float32)
    loss, grads = module.loss_and_grad({"W": W, "b": b}, X=X, Y=Y)
    want_loss, want, _ = by_hand(W, b, X, Y)  # NumPy's promotion: int64 @ float32 is float64
    assert loss == pytest.approx(want_loss, rel=1e-6)
    for name in want:
        np.testing.assert_allclose(grads[name], want[name], rtol=1e-6, err_msg=name)


def test_torch_parameters_that_require_gradients():
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    module = affine()
    rng = np.random.default_rng(9)
    arrays = {k: rng.normal(size=s) for k, s in {"W": (3, 4), "b": (1, 4), "X": (5, 3), "Y": (5, 4)}.items()}
    W, b = (torch.tensor(arrays[k], requires_grad=True) for k in ("W", "b"))
    loss = module.loss({"W": W, "b": b}, X=torch.tensor(arrays["X"]), Y=torch.tensor(arrays["Y"]))
    loss.backward()  # autograd through the in-place add
    _, want, _ = by_hand(*arrays.values())
    np.testing.assert_allclose(W.grad.numpy(), want["W"], rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), want["b"], rtol=1e-12)


def test_integer_data_broadcast_into_a_float32_product_keeps_numpys_float64():
    """Only parameters are added in place: NumPy makes ``X @ W + D`` (float32 product, int64
    column D) float64, and ``Z += D`` would have kept float32 (found by a fuzz round)."""
    X, W = sp.MatrixSymbol("X", n, 3), sp.MatrixSymbol("W", 3, 2)
    D, Y = sp.MatrixSymbol("D", n, 1), sp.MatrixSymbol("Y", n, 2)
    Z = X * W + D * sp.OneMatrix(1, 2)
    module = sb.compile(sb.derive(sb.Model(sb.mse(Z, Y), [W], outputs=Z, name="column")))
    rng = np.random.default_rng(0)
    W_, X_ = rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    D_ = np.array([[16777217], [3], [-5], [2]])  # 2^24 + 1: not a float32
    want = X_ @ W_ + D_
    got = module.predict({"W": W_}, X=X_, D=D_)
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_array_equal(got, want)


def test_a_scalar_data_symbol_in_a_broadcast_term_is_not_added_in_place():
    """Only parameters (and sizes) are added in place: an int64 scalar s given as data made
    ``Z += s * 1.0`` round into the float32 product (a review finding)."""
    s = sp.Symbol("s")
    X, W = sp.MatrixSymbol("X", n, 3), sp.MatrixSymbol("W", 3, 4)
    b, Y = sp.MatrixSymbol("b", 1, 4), sp.MatrixSymbol("Y", n, 4)
    Z = sb.add(X * W + s * sp.OneMatrix(n, 4), b)
    module = sb.compile(sb.derive(sb.Model(sb.mse(Z, Y), [W, b], outputs=Z, name="shift")))
    rng = np.random.default_rng(3)
    W_, b_ = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(1, 4)).astype(np.float32)
    X_ = rng.normal(size=(5, 3)).astype(np.float32)
    got = module.predict({"W": W_, "b": b_}, X=X_, s=np.int64(16777217))  # 2^24 + 1
    want = X_ @ W_ + np.int64(16777217) + b_
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_array_equal(got, want)
