"""The independent reference: Piecewise, atan2, sech, domains, size-only dims, emitted tests."""

import math
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from conftest import AUTODIFF, assert_matches, matrices, n

import symbp as sb
from symbp.check import domains, draw_inputs
from symbp.reference import reference_function
from symbp.refops import NumpyOps

REFERENCES = ["fd", *AUTODIFF]
x, d = sp.Symbol("x"), sp.Symbol("d")
a, b, t, w = sp.symbols("a b t w")
ELU = sp.Lambda(x, sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True)))
HUBER = sp.Lambda(d, sp.Piecewise((d**2 / 2, sp.Abs(d) <= 1), (sp.Abs(d) - sp.Rational(1, 2), True)))


def elu_model():
    X, W, Y = matrices("X W Y", X=(n, 3), W=(3, 2), Y=(n, 2))
    return sb.Model(sb.mse((X * W).applyfunc(ELU), Y), [W], name="elu_net")


def huber_model():
    X, W, Y = matrices("X W Y", X=(n, 3), W=(3, 2), Y=(n, 2))
    total = sp.OneMatrix(1, n) * (X * W - Y).applyfunc(HUBER) * sp.OneMatrix(2, 1)
    return sb.Model(sp.Trace(total) / n, [W], name="huber_net")


def size_only_model():
    V = sp.MatrixSymbol("V", 3, 2)
    H = (sp.OneMatrix(n, 3) * V).applyfunc(sp.tanh)
    return sb.Model(sp.Trace(H.T * H) / n, [V], name="ones_only")


@pytest.mark.parametrize("reference", REFERENCES)
def test_elu_written_as_piecewise_matches_each_reference(reference):
    assert sb.check(elu_model(), reference).ok


@pytest.mark.parametrize("reference", REFERENCES)
def test_huber_written_as_piecewise_matches_each_reference(reference):
    assert sb.check(huber_model(), reference).ok


@pytest.mark.parametrize("reference", REFERENCES)
def test_atan2_matches_each_reference(reference):
    assert sb.check(sb.Model((sp.atan2(a * t, b) - 1) ** 2, [a, b]), reference).ok


@pytest.mark.parametrize("fn", [sp.sech, sp.csch, sp.coth, sp.sec, sp.acot])
def test_reciprocal_functions_match_the_references(fn):
    assert_matches(sb.Model((fn(a * t + 2) - b) ** 2, [a, b]))


@pytest.mark.parametrize("fn", [sp.asech, sp.acoth, sp.acsch])
def test_inverse_reciprocal_functions_match_the_references(fn):
    lo = {sp.asech: 0.3, sp.acoth: 1.5, sp.acsch: 0.5}[fn]
    data = {"t": np.linspace(lo, lo + 0.4, 7)}
    assert_matches(sb.Model((fn(t) * a - 1) ** 2, [a]), data=data)


def test_reference_piecewise_values_are_elus():
    X, W = matrices("X W", X=(2, 2), W=(2, 2))
    model = sb.Model(sp.Trace((X * W).applyfunc(ELU)), [W])
    value = reference_function(model)(NumpyOps(), {"W": np.eye(2)},
                                      {"X": np.array([[2.0, 0.0], [0.0, -1.0]])}, {})
    assert value == pytest.approx(2.0 + (math.exp(-1.0) - 1.0), rel=1e-15)


def test_reference_huber_is_quadratic_inside_and_linear_outside():
    X, W = matrices("X W", X=(2, 2), W=(2, 2))
    model = sb.Model(sp.Trace((X * W).applyfunc(HUBER)), [W])
    value = reference_function(model)(NumpyOps(), {"W": np.eye(2)},
                                      {"X": np.array([[0.5, 0.0], [0.0, -3.0]])}, {})
    assert value == pytest.approx(0.125 + 2.5, rel=1e-15)


def test_reference_piecewise_without_default_is_nan_where_no_condition_holds():
    X, W = matrices("X W", X=(2, 2), W=(2, 2))
    model = sb.Model(sp.Trace((X * W).applyfunc(sp.Lambda(x, sp.Piecewise((x, x > 0))))), [W])
    value = reference_function(model)(NumpyOps(), {"W": np.eye(2)},
                                      {"X": np.array([[1.0, 0.0], [0.0, -1.0]])}, {})
    assert math.isnan(value)


@pytest.mark.parametrize("reference", REFERENCES)
def test_non_integer_power_of_data_is_checked_at_a_positive_base(reference):
    assert sb.check(sb.Model((t**w - 1) ** 2, [w]), reference).ok


def test_symbols_under_log_and_sqrt_are_drawn_inside_their_domain():
    X, W = matrices("X W", X=(n, 3), W=(3, 2))
    model = sb.Model(sp.Trace(W.T * X.applyfunc(sp.log).T * X.applyfunc(sp.sqrt) * W), [W])
    params, data = draw_inputs(model, {n: 5}, np.random.default_rng(0))
    assert data["X"].min() > 0
    assert_matches(model)


def test_symbols_declared_positive_are_drawn_positive():
    s = sp.Symbol("s", positive=True)
    assert domains(sb.Model((a * s - 1) ** 2, [a]))[0] == {"s": (0.5, 2.0)}


def test_arcsine_argument_is_drawn_inside_minus_one_one():
    ranges, unresolved = domains(sb.Model((sp.asin(t) * a) ** 2, [a]))
    assert ranges == {"t": (-0.9, 0.9)} and unresolved == []


def test_undefined_loss_is_refused_naming_the_node_instead_of_a_nan_mismatch():
    model = sb.Model(sp.log(-t**2 - 1) * a, [a])
    with pytest.raises(sb.SymbpError, match=r"the argument -t\*\*2 - 1 of log could not be kept"):
        sb.check(model, "fd")


@pytest.mark.parametrize("reference", REFERENCES)
def test_a_symbol_that_only_sizes_ones_gets_a_concrete_size(reference):
    report = sb.check(size_only_model(), reference, dims={"n": 5})
    assert report.ok and report.dims == {"n": 5}


def _run_emitted(tmp_path, model):
    sb.emit(sb.derive(model), tmp_path / f"{model.name}.py", tests=True)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path / f"test_{model.name}.py")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]


def test_emitted_tests_pass_for_piecewise_and_size_only_models(tmp_path):
    _run_emitted(tmp_path, elu_model())
    _run_emitted(tmp_path, size_only_model())


def test_emitted_tests_draw_a_power_base_in_its_domain(tmp_path):
    X, W = matrices("X W", X=(n, 3), W=(3, 2))
    _run_emitted(tmp_path, sb.Model(sp.Trace(W.T * sp.HadamardPower(X, sp.Rational(1, 2)).T
                                             * X * W), [W], name="root_net"))


def test_emit_with_tests_refuses_before_writing_when_the_reference_cannot_print(tmp_path):
    model = sb.Model((sp.sinc(a * t) - 1) ** 2, [a], name="sinc_net")
    with pytest.raises(sb.SymbpError, match=r"^the tests of sinc_net cannot be generated, so "
                                            r"nothing was written: .*sinc\(a\*t\)"):
        sb.emit(sb.derive(model), tmp_path / "sinc_net.py", tests=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("framework", ["numpy", *AUTODIFF])
def test_reference_of_a_scalar_piecewise_gives_elu_values_on_each_framework(framework):
    from symbp.refops import OPS

    model = sb.Model(sp.Piecewise((a * t + b, a * t + b > 0), (sp.exp(a * t + b) - 1, True)), [a, b])
    ops, f = OPS[framework](), reference_function(model)
    value = f(ops, {"a": 1.0, "b": 0.0}, {"t": ops.array(np.array([2.0, -1.0]))}, {})
    assert np.asarray(value.tolist()) == pytest.approx([2.0, math.exp(-1.0) - 1.0], rel=1e-15)


@pytest.mark.parametrize("framework", AUTODIFF)
def test_autodiff_of_a_scalar_piecewise_reference_gives_elu_gradients(framework):
    from symbp.refops import OPS

    model = sb.Model(sp.Piecewise((a * t, a * t > 0), (sp.exp(a * t) - 1, True)), [a])
    ops, f = OPS[framework](), reference_function(model)
    data = {"t": ops.array(np.array([2.0, -1.0]))}
    _, (grad,) = ops.value_and_grad(lambda p: ops.mean(f(ops, {"a": p[0]}, data, {})),
                                    [np.float64(1.0)])
    assert float(grad) == pytest.approx((2.0 - math.exp(-1.0)) / 2, rel=1e-14)


def test_arguments_positive_by_construction_leave_the_draws_normal():
    for loss in (sp.log(1 + sp.exp(-a * t)), sp.log(sb.sigmoid(a * t)), sp.sqrt(a**2 + 1) * t):
        assert domains(sb.Model(loss, [a])) == ({}, [])


def test_undefined_elementwise_log_names_the_matrix_it_is_applied_to():
    X, W = matrices("X W", X=(n, 3), W=(3, 2))
    mapped = (X * W - X * W * W.T * W).applyfunc(sp.Lambda(x, sp.log(x)))
    model = sb.Model(sp.Trace(sp.OneMatrix(1, n) * mapped * sp.OneMatrix(2, 1)) / n, [W])
    with pytest.raises(sb.SymbpError, match=r"the argument X\*W - X\*W\*W.T\*W of log could not"):
        sb.check(model, "fd")


# Models the tracer accepts since the trust fixes: top-level Piecewise, 1 x 1 activations.
def _elu(v):
    return sp.Piecewise((v, v > 0), (sp.exp(v) - 1, True))


def _huber(v):
    return sp.Piecewise((v**2 / 2, sp.Abs(v) <= 1), (sp.Abs(v) - sp.Rational(1, 2), True))


@pytest.mark.parametrize("reference", REFERENCES)
def test_scalar_elu_piecewise_matches_each_reference(reference):
    assert sb.check(sb.Model((_elu(a * t + b) - 1) ** 2, [a, b]), reference).ok


@pytest.mark.parametrize("reference", REFERENCES)
def test_scalar_huber_piecewise_matches_each_reference(reference):
    assert sb.check(sb.Model(_huber(a * t - b), [a, b]), reference).ok


@pytest.mark.parametrize("reference", REFERENCES)
def test_activation_of_a_one_by_one_matrix_matches_each_reference(reference):
    x, W = matrices("x W", x=(1, 3), W=(3, 1))
    model = sb.Model(sp.Trace(sb.sigmoid(x * W)), [W])
    assert sb.check(model, reference).ok


@pytest.mark.parametrize("reference", REFERENCES)
def test_piecewise_of_a_one_by_one_matrix_entry_matches_each_reference(reference):
    x, W = matrices("x W", x=(1, 3), W=(3, 1))
    model = sb.Model(_elu((x * W)[0, 0]), [W])
    assert sb.check(model, reference).ok
