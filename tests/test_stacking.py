"""The stacked NumPy body of a long gradient sum (symbp/stacking.py).

An unrolled RNN's dL/dWh, dL/dWx and dL/db are sums over its steps. On NumPy arrays of one
float type ``loss_and_grad`` runs ``_loss_and_grad_stacked``, which computes each summed value
into a slot of a stacked array and makes each sum one product. Its gradients are checked
against an RNN written by hand in HIPS autograd, never against symbp's own check.
"""

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.stacking import MIN_TERMS, _into, _scratched

autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")

n = sp.Symbol("n", integer=True, positive=True)


def rnn(steps, inputs, hidden, classes, bias=True, per_step=False, act="tanh"):
    """An Elman RNN over X1..XT, softmax cross-entropy on the last state (``per_step``: on every
    state's output, each with its target Yt, so that dL/dV and dL/dc are sums over the steps too;
    ``act``: tanh or sigmoid)."""
    Wx, Wh = sp.MatrixSymbol("Wx", inputs, hidden), sp.MatrixSymbol("Wh", hidden, hidden)
    b = sp.MatrixSymbol("b", 1, hidden)
    V, c = sp.MatrixSymbol("V", hidden, classes), sp.MatrixSymbol("c", 1, classes)
    h, losses = None, []
    for t in range(1, steps + 1):
        X = sp.MatrixSymbol(f"X{t}", n, inputs)
        z = sb.dense(X, Wx, b) if bias else X * Wx
        h = getattr(sb, act)(z if h is None else sp.MatAdd(z, h * Wh))
        if per_step or t == steps:
            Y = sp.MatrixSymbol(f"Y{t}" if per_step else "Y", n, classes)
            losses.append(sb.softmax_cross_entropy(sb.dense(h, V, c), Y))
    params = [Wx, Wh, *([b] if bias else []), V, c]
    return sb.Model(sp.Add(*losses), params=params, name=f"rnn{steps}")


def reference(params, data, steps, bias=True, per_step=False, act="tanh"):
    """The loss and gradients of ``rnn(...)``, in autograd."""
    names = sorted(params)

    def loss(values):
        p = dict(zip(names, values, strict=True))
        h, total = None, 0.0
        for t in range(1, steps + 1):
            z = data[f"X{t}"] @ p["Wx"] + (p["b"] if bias else 0)
            z = z if h is None else z + h @ p["Wh"]
            h = anp.tanh(z) if act == "tanh" else 1 / (1 + anp.exp(-z))
            if per_step or t == steps:
                logits = h @ p["V"] + p["c"]
                shift = logits - anp.max(logits, axis=1, keepdims=True)
                logp = shift - anp.log(anp.sum(anp.exp(shift), axis=1, keepdims=True))
                Y = data[f"Y{t}" if per_step else "Y"]
                total = total - anp.sum(Y * logp) / Y.shape[0]
        return total

    values = [params[k] for k in names]
    return loss(values), dict(zip(names, autograd.grad(loss)(values), strict=True))


def calls(module):
    """Wrap ``module._loss_and_grad_stacked`` to count its calls."""
    counted = {"calls": 0}
    inner = module._loss_and_grad_stacked

    def wrapper(*args):
        counted["calls"] += 1
        return inner(*args)

    module._loss_and_grad_stacked = wrapper
    return counted


@pytest.mark.parametrize("steps,inputs,hidden,samples,bias,per_step,act", [
    (8, 3, 4, 5, True, False, "tanh"),
    (MIN_TERMS, 1, 1, 1, True, False, "tanh"),   # the fewest steps stacked, 1x1 matrices, one sample
    (9, 2, 3, 4, False, False, "tanh"),          # no bias
    (8, 3, 2, 2, True, True, "tanh"),            # a loss on every step: dL/dV and dL/dc are sums too
    (8, 2, 3, 4, True, True, "sigmoid"),         # the factor A (1 - A) in the scratch array
])
def test_stacked_gradients_match_autograd(steps, inputs, hidden, samples, bias, per_step, act):
    model = rnn(steps, inputs, hidden, 3, bias, per_step, act)
    if act == "sigmoid":  # the stacked body computes its derivative's factor in a scratch array
        assert "out=tmp)" in sb.generate(sb.derive(model)).split("def _loss_and_grad_stacked(")[1]
    module = sb.compile(sb.derive(model))
    counted = calls(module)
    params, data = module.init_params(rng=0), module.random_data(rng=1, samples=samples)
    params = {k: v + 0.1 * np.random.default_rng(2).normal(size=v.shape) for k, v in params.items()}
    before = {k: v.copy() for k, v in params.items()}
    loss, grads = module.loss_and_grad(params, **data)
    assert counted["calls"] == 1
    want_loss, want = reference(params, data, steps, bias, per_step, act)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
    assert grads.keys() == want.keys()
    for name in want:
        assert grads[name].shape == params[name].shape
        np.testing.assert_allclose(grads[name], want[name], rtol=1e-9, atol=1e-12, err_msg=name)
    for name in params:  # the parameters are not touched, and a second call gives the same
        np.testing.assert_array_equal(params[name], before[name])
    again = module.loss_and_grad(params, **data)[1]
    assert all(np.array_equal(again[k], grads[k]) for k in grads)
    owners = [np.shares_memory(grads[a], grads[b]) for a in grads for b in grads if a < b]
    assert not any(owners)


def test_float32_stays_float32_mixed_floats_compute_in_the_wider_and_integers_take_the_generic_body():
    module = sb.compile(sb.derive(rnn(8, 3, 4, 3)))
    counted = calls(module)
    params, data = module.init_params(rng=0), module.random_data(rng=1, samples=5)
    _, want = reference(params, data, 8)
    loss, grads = module.loss_and_grad({k: v.astype(np.float32) for k, v in params.items()},
                                       **{k: v.astype(np.float32) for k, v in data.items()})
    assert counted["calls"] == 1 and loss.dtype == np.float32
    for name in want:
        assert grads[name].dtype == np.float32
        np.testing.assert_allclose(grads[name], want[name], rtol=2e-4, atol=1e-6, err_msg=name)
    mixed = {**data, "X1": data["X1"].astype(np.float32)}  # read as float64: the stacked body
    _, grads = module.loss_and_grad(params, **mixed)
    _, want = reference(params, mixed, 8)
    assert counted["calls"] == 2
    for name in want:
        assert grads[name].dtype == np.float64
        np.testing.assert_allclose(grads[name], want[name], rtol=1e-10, err_msg=name)
    whole = {**data, "X1": np.round(3 * data["X1"]).astype(np.int64)}  # integers: the generic body
    _, grads = module.loss_and_grad(params, **whole)
    _, want = reference(params, {**whole, "X1": whole["X1"].astype(np.float64)}, 8)
    assert counted["calls"] == 2
    for name in want:
        np.testing.assert_allclose(grads[name], want[name], rtol=1e-10, err_msg=name)


def test_torch_tensors_take_the_generic_body():
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    module = sb.compile(sb.derive(rnn(8, 2, 3, 2)))
    counted = calls(module)
    params, data = module.init_params(rng=0), module.random_data(rng=1, samples=4)
    _, want = reference(params, data, 8)
    _, grads = module.loss_and_grad({k: torch.from_numpy(v) for k, v in params.items()},
                                    **{k: torch.from_numpy(v) for k, v in data.items()})
    assert counted["calls"] == 0
    for name in want:
        np.testing.assert_allclose(grads[name].numpy(), want[name], rtol=1e-10, err_msg=name)


def test_the_stacked_body_reads_as_the_sums_it_replaces():
    source = sb.generate(sb.derive(rnn(8, 3, 4, 3)))
    stacked = source.split("def _loss_and_grad_stacked(")[1].split("\ndef ")[0]
    generic = source.split("def loss_and_grad(")[1].split("\ndef ")[0]
    assert "out=" not in generic and "_loss_and_grad_stacked(" in generic
    # the states and the adjoints of the pre-activations are computed into stacked slots
    assert "A1 = xp.tanh(Z1, out=A7_to_A1[6])" in stacked
    # their elementwise factor 1 - A1**2 in one scratch array, allocated once for every step
    # (the del of A1 waits for the statement those lines compute the operand of)
    assert "    xp.square(A1, out=tmp)\n    xp.subtract(1, tmp, out=tmp)\n" \
        "    Z1_bar = xp.multiply(A1_bar, tmp, out=Z8_bar_to_Z1_bar[7])\n    del A1, tmp, A1_bar\n" in stacked
    assert stacked.count("tmp = xp.empty((n, 4), dtype=Wx.dtype)") == 1
    # every sum over the steps is one product, and X1 Wx + b ... X8 Wx + b is one product too
    assert "Wh_bar = A7_to_A1.reshape(-1, 4).T @ Z8_bar_to_Z1_bar[:7].reshape(-1, 4)" in stacked
    assert "b_bar = xp.sum(Z8_bar_to_Z1_bar.reshape(-1, 4), axis=0, keepdims=True)" in stacked
    assert "Wx_bar = X8_to_X1.reshape(-1, 3).T @ Z8_bar_to_Z1_bar.reshape(-1, 4)" in stacked
    assert "X8_to_X1_Wx_b = (X8_to_X1.reshape(-1, 3) @ Wx + b).reshape(8, n, -1)" in stacked
    assert "Z2 = X8_to_X1_Wx_b[6]\n    Z2 += A1 @ Wh\n" in stacked  # its slot is read once: in place
    # the chain-rule comments are loss_and_grad's
    comments = [line.strip() for line in generic.splitlines() if line.strip().startswith("# dL/d")]
    assert comments and all(c in stacked for c in comments)


def test_fewer_steps_keep_one_body():
    source = sb.generate(sb.derive(rnn(MIN_TERMS - 1, 3, 4, 3)))
    assert "_loss_and_grad_stacked" not in source and "out=" not in source


@pytest.mark.parametrize("code,into", [
    ("A_bar * (1 - A**2)", "xp.multiply(A_bar, 1 - A**2, out=S[0])"),
    ("X @ W + b", "xp.add(X @ W, b, out=S[0])"),
    ("Z @ W.T", "xp.matmul(Z, W.T, out=S[0])"),
    ("xp.tanh(Z1)", "xp.tanh(Z1, out=S[0])"),
    ("xp.maximum(Z, 0)", "xp.maximum(Z, 0, out=S[0])"),
    ("A**2", None),                       # NumPy squares A**2 by a fast path np.power lacks
    ("xp.sum(Z, axis=0, keepdims=True)", None),
    ("xp.where(Z > 0, Z, 0.0)", None),
    ("-Z", None),
])
def test_into(code, into):
    assert _into(code, "S[0]") == into


@pytest.mark.parametrize("call,lines,out", [
    ("xp.multiply(A_bar, 1 - A**2, out=S[0])",
     ["xp.square(A, out=tmp)", "xp.subtract(1, tmp, out=tmp)"], "xp.multiply(A_bar, tmp, out=S[0])"),
    ("xp.multiply(A_bar, A * (1 - A), out=S[0])",            # sigmoid: one scratch for both steps
     ["xp.subtract(1, A, out=tmp)", "xp.multiply(A, tmp, out=tmp)"], "xp.multiply(A_bar, tmp, out=S[0])"),
    ("xp.multiply(-2 * A + 0.5, A_bar, out=S[0])",           # the first argument, negative numbers
     ["xp.multiply(-2, A, out=tmp)", "xp.add(tmp, 0.5, out=tmp)"], "xp.multiply(tmp, A_bar, out=S[0])"),
    ("xp.multiply(A_bar, -A, out=S[0])", ["xp.negative(A, out=tmp)"], "xp.multiply(A_bar, tmp, out=S[0])"),
    ("xp.multiply(A_bar, 1 - b**2, out=S[0])", [], None),   # b is not of the slot's shape
    ("xp.multiply(A_bar, (A > 0.0), out=S[0])", [], None),  # a comparison: left as it is
    ("xp.multiply(A_bar, A**3, out=S[0])", [], None),       # np.power: no fast path to gain
    ("xp.multiply(A_bar, A * A + A * A, out=S[0])", [], None),  # two operations: two scratches
    ("xp.multiply(A_bar, xp.exp(A) - 1, out=S[0])", [], None),  # a call inside
    ("xp.tanh(Z, out=S[0])", [], None),
])
def test_scratched(call, lines, out):
    assert _scratched(call, {"A", "A_bar", "Z"}, lambda: "tmp") == (lines, out or call)


def test_a_state_no_ufunc_computes_is_copied_into_its_slot():
    """A state ``Z∘²`` (``Z**2``: not a ufunc call) is computed, then copied into its slot; the
    gradients are still autograd's."""
    u = sp.Symbol("u")
    Wx, Wh = sp.MatrixSymbol("Wx", 2, 3), sp.MatrixSymbol("Wh", 3, 3)
    h = None
    for t in range(1, 9):
        z = sp.MatrixSymbol(f"X{t}", n, 2) * Wx
        h = (z if h is None else z + h * Wh).applyfunc(sp.Lambda(u, u**2))
    model = sb.Model(sb.mse(h, sp.MatrixSymbol("Y", n, 3)), params=[Wx, Wh])
    stacked = sb.generate(sb.derive(model)).split("def _loss_and_grad_stacked(")[1]
    assert "    A1 = Z1**2\n    A7_to_A1[6] = A1\n" in stacked
    module = sb.compile(sb.derive(model))
    counted = calls(module)
    params, data = module.init_params(rng=0), module.random_data(rng=1, samples=3)
    params = {k: 0.5 * v for k, v in params.items()}

    def loss(p):
        h = None
        for t in range(1, 9):
            z = data[f"X{t}"] @ p[0]
            h = (z if h is None else z + h @ p[1]) ** 2
        return anp.mean((h - data["Y"]) ** 2)  # mse: the mean of the squared entries

    value, grads = module.loss_and_grad(params, **data)
    assert counted["calls"] == 1
    want = autograd.grad(loss)([params["Wx"], params["Wh"]])
    np.testing.assert_allclose(value, loss([params["Wx"], params["Wh"]]), rtol=1e-12)
    np.testing.assert_allclose(grads["Wx"], want[0], rtol=1e-10)
    np.testing.assert_allclose(grads["Wh"], want[1], rtol=1e-10)


def test_tensor_inputs_are_read_through_their_flattened_rows():
    """Inputs X1..X8 of shape (n, 2, 2), flattened: their sum dL/dWx keeps its terms (a term is
    a flattened view, not a matrix symbol), dL/dWh is stacked; both are autograd's."""
    Wx, Wh = sp.MatrixSymbol("Wx", 4, 3), sp.MatrixSymbol("Wh", 3, 3)
    h = None
    for t in range(1, 9):
        z = sb.flatten(sb.tensor(f"X{t}", (n, 2, 2))) * Wx
        h = sb.tanh(z if h is None else z + h * Wh)
    model = sb.Model(sb.mse(h, sp.MatrixSymbol("Y", n, 3)), params=[Wx, Wh])
    stacked = sb.generate(sb.derive(model)).split("def _loss_and_grad_stacked(")[1]
    assert "Wh_bar = A7_to_A1.reshape(-1, 3).T @" in stacked
    assert "Wx_bar = xp.reshape(X8, (-1, 4)).T @ Z8_bar + " in stacked
    module = sb.compile(sb.derive(model))
    counted = calls(module)
    params, data = module.init_params(rng=0), module.random_data(rng=1, samples=3)

    def loss(p):
        h = None
        for t in range(1, 9):
            z = data[f"X{t}"].reshape(3, 4) @ p[0]
            h = anp.tanh(z if h is None else z + h @ p[1])
        return anp.mean((h - data["Y"]) ** 2)

    _, grads = module.loss_and_grad(params, **data)
    assert counted["calls"] == 1
    want = autograd.grad(loss)([params["Wx"], params["Wh"]])
    np.testing.assert_allclose(grads["Wx"], want[0], rtol=1e-10)
    np.testing.assert_allclose(grads["Wh"], want[1], rtol=1e-10)


def test_a_gradient_that_is_a_summed_value_is_not_a_view_of_a_stack():
    """E2 is added at step 2 only, so dL/dE2 is dL/dZ2, a value dL/dWx sums: it stays an array
    of its own (a view of the stacked adjoints would keep all of them alive)."""
    Wx, Wh = sp.MatrixSymbol("Wx", 2, 3), sp.MatrixSymbol("Wh", 3, 3)
    E2 = sp.MatrixSymbol("E2", n, 3)
    h = None
    for t in range(1, 9):
        z = sp.MatrixSymbol(f"X{t}", n, 2) * Wx
        h = sb.tanh(z if h is None else sp.MatAdd(z, h * Wh, *([E2] if t == 2 else [])))
    model = sb.Model(sb.mse(h, sp.MatrixSymbol("Y", n, 3)), params=[Wx, Wh, E2])
    module = sb.compile(sb.derive(model))
    counted = calls(module)
    params, data = module.init_params(rng=0, n=4), module.random_data(rng=1, samples=4)
    _, grads = module.loss_and_grad(params, **data)
    assert counted["calls"] == 1 and grads["E2"].flags.owndata
    stacked = sb.generate(sb.derive(model)).split("def _loss_and_grad_stacked(")[1]
    assert "    Z2_bar = A2_bar * (1 - A2**2)\n" in stacked
    assert "    Z8_bar_to_Z1_bar[6] = Z2_bar\n" in stacked

    def loss(p):
        h = None
        for t in range(1, 9):
            z = data[f"X{t}"] @ p[0]
            h = anp.tanh(z if h is None else z + h @ p[1] + (p[2] if t == 2 else 0))
        return anp.mean((h - data["Y"]) ** 2)

    want = autograd.grad(loss)([params["Wx"], params["Wh"], params["E2"]])
    for name, expected in zip(("Wx", "Wh", "E2"), want, strict=True):
        np.testing.assert_allclose(grads[name], expected, rtol=1e-10, err_msg=name)
