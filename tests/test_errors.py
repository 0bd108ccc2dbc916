"""Bad input gets one clear sentence naming the culprit, never a SymPy traceback."""

import numpy as np
import pytest
import sympy as sp
from conftest import matrices, n

import symbp as sb
from symbp.examples import EXAMPLES

X, Y, W, b = matrices("X Y W b", X=(n, 4), Y=(n, 3), W=(4, 3), b=(1, 3))
x, w = sp.symbols("x w")


def one_sentence(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.endswith(".")
    return text


def test_param_missing_from_loss_is_named():
    with pytest.raises(sb.SymbpError) as exc:
        sb.Model((w * x) ** 2, params=[w, sp.Symbol("v")])
    assert "v does not appear in the loss" in one_sentence(exc)


def test_matrix_loss_names_its_shape():
    with pytest.raises(sb.SymbpError) as exc:
        sb.Model(X * W, params=[W])
    assert "(n, 3)" in one_sentence(exc)


def test_one_by_one_matrix_loss_is_accepted():
    v = sp.MatrixSymbol("v", 3, 1)
    model = sb.Model(v.T * v, params=[v])
    sb.check(model, "autograd")


def test_param_that_is_not_a_symbol_is_named():
    with pytest.raises(sb.SymbpError) as exc:
        sb.Model(w * x, params=[w * 2])
    assert "2*w" in one_sentence(exc)


def test_undefined_function_is_named():
    mystery = sp.Function("mystery")
    with pytest.raises(sb.SymbpError) as exc:
        sb.derive(sb.Model(mystery(w * x), params=[w]))
    assert "mystery" in one_sentence(exc)


def test_undefined_function_inside_applyfunc_is_named():
    mystery = sp.Function("mystery")
    with pytest.raises(sb.SymbpError) as exc:
        sb.derive(sb.Model(sp.Trace(Y.T * (X * W).applyfunc(mystery)), params=[W]))
    assert "mystery" in one_sentence(exc)


def test_unsupported_expression_is_named():
    with pytest.raises(sb.SymbpError) as exc:
        sb.derive(sb.Model(sp.Integral(w * x, x), params=[w]))
    assert "Integral" in one_sentence(exc)


def test_two_symbols_with_one_name_are_rejected():
    with pytest.raises(sb.SymbpError) as exc:
        sb.Model(sp.Symbol("a") * sp.Symbol("a", positive=True), params=[sp.Symbol("a")])
    assert "'a'" in one_sentence(exc)


def test_dimension_expression_is_rejected():
    Z = sp.MatrixSymbol("Z", 2 * n, 3)
    with pytest.raises(sb.SymbpError) as exc:
        sb.Model(sp.Trace(Z.T * Z), params=[Z])
    assert "2*n" in one_sentence(exc)


def test_dense_shape_mismatch_names_both_shapes():
    with pytest.raises(sb.SymbpError) as exc:
        sb.dense(X, sp.MatrixSymbol("V", 3, 3), b)
    text = one_sentence(exc)
    assert "(n, 4)" in text and "(3, 3)" in text


def test_dense_bias_shape_is_named():
    with pytest.raises(sb.SymbpError) as exc:
        sb.dense(X, W, sp.MatrixSymbol("c", 3, 1))
    assert "(1, 3)" in one_sentence(exc)


def test_softmax_of_a_scalar_is_refused():
    with pytest.raises(sb.SymbpError) as exc:
        sb.softmax(x)
    assert "list" in one_sentence(exc)


def test_unknown_reference_is_named():
    with pytest.raises(sb.SymbpError) as exc:
        sb.check(EXAMPLES["mlp"](), "tensorflow")
    assert "tensorflow" in one_sentence(exc)


@pytest.fixture(scope="module")
def mlp():
    return sb.compile(sb.derive(EXAMPLES["mlp"]()))


@pytest.fixture
def inputs():
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(size=(4, 8)), "b1": np.zeros((1, 8)),
              "W2": rng.normal(size=(8, 3)), "b2": np.zeros((1, 3))}
    return params, {"X": rng.normal(size=(5, 4)), "Y": np.eye(3)[[0, 1, 2, 0, 1]]}


def test_generated_wrong_shape_names_argument_and_expected_shape(mlp, inputs):
    params, data = inputs
    params["W1"] = np.zeros((3, 8))
    with pytest.raises(ValueError, match=r"W1 has shape \(3, 8\) but the model expects \(4, 8\)"):
        mlp.loss_and_grad(params, **data)


def test_generated_disagreeing_batch_sizes_are_named(mlp, inputs):
    params, data = inputs
    data["Y"] = data["Y"][:4]
    with pytest.raises(ValueError, match=r"Y has shape \(4, 3\) .* n = 5 from X"):
        mlp.loss(params, **data)


def test_generated_missing_argument_is_named(mlp, inputs):
    params, data = inputs
    del data["Y"]
    with pytest.raises(ValueError, match="missing data entry 'Y'"):
        mlp.loss(params, **data)
    del params["b2"]
    with pytest.raises(ValueError, match="missing params entry 'b2'"):
        mlp.loss(params, X=data["X"], Y=np.zeros((5, 3)))


def test_generated_unexpected_argument_is_named(mlp, inputs):
    params, data = inputs
    with pytest.raises(ValueError, match="unexpected data 'Z'"):
        mlp.loss(params, Z=1, **data)


def test_generated_params_must_be_a_dict(mlp, inputs):
    _, data = inputs
    with pytest.raises(ValueError, match="params must be a dict"):
        mlp.loss([1, 2], **data)


def test_symbol_names_cannot_inject_code():
    evil = sp.Symbol('x"); import os; os.system("echo pwned"); ("')
    weight = sp.Symbol("w\nimport os")
    model = sb.Model((weight * evil - 1) ** 2, params=[weight], name="evil")
    source = sb.generate(sb.derive(model))
    compiled = compile(source, "<evil>", "exec")
    assert not any(line.lstrip().startswith("import os") for line in source.splitlines())
    namespace = {}
    exec(compiled, namespace)
    loss, grads = namespace["loss_and_grad"]({weight.name: 2.0}, **{evil.name: np.array([1.0])})
    assert loss == pytest.approx(1.0) and grads[weight.name] == pytest.approx(2.0)


def test_data_named_like_a_generated_keyword_is_refused():
    lr = sp.Symbol("lr")
    with pytest.raises(sb.SymbpError) as exc:
        sb.Model((w * lr) ** 2, params=[w])
    assert "'lr'" in one_sentence(exc)
