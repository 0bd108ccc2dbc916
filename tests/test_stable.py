"""User-written log-sigmoid, softplus, sigmoid and log-softmax give finite, correct code."""

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from conftest import matrices, n

import symbp as sb
from symbp.examples import EXAMPLES
from symbp.stable import stabilize

EXTREMES = [-40.0, -1000.0, 1000.0]
w, x, t = sp.symbols("w x t")
z = w * x


def mp_sigmoid(v):
    return 1 / (1 + mp.exp(-v))


# (SymPy form of v, the same form in mpmath): each as users write it
FORMS = {
    "log_sigmoid": (lambda v: sp.log(sb.sigmoid(v)), lambda v: mp.log(mp_sigmoid(v))),
    "minus_log_sigmoid": (lambda v: -sp.log(sb.sigmoid(v)), lambda v: -mp.log(mp_sigmoid(v))),
    "log_one_plus_exp": (lambda v: sp.log(1 + sp.exp(v)), lambda v: mp.log(1 + mp.exp(v))),
    "log_one_plus_exp_minus": (lambda v: sp.log(1 + sp.exp(-v)), lambda v: mp.log(1 + mp.exp(-v))),
    "one_over_one_plus_exp": (lambda v: 1 / (1 + sp.exp(-v)), mp_sigmoid),
    "exp_over_one_plus_exp": (lambda v: sp.exp(v) / (1 + sp.exp(v)),
                              lambda v: mp.exp(v) / (1 + mp.exp(v))),
    "log_one_minus_sigmoid": (lambda v: sp.log(1 - sb.sigmoid(v)),
                              lambda v: mp.log(1 - mp_sigmoid(v))),
    "log_of_written_sigmoid": (lambda v: sp.log(1 / (1 + sp.exp(-v))),
                               lambda v: mp.log(mp_sigmoid(v))),
}


def expected(mp_loss, point):
    """The loss and its gradient at ``point`` (name -> float), in 500-digit arithmetic
    (enough for 1 - sigmoid(1000) = 5e-435)."""
    with mp.workdps(500):
        return _expected(mp_loss, point)


def _expected(mp_loss, point):
    names = list(point)
    args = [mp.mpf(point[k]) for k in names]
    value = mp_loss(*args)
    grads = {k: mp.diff(lambda *a: mp_loss(*a), args, tuple(int(j == i) for j in range(len(args))))
             for i, k in enumerate(names)}
    return float(value), {k: float(g) for k, g in grads.items()}


def assert_close(ours, exact):
    assert np.isfinite(ours)
    assert float(ours) == pytest.approx(exact, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("z0", EXTREMES)
def test_scalar_form_is_finite_and_exact_at_extreme_logits(form, z0):
    sym, exact = FORMS[form]
    loss, grads = sb.compile(sb.derive(sb.Model(sym(z), [w]))).loss_and_grad({"w": 1.0},
                                                                             x=np.array([z0]))
    value, grad = expected(lambda wv: exact(wv * z0), {"w": 1.0})
    assert_close(loss, value)
    assert_close(grads["w"], grad["w"])


@pytest.mark.parametrize("form", list(FORMS))
def test_scalar_form_matches_finite_differences_at_ordinary_logits(form):
    assert sb.check(sb.Model(FORMS[form][0](z), [w]), "fd").ok


MATRIX_FORMS = {
    "softplus_lambda": lambda Z: Z.applyfunc(sp.Lambda(t, sp.log(1 + sp.exp(t)))),
    "softplus_minus_lambda": lambda Z: Z.applyfunc(sp.Lambda(t, sp.log(1 + sp.exp(-t)))),
    "sigmoid_lambda": lambda Z: Z.applyfunc(sp.Lambda(t, 1 / (1 + sp.exp(-t)))),
    "exp_ratio_lambda": lambda Z: Z.applyfunc(sp.Lambda(t, sp.exp(t) / (1 + sp.exp(t)))),
    "log_sigmoid_lambda": lambda Z: Z.applyfunc(sp.Lambda(t, sp.log(sb.sigmoid(t)))),
    "log_of_sigmoid_map": lambda Z: sb.sigmoid(Z).applyfunc(sp.log),
    "log_one_minus_sigmoid_map": lambda Z: sb.sigmoid(Z).applyfunc(sp.Lambda(t, sp.log(1 - t))),
}
MATRIX_EXACT = {
    "softplus_lambda": FORMS["log_one_plus_exp"][1],
    "softplus_minus_lambda": FORMS["log_one_plus_exp_minus"][1],
    "sigmoid_lambda": mp_sigmoid,
    "exp_ratio_lambda": mp_sigmoid,
    "log_sigmoid_lambda": FORMS["log_sigmoid"][1],
    "log_of_sigmoid_map": FORMS["log_sigmoid"][1],
    "log_one_minus_sigmoid_map": FORMS["log_one_minus_sigmoid"][1],
}


def column_model(form):
    X, W = matrices("X W", X=(n, 1), W=(1, 1))
    mapped = MATRIX_FORMS[form](X * W)
    return sb.Model(sp.Trace(sp.OneMatrix(1, n) * mapped) / n, [W], name=form)


@pytest.mark.parametrize("form", list(MATRIX_FORMS))
def test_elementwise_form_is_finite_and_exact_at_extreme_logits(form):
    module = sb.compile(sb.derive(column_model(form)))
    loss, grads = module.loss_and_grad({"W": np.ones((1, 1))}, X=np.array([EXTREMES]).T)
    exact = MATRIX_EXACT[form]
    value, grad = expected(lambda wv: sum(exact(wv * z0) for z0 in EXTREMES) / len(EXTREMES),
                           {"W": 1.0})
    assert_close(loss, value)
    assert_close(grads["W"][0, 0], grad["W"])


@pytest.mark.parametrize("form", list(MATRIX_FORMS))
def test_elementwise_form_matches_finite_differences_at_ordinary_logits(form):
    assert sb.check(column_model(form), "fd").ok


LOGITS = np.array([[0.0, -1000.0, 1000.0], [40.0, -40.0, 0.0]])
LABELS = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def log_softmax_model():
    X, W, Y = matrices("X W Y", X=(2, 2), W=(2, 3), Y=(2, 3))
    log_probs = sb.softmax(X * W).applyfunc(sp.log)
    return sb.Model(-sp.Trace(Y.T * log_probs) / 2, [W], name="log_softmax_written")


def mp_cross_entropy(*ws):
    rows = [ws[0:3], ws[3:6]]
    total = 0
    for row, labels in zip(rows, LABELS, strict=True):
        lse = mp.log(sum(mp.exp(v) for v in row))
        total -= sum(float(y) * (v - lse) for v, y in zip(row, labels, strict=True))
    return total / 2


def test_log_of_softmax_is_finite_and_exact_at_extreme_logits():
    module = sb.compile(sb.derive(log_softmax_model()))
    loss, grads = module.loss_and_grad({"W": LOGITS}, X=np.eye(2), Y=LABELS)
    point = {f"w{k}": v for k, v in enumerate(LOGITS.ravel())}
    value, grad = expected(mp_cross_entropy, point)
    assert_close(loss, value)
    for k, g in enumerate(grads["W"].ravel()):
        assert_close(g, grad[f"w{k}"])


def test_log_of_softmax_matches_finite_differences_at_ordinary_logits():
    assert sb.check(log_softmax_model(), "fd").ok


def test_log_of_a_softmax_entry_becomes_a_log_softmax_entry():
    Z = sp.MatrixSymbol("Z", 2, 3)
    assert stabilize(sp.log(sb.softmax(Z)[0, 1])) == sb.log_softmax(Z)[0, 1]


def test_log_of_a_list_softmax_is_finite_at_extreme_logits():
    model = sb.Model(-sp.log(sb.softmax([z, 2 * w])[0]), [w])
    loss, grads = sb.compile(sb.derive(model)).loss_and_grad({"w": 1.0}, x=np.array([-1000.0]))
    value, grad = expected(lambda wv: mp.log(1 + mp.exp(2 * wv + 1000 * wv)), {"w": 1.0})
    assert_close(loss, value)
    assert_close(grads["w"], grad["w"])


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_models_without_these_forms_are_left_as_the_same_objects(name):
    model = EXAMPLES[name]()
    assert stabilize(model.loss) is model.loss


def test_a_named_sub_expression_is_kept_rather_than_rewritten_away():
    inner = 1 + sp.exp(z)
    model = sb.Model(sp.log(inner), [w], names={inner: "denominator"})
    assert stabilize(model.loss, keep=model.names) == model.loss
    assert "denominator" in str(sb.derive(model))


def test_rewrites_are_deterministic():
    expr = sp.log(1 + sp.exp(-z)) + sp.log(sb.sigmoid(2 * z)) + 1 / (1 + sp.exp(z))
    assert sp.srepr(stabilize(expr)) == sp.srepr(stabilize(expr))
    assert stabilize(expr) == sb.softplus(-z) - sb.softplus(-2 * z) + sb.sigmoid(-z)
