"""Primitives added the new way (one record + its reference op), checked against autograd,
PyTorch and finite differences, which differentiate the user's expression themselves."""

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.primitives.linalg import LogDet

W = sp.MatrixSymbol("W", 3, 3)
S = sp.MatrixSymbol("S", 3, 3)


def _gaussian_nll():
    """Negative log-likelihood of a zero-mean Gaussian with covariance W Wᵀ + I given the
    scatter matrix S: (log det Σ + tr(Σ⁻¹ S)) / 2."""
    sigma = W * W.T + sp.Identity(3)
    loss = (sp.log(sp.Determinant(sigma)) + sp.Trace(sp.Inverse(sigma) * S)) / 2
    return sb.Model(loss, params=[W], name="gaussian_nll")


def _plain_det():
    return sb.Model(sp.Determinant(W) + sp.Trace(W.T * S), params=[W], name="det_plus")


def _diag_scaled_regression():
    """Least squares of X diag(v) W diag(r) against Y: a column and a row on a diagonal."""
    n = sp.Symbol("n", integer=True, positive=True)
    X, Y = sp.MatrixSymbol("X", n, 3), sp.MatrixSymbol("Y", n, 2)
    v, U, r = sp.MatrixSymbol("v", 3, 1), sp.MatrixSymbol("U", 3, 2), sp.MatrixSymbol("r", 1, 2)
    loss = sb.mse(X * sp.DiagMatrix(v) * U * sp.DiagMatrix(r), Y)
    return sb.Model(loss, params=[v, U, r], name="diag_scaled")


def _split_gates():
    """One weight matrix computing two gates, split by columns (Z[:, :2], Z[:, 2:]), and
    a row slice dropping the first sample."""
    X, Y = sp.MatrixSymbol("X", 5, 3), sp.MatrixSymbol("Y", 4, 2)
    U = sp.MatrixSymbol("U", 3, 4)
    Z = X * U
    H = sp.HadamardProduct(sb.sigmoid(Z[:, :2]), Z[:, 2:].applyfunc(sp.tanh))
    return sb.Model(sb.mse(H[1:, :], Y), params=[U], name="split_gates")


def _concatenated_weights():
    """Two gates from one product with concatenated weights X [A B], split again."""
    n = sp.Symbol("n", integer=True, positive=True)
    X, Y = sp.MatrixSymbol("X", n, 3), sp.MatrixSymbol("Y", n, 2)
    A, B = sp.MatrixSymbol("A", 3, 2), sp.MatrixSymbol("B", 3, 2)
    Z = X * sp.BlockMatrix([[A, B]])
    H = sp.HadamardProduct(sb.sigmoid(Z[:, :2]), Z[:, 2:].applyfunc(sp.tanh))
    return sb.Model(sb.mse(H, Y), params=[A, B], name="concatenated")


def _two_by_two_blocks():
    P, Q = sp.MatrixSymbol("P", 2, 3), sp.MatrixSymbol("Q", 2, 1)
    R, T = sp.MatrixSymbol("R", 1, 3), sp.MatrixSymbol("T", 1, 1)
    M = sp.BlockMatrix([[P, Q], [R, T]])  # 3 x 4
    V = sp.MatrixSymbol("V", 4, 3)
    return sb.Model(sp.Trace((M * V).applyfunc(sp.tanh)), params=[P, Q, R, T], name="blocks")


def _kronecker_regression():
    """Least squares through a Kronecker-factored weight A ⊗ (Bᵀ B), sliced to the targets."""
    n = sp.Symbol("n", integer=True, positive=True)
    X, Y = sp.MatrixSymbol("X", n, 6), sp.MatrixSymbol("Y", n, 5)
    A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 2, 3)
    return sb.Model(sb.mse(X * sp.KroneckerProduct(A, B.T * B)[:, :5], Y), params=[A, B],
                    name="kron_regression")


def _three_factor_kronecker():
    A, B, C = (sp.MatrixSymbol(k, 2, 1 + i) for i, k in enumerate("ABC"))  # 8 x 6
    V = sp.MatrixSymbol("V", 6, 8)
    return sb.Model(sp.Trace((V * sp.KroneckerProduct(A, B, C)).applyfunc(sp.tanh)),
                    params=[A, B, C], name="kron3")


def _written_log_det():
    """The log-determinant written as the primitive itself (its reference is slogdet)."""
    return sb.Model(LogDet(W * W.T + sp.Identity(3)) + sp.Trace(W.T * S), params=[W],
                    name="logdet")


@pytest.mark.parametrize("make", [_gaussian_nll, _plain_det, _diag_scaled_regression,
                                  _split_gates, _concatenated_weights, _two_by_two_blocks,
                                  _kronecker_regression, _three_factor_kronecker,
                                  _written_log_det])
@pytest.mark.parametrize("reference", ["autograd", "torch", "fd"])
def test_gradients_of_the_new_primitives_match_independent_references(make, reference):
    sb.check(make(), reference=reference)  # raises on a mismatch


def test_gaussian_nll_gradient_matches_the_textbook_formula():
    m = _gaussian_nll()
    mod = sb.compile(sb.derive(m))
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, 3))
    a = rng.normal(size=(3, 3))
    s = a @ a.T
    value, grads = mod.loss_and_grad({"W": w}, S=s)
    sigma = w @ w.T + np.eye(3)
    inv = np.linalg.inv(sigma)
    expected = (inv - inv @ s @ inv) @ w  # dL/dΣ = (Σ⁻¹ - Σ⁻¹ S Σ⁻¹)/2, Σ = W Wᵀ + I
    np.testing.assert_allclose(value, 0.5 * (np.log(np.linalg.det(sigma)) + np.trace(inv @ s)))
    np.testing.assert_allclose(grads["W"], expected, rtol=1e-10)


def test_determinant_prints_in_code_latex_and_text():
    d = sb.derive(_plain_det())
    assert "xp.linalg.det(W)" in sb.generate(d)
    assert r"\det\left(W\right)" in d.latex()
    assert "t1 = det(W)" in str(d)


def test_the_gradient_of_a_diagonal_is_the_diagonal_of_the_adjoint():
    v = sp.MatrixSymbol("v", 3, 1)
    mod = sb.compile(sb.derive(sb.Model(sp.Trace(S * sp.DiagMatrix(v)), params=[v])))
    s = np.arange(9.0).reshape(3, 3)
    value, grads = mod.loss_and_grad({"v": np.array([[1.0], [2.0], [3.0]])}, S=s)
    assert value == pytest.approx(0 * 1 + 4 * 2 + 8 * 3)
    np.testing.assert_array_equal(grads["v"], [[0.0], [4.0], [8.0]])


def test_diagonal_matrix_prints_in_code_latex_and_text():
    d = sb.derive(_diag_scaled_regression())
    assert "xp.diagflat(v)" in sb.generate(d)
    assert r"\operatorname{diag}\left(v\right)" in d.latex()
    assert "D1 = diag(v)" in str(d)


def test_slices_print_as_numpy_slices_and_their_adjoint_as_a_pad():
    d = sb.derive(_split_gates())
    src = sb.generate(d)
    assert "Z1[:, :2]" in src and "Z1[:, 2:]" in src
    assert "xp.pad(" in src


def test_the_adjoint_of_a_slice_is_zero_outside_it():
    V = sp.MatrixSymbol("V", 3, 4)
    mod = sb.compile(sb.derive(sb.Model(sp.Trace(V[1:, :2].T * S[:2, :2]), params=[V])))
    s = np.arange(9.0).reshape(3, 3)
    _, grads = mod.loss_and_grad({"V": np.ones((3, 4))}, S=s)
    expected = np.zeros((3, 4))
    expected[1:, :2] = s[:2, :2]
    np.testing.assert_array_equal(grads["V"], expected)


def test_a_slice_with_a_step_is_refused_naming_it():
    V = sp.MatrixSymbol("V", 4, 4)
    with pytest.raises(sb.SymbpError, match=r"V\[::2, :\] has a step other than 1"):
        sb.derive(sb.Model(sp.Trace(V[::2, :].T * V[::2, :]), params=[V]))


def test_block_matrices_print_as_np_block_and_their_adjoints_as_slices():
    d = sb.derive(_concatenated_weights())
    src = sb.generate(d)
    assert "xp.block([[A, B]])" in src
    assert "A_bar = Z1_bar[:, :2]" in src and "B_bar = Z1_bar[:, 2:]" in src
    assert "Z1 = [A B]" in str(d)


def test_log_of_a_determinant_is_computed_by_slogdet_and_reuses_the_forward_inverse():
    src = sb.generate(sb.derive(_gaussian_nll()))
    assert "xp.linalg.slogdet(Z1)[1]" in src and "linalg.det(" not in src
    body = src.split("def loss_and_grad(", 1)[1].split("\ndef ", 1)[0]
    assert body.count("xp.linalg.inv(") == 1  # Σ⁻¹ once, read by the log-det's adjoint
    assert "Z1_bar = Z2.T / 2 - Z2.T @ Z2_bar @ Z2.T" in src


def test_log_determinant_of_a_large_matrix_is_finite_where_det_overflows():
    k = 200
    V = sp.MatrixSymbol("V", k, k)
    mod = sb.compile(sb.derive(sb.Model(sp.log(sp.Determinant(V)), params=[V])))
    v = 100.0 * np.eye(k)
    with np.errstate(over="ignore"):
        assert np.isinf(np.linalg.det(v))
    value, grads = mod.loss_and_grad({"V": v})
    assert value == pytest.approx(k * np.log(100.0))
    np.testing.assert_allclose(grads["V"], np.eye(k) / 100.0)  # V⁻ᵀ


def test_log_determinant_prints_in_latex_and_text():
    d = sb.derive(_gaussian_nll())
    assert r"t_{1} &= \log\left|\det\left(Z_{1}\right)\right|" in d.latex()
    assert "t1 = log|det(Z1)|" in str(d)


def test_the_adjoints_of_a_kronecker_product_are_blockwise():
    """L = tr(Sᵀ (A ⊗ B)): Ā_ij = ⟨S_(ij), B⟩ and B̄ = Σ_ij A_ij S_(ij), by explicit loops."""
    A, B = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("B", 2, 2)
    T = sp.MatrixSymbol("T", 4, 6)
    mod = sb.compile(sb.derive(sb.Model(sp.Trace(T.T * sp.KroneckerProduct(A, B)),
                                        params=[A, B])))
    rng = np.random.default_rng(0)
    a, b, t = rng.normal(size=(2, 3)), rng.normal(size=(2, 2)), rng.normal(size=(4, 6))
    value, grads = mod.loss_and_grad({"A": a, "B": b}, T=t)
    blocks = {(i, j): t[2 * i:2 * i + 2, 2 * j:2 * j + 2] for i in range(2) for j in range(3)}
    assert value == pytest.approx(sum(a[i, j] * np.sum(blk * b) for (i, j), blk in blocks.items()))
    expected_a = np.array([[np.sum(blocks[i, j] * b) for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(grads["A"], expected_a)
    np.testing.assert_allclose(grads["B"], sum(a[i, j] * blk for (i, j), blk in blocks.items()))


def test_kronecker_product_prints_in_code_latex_and_text():
    d = sb.derive(_kronecker_regression())
    src = sb.generate(d)
    assert "K1 = xp.kron(A, Z1)" in src
    assert 'A_bar = xp.einsum("ikjl,kl->ij", K1_bar.reshape(2, 3, 2, 3), Z1)' in src
    assert "K1 = A ⊗ Z1" in str(d)
    assert "Z1_bar = Σ_ij A_ij K1_bar_(ij)" in str(d)
    assert r"K_{1} &= {A} \otimes {Z_{1}}" in d.latex()
    assert r"\left\langle {\overline{K}_{1}}_{(ij)}, {Z_{1}}\right\rangle" in d.latex()


@pytest.mark.parametrize("make", [_kronecker_regression, _split_gates, _gaussian_nll])
def test_exact_step_values_of_explain_equal_the_generated_gradients(make):
    """explain --values evaluates the steps symbolically (Kronecker adjoints, pads, log-det
    entry by entry): the same numbers as the generated NumPy code."""
    from symbp.explain import step_values

    m = make()
    d = sb.derive(m)
    rng = np.random.default_rng(1)
    shapes = {s: tuple(int(k.subs({k: 4}) if k.free_symbols else k) for k in s.shape)
              for s in (*m.params, *m.data)}
    values = {s: rng.normal(size=shape) for s, shape in shapes.items()}
    if make is _gaussian_nll:
        values[S] = values[S] @ values[S].T
    env = step_values(d, values)
    _, grads = sb.compile(d).loss_and_grad({p.name: values[p] for p in m.params},
                                           **{s.name: values[s] for s in m.data})
    for p in m.params:
        exact = np.array(env[d.gradient_symbols[p.name]].evalf(), dtype=float)
        np.testing.assert_allclose(exact, grads[p.name], rtol=1e-9, atol=1e-12)
