"""Every rule of the rule table against torch and autograd, at random points and at 0."""

import numpy as np
import pytest
import sympy as sp
from conftest import AUTODIFF, assert_matches, matrices, n
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

import symbp as sb

A, B, C, W = matrices("A B C W", A=(3, 4), B=(4, 2), C=(2, 3), W=(3, 4))
S, T = matrices("S T", S=(3, 3), T=(3, 3))
X, R = matrices("X R", X=(n, 3), R=(n, 4))
b, col = matrices("b col", b=(1, 4), col=(3, 1))
c, p = sp.symbols("c p")
x, y, z = sp.symbols("x y z")


def readout(m):
    """sum(D ⊙ M) for a random data matrix D: a random projection of M's Jacobian."""
    d = sp.MatrixSymbol(f"D{m.shape[0]}x{m.shape[1]}".replace("n", "N"), *m.shape)
    return sp.Trace(sp.MatMul(sp.Transpose(d), m))


def elementwise(f):
    u = sp.Dummy("u", real=True)
    return A.applyfunc(sp.Lambda(u, f(u)))


MATRIX_CASES = {
    "matmul": (readout(X * W), [W]),
    "matmul_both": (readout(A * B), [A, B]),
    "matmul_chain": (readout(A * B * C), [A, B, C]),
    "add": (readout(A + W + A), [A, W]),
    "subtract": (readout(A - W), [A, W]),
    "hadamard": (readout(sp.HadamardProduct(A, W, A)), [A, W]),
    "hadamard_power": (readout(sp.HadamardPower(A, 3)), [A]),
    "hadamard_power_param": (readout(sp.HadamardPower(sb.softplus(A), p)), [A, p]),
    "scale_param": (readout(sp.MatMul(c, A)), [A, c]),
    "scale_const": (readout(sp.MatMul(sp.Rational(2, 3), A)), [A]),
    "transpose": (readout(sp.MatMul(sp.Transpose(W), A)), [A, W]),
    "trace": (sp.Trace(S) + 1, [S]),
    "trace_power": (sp.Trace(S * S * T), [S, T]),
    "inverse": (readout(sp.Inverse(S + 4 * sp.Identity(3)) * A), [S, A]),
    "matrix_power": (sp.Trace(S**3), [S]),
    "frobenius": (sp.Trace(A.T * W), [A, W]),
    "element": (3 * S[1, 1] + S[0, 2] ** 2, [S]),
    "broadcast_rows": (readout(sp.MatMul(sp.OneMatrix(n, 1), b)), [b]),
    "broadcast_cols": (readout(sp.MatMul(col, sp.OneMatrix(1, 4))), [col]),
    "column_sums": (readout(sp.MatMul(sp.OneMatrix(1, 3), A)), [A]),
    "row_sums": (readout(sp.MatMul(A, sp.OneMatrix(4, 1))), [A]),
    "dense": (readout(sb.dense(X, W, b)), [W, b]),
    "softmax": (readout(sb.softmax(A)), [A]),
    "log_softmax": (readout(sb.log_softmax(A)), [A]),
    "softmax_cross_entropy": (sb.softmax_cross_entropy(X * W, R), [W]),
    "mse": (sb.mse(A, W), [A]),
    "sigmoid": (readout(sb.sigmoid(A)), [A]),
    "tanh": (readout(sb.tanh(A)), [A]),
    "relu": (readout(sb.relu(A)), [A]),
    "leaky_relu": (readout(sb.leaky_relu(A, sp.Rational(1, 10))), [A]),
    "softplus": (readout(sb.softplus(A)), [A]),
    "exp": (readout(elementwise(sp.exp)), [A]),
    "sin": (readout(elementwise(sp.sin)), [A]),
    "cos": (readout(elementwise(sp.cos)), [A]),
    "log1p_square": (readout(elementwise(lambda u: sp.log(1 + u**2))), [A]),
    "sqrt": (readout(elementwise(lambda u: sp.sqrt(1 + u**2))), [A]),
    "abs": (readout(elementwise(sp.Abs)), [A]),
    "lambda_with_param": (readout(A.applyfunc(sp.Lambda(z, c * z**2 + sp.exp(c * z)))), [A, c]),
    "nested_maps": (readout(sb.sigmoid(sb.tanh(A))), [A]),
}

SCALAR_CASES = {
    "add_mul": ((x * c + y * p) * c, [c, p]),
    "pow": (c**3 + p**-2 * x, [c, p]),
    "pow_param_exponent": (sp.exp(c) ** p, [c, p]),
    "exp_log": (sp.log(1 + sp.exp(c * x)), [c]),
    "trig": (sp.sin(c) * sp.cos(p * x) + sp.tan(c / 3), [c, p]),
    "sigmoid": (sb.sigmoid(c * x + p), [c, p]),
    "relu": (sb.relu(c * x) * p, [c, p]),
    "leaky_relu": (sb.leaky_relu(c * x) + p, [c, p]),
    "softplus": (sb.softplus(c - p * x), [c, p]),
    "logsumexp": (sb.softmax_cross_entropy([c * x, p, c + p], [x, y, 1 - x - y]), [c, p]),
    "max": (sp.Max(c, p * x), [c, p]),
    "max_zero_is_relu": (sp.Max(0, c * x), [c]),
    "abs": (sp.Abs(c - x), [c]),
    "fan_out": (sb.sigmoid(c) * sb.sigmoid(c) + sb.sigmoid(c) * p, [c, p]),
}

# At 0 the frameworks disagree among themselves (max ties, |x|' in JAX) or the point is singular.
AT_ZERO_DIFFERS = {"max", "max_zero_is_relu", "pow", "pow_param_exponent", "hadamard_power_param",
                   "abs"}


def _model(cases, name):
    loss, params = cases[name]
    return sb.Model(loss, params=params, name=name)


@pytest.mark.parametrize("name", list(MATRIX_CASES))
def test_matrix_rule_matches_references(name):
    assert_matches(_model(MATRIX_CASES, name), ["fd", *AUTODIFF])


@pytest.mark.parametrize("name", list(SCALAR_CASES))
def test_scalar_rule_matches_references(name):
    assert_matches(_model(SCALAR_CASES, name), ["fd", *AUTODIFF])


def _zeros(model):
    return {q.name: np.zeros(tuple(int(d) for d in q.shape)) if q.is_Matrix else np.float64(0.0)
            for q in model.params}


@pytest.mark.parametrize("name", [k for k in MATRIX_CASES if k not in AT_ZERO_DIFFERS])
def test_matrix_rule_at_zero_matches_autodiff(name):
    model = _model(MATRIX_CASES, name)
    assert_matches(model, AUTODIFF, params=_zeros(model))


@pytest.mark.parametrize("name", [k for k in SCALAR_CASES if k not in AT_ZERO_DIFFERS])
def test_scalar_rule_at_zero_matches_autodiff(name):
    model = _model(SCALAR_CASES, name)
    assert_matches(model, AUTODIFF, params=_zeros(model))


def test_relu_gradient_at_zero_is_zero_like_torch():
    model = sb.Model(readout(sb.relu(A)), params=[A])
    module = sb.compile(sb.derive(model))
    data = {"D3x4": np.ones((3, 4))}
    _, grads = module.loss_and_grad({"A": np.zeros((3, 4))}, **data)
    assert np.all(grads["A"] == 0.0)


def test_leaky_relu_gradient_at_zero_is_alpha_like_torch():
    model = sb.Model(sb.leaky_relu(c, sp.Rational(1, 5)), params=[c])
    _, grads = sb.compile(sb.derive(model)).loss_and_grad({"c": 0.0})
    assert grads["c"] == pytest.approx(0.2)


def test_sigmoid_backward_reuses_the_forward_output():
    d = sb.derive(sb.Model(readout(sb.sigmoid(A)), params=[A]))
    (act,) = [s for s in d.forward if isinstance(s.expr, ElementwiseApplyFunction)]
    grad_a = d.step("A_bar").expr
    assert act.symbol in grad_a.free_symbols
    assert "Sigmoid" not in str(grad_a) and "exp" not in str(grad_a)


def test_softmax_cross_entropy_gradient_is_fused_and_exact_for_any_labels():
    d = sb.derive(sb.Model(sb.softmax_cross_entropy(X * W, R), params=[W]))
    z_bar = [s for s in d.backward if s.role == "adjoint"][0]
    probs = [s for s in d.forward if isinstance(s.expr, sb.functions.Softmax)][0]
    row_sums = sp.MatMul(sp.MatMul(R, sp.OneMatrix(R.shape[1], 1)), sp.OneMatrix(1, R.shape[1]))
    fitted = sp.HadamardProduct(probs.symbol, row_sums)
    assert z_bar.expr == sp.MatMul(1 / n, sp.MatAdd(fitted, sp.MatMul(-1, R)))


@pytest.mark.parametrize("slope", [lambda u: u, lambda u: -u, lambda u: u / 2 + 1])
def test_a_gradient_of_data_alone_is_float_in_the_parameters_promotion(slope):
    """dL/dA of sum(D ⊙ f(A)) for a map of constant slope reads the data D alone: with integer D
    it is still a float array (NumPy's promotion of D and A, as if D were multiplied by A's
    slope), a new array, and -D or D / 2 where the slope is constant, not D ⊙ full array."""
    d = sb.derive(sb.Model(readout(elementwise(slope)), params=[A]))
    assert not d.step("A_bar").expr.has(sp.HadamardProduct)
    module = sb.compile(d)
    data = np.arange(12).reshape(3, 4)
    for dtype in (np.float32, np.float64):
        params = {"A": np.ones((3, 4), dtype)}
        _, grads = module.loss_and_grad(params, D3x4=data)
        assert grads["A"].dtype == np.result_type(data, params["A"]), dtype
        np.testing.assert_allclose(grads["A"], float(slope(sp.Integer(1)) - slope(sp.Integer(0))) * data)
        assert not np.shares_memory(grads["A"], data)
