"""Regression tests from code review: edge cases a user can reach."""

import numpy as np
import pytest
import sympy as sp
from conftest import AUTODIFF, assert_matches, matrices, n

import symbp as sb

X, W, Y, A, V, L = matrices("X W Y A V L", X=(n, 3), W=(3, 2), Y=(n, 2), A=(3, 3), V=(3, 3),
                            L=(n, 3))
w, x = sp.symbols("w x")


def grads_dtype(model, params, data):
    value, grads = sb.compile(sb.derive(model)).loss_and_grad(params, **data)
    return {np.asarray(value).dtype, *(np.asarray(g).dtype for g in grads.values())}


def test_scalar_model_with_data_only_in_its_outputs():
    mod = sb.compile(sb.derive(sb.Model((w - 1) ** 2, [w], outputs=w * x)))
    assert mod.loss_and_grad({"w": 0.5}) == (0.25, {"w": -1.0})
    np.testing.assert_allclose(mod.predict({"w": 2.0}, x=np.array([1.0, 3.0])), [2.0, 6.0])


@pytest.mark.parametrize("loss, culprit", [
    (sp.erf(w * x), "erf"),
    (sp.sign(w) * w * x, "DiracDelta"),
])
def test_function_numpy_cannot_print_is_named(loss, culprit):
    with pytest.raises(sb.SymbpError, match=culprit):
        sb.compile(sb.derive(sb.Model(loss, [w])))


def test_negative_matrix_power_checks_against_every_reference():
    model = sb.Model(sp.Trace(X * (A + 4 * sp.Identity(3)) ** -2 * X.T) / n, [A])
    assert_matches(model, ["fd", *AUTODIFF])


def test_trace_of_a_non_square_matrix_is_refused():
    with pytest.raises(sb.SymbpError, match="square"):
        sb.derive(sb.Model(sp.Trace(X * W), [W]))


@pytest.mark.parametrize("loss, params", [
    (sp.Trace(sb.leaky_relu(X * W, sp.Rational(1, 5)).T * Y), [W]),
    (sp.Trace(A * A), [A]),
    (sp.Trace((X * W).T * sp.OneMatrix(n, 2)), [W]),
    (W[1, 0], [W]),
    (sb.relu(w) * x, [w]),
])
def test_float32_in_float32_out(loss, params):
    f32 = np.float32
    values = {"W": np.ones((3, 2), f32), "A": np.ones((3, 3), f32), "w": f32(0.5)}
    data = {"X": np.ones((5, 3), f32), "Y": np.ones((5, 2), f32), "x": np.ones(4, f32)}
    model = sb.Model(loss, params)
    used = {s.name for s in model.data}
    assert grads_dtype(model, {p.name: values[p.name] for p in params},
                       {k: v for k, v in data.items() if k in used}) == {np.dtype(f32)}


def test_loss_that_is_a_parameter_has_a_gradient_of_its_type():
    _, grads = sb.compile(sb.derive(sb.Model(w, [w]))).loss_and_grad({"w": np.float32(2)})
    assert grads["w"] == 1 and grads["w"].dtype == np.float32


@pytest.mark.parametrize("labels", [2 * L, V * 0 + L * V], ids=["scaled data", "computed"])
def test_softmax_cross_entropy_with_computed_labels_is_exact(labels):
    model = sb.Model(sb.softmax_cross_entropy(X * V, labels), [V])
    assert_matches(model, ["fd", *AUTODIFF])


def test_fit_does_not_shuffle_a_dimension_that_sizes_a_parameter():
    k = sp.Symbol("k", integer=True, positive=True)
    Xk, Mk, Wk, Yk = matrices("X M W Y", X=(n, k), M=(k, k), W=(k, 2), Y=(n, 2))
    E = Xk * Mk * Wk - Yk
    mod = sb.compile(sb.derive(sb.Model(sp.Trace(E.T * E) / n, [Wk])))
    assert mod.BATCHED == ["X", "Y"]


def test_teaching_values_must_cover_every_input():
    with pytest.raises(sb.SymbpError, match="no number for x"):
        sb.derive(sb.Model((w * x - 1) ** 2, [w])).explain(values={w: 0.5})


@pytest.mark.parametrize("fn", [sp.sec, sp.csc, sp.cot, sp.acot])
def test_more_sympy_functions_check_against_references(fn):
    assert_matches(sb.Model(fn(w * x + 2), [w]), ["fd", *AUTODIFF])


@pytest.mark.parametrize("call, message", [
    (lambda: sb.Model(None, [w]), "not a SymPy expression"),
    (lambda: sb.Model(w * x, [w], names=["a"]), "names must be a dict"),
    (lambda: sb.derive(w * x), "needs a symbp.Model"),
    (lambda: sb.check(w * x), "needs a symbp.Model"),
    (lambda: sb.generate(sb.Model(w * x, [w])), "expected a Derivation"),
])
def test_wrong_argument_types_get_a_sentence(call, message):
    with pytest.raises(sb.SymbpError, match=message):
        call()


def test_emit_onto_a_directory_is_refused(tmp_path):
    (tmp_path / "net.py").mkdir()
    with pytest.raises(sb.SymbpError, match="is a directory"):
        sb.emit(sb.derive(sb.Model(w * x, [w])), tmp_path / "net.py")


@pytest.fixture(scope="module")
def mlp():
    from symbp.examples import EXAMPLES

    return sb.compile(sb.derive(EXAMPLES["mlp"]()))


@pytest.mark.parametrize("kwargs, message", [
    ({"data": [1, 2]}, "dict name -> array"),
    ({"batch_size": 0}, "positive integer"),
    ({"data": {"X": np.zeros((0, 4)), "Y": np.zeros((0, 3))}}, "no samples"),
])
def test_fit_names_bad_arguments(mlp, kwargs, message):
    args = {"data": mlp.random_data(rng=0, n=8), **kwargs}
    data = args.pop("data")
    with pytest.raises(ValueError, match=message):
        mlp.fit(mlp.init_params(rng=0), data, verbose=False, **args)


def test_ragged_data_names_the_argument(mlp):
    params = mlp.init_params(rng=0)
    with pytest.raises(ValueError, match="data entry 'X' is not an array of numbers"):
        mlp.loss(params, X=[[1.0, 2.0], [3.0]], Y=np.eye(3)[:2])


def test_unknown_dimension_name_is_refused(mlp):
    with pytest.raises(ValueError, match="unknown dimension N"):
        mlp.random_data(N=5)


def test_teaching_text_keeps_compound_exponents_and_products_unambiguous():
    p = sp.Symbol("p")
    Z = sp.HadamardProduct(X * W, X * W) + sp.OneMatrix(n, 2)
    d = sb.derive(sb.Model(sp.Trace(sp.HadamardPower(Z, p).T * sp.OneMatrix(n, 2)), [W, p]))
    assert "^∘(p - 1)" in str(d)
    assert r"\mathbf{1} \left(H_{1} \odot" in d.latex()
    assert str(sb.derive(sb.Model((X * W)[1, 0] ** 2, [W])).forward[0]).startswith("t1 = X[1, 0]")


def test_demo_plot_never_overwrites_a_foreign_file(tmp_path, capsys):
    from symbp.examples.demo import plot_history as _plot

    pytest.importorskip("matplotlib")
    target = tmp_path / "curve.png"
    target.write_bytes(b"my picture")
    _plot([1.0, 0.5], str(target))
    assert target.read_bytes() == b"my picture" and "not saved" in capsys.readouterr().out
    other = tmp_path / "mine.png"
    _plot([1.0, 0.5], str(other))
    _plot([1.0, 0.4], str(other))
    assert other.read_bytes().startswith(b"\x89PNG")
