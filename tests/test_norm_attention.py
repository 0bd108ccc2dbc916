"""GELU/SiLU/ELU, layer norm, batch norm, attention and embeddings on (T, d) matrices, checked
against PyTorch's own functionals (F.gelu, F.layer_norm, F.batch_norm(training=True),
F.scaled_dot_product_attention, F.embedding) and against autograd/torch differentiating the
user's expression (sb.check), in float64 to 1e-10."""

import math

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from benchmarks.norm_ops import HAND, generated_backward_ops, hand_backward_ops, models

torch = pytest.importorskip("torch")
F = torch.nn.functional
TOL = 1e-10


def _mats(shapes: dict):
    return {k: sp.MatrixSymbol(k, *v) for k, v in shapes.items()}


def _module_vjp(expr, params, shapes, values, cot):
    """The generated module's gradients of ``tr(Cᵀ expr)``: the VJP of ``expr`` with ``C``."""
    C = sp.MatrixSymbol("C", *cot.shape)
    model = sb.Model(sp.Trace(C.T * expr), params=[p for p in params], name="vjp")
    module = sb.compile(sb.derive(model))
    data = {k: v for k, v in values.items() if k not in {p.name for p in params}}
    out, grads = module.loss_and_grad({p.name: values[p.name] for p in params}, C=cot, **data)
    return out, grads


def _torch_vjp(fn, values: dict, names, cot):
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k in names)
              for k, v in values.items()}
    out = fn(**leaves)
    loss = (out * torch.tensor(cot)).sum()
    grads = torch.autograd.grad(loss, [leaves[k] for k in names])
    return float(loss.detach()), {k: g.numpy() for k, g in zip(names, grads, strict=True)}


def _assert_close(ours, ref, names):
    loss, grads = ours
    ref_loss, ref_grads = ref
    assert abs(loss - ref_loss) <= TOL * max(1.0, abs(ref_loss))
    for k in names:
        scale = max(1.0, float(np.max(np.abs(ref_grads[k]))))
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=0, atol=TOL * scale, err_msg=k)


# -- 1. activations -------------------------------------------------------------------------

ACTIVATIONS = [("gelu", sb.gelu, F.gelu), ("silu", sb.silu, F.silu),
               ("elu", sb.elu, F.elu), ("elu_half", lambda x: sb.elu(x, 0.5),
                                        lambda x: F.elu(x, alpha=0.5))]


@pytest.mark.parametrize("name, ours, theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_values_and_gradients_match_torch_functional(name, ours, theirs):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(scale=3, size=20), [0.0, -8.0, 8.0, -40.0, 40.0, 2.5, -2.5]])
    x = x.reshape(-1, 1)
    X = sp.MatrixSymbol("X", *x.shape)
    cot = rng.normal(size=x.shape)
    got = _module_vjp(ours(X), [X], None, {"X": x}, cot)
    want = _torch_vjp(lambda X: theirs(X), {"X": x}, ["X"], cot)
    _assert_close(got, want, ["X"])


@pytest.mark.parametrize("name, ours, theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("reference", ["autograd", "torch"])
def test_activation_in_a_layer_passes_check(name, ours, theirs, reference):
    n = sp.Symbol("n", integer=True, positive=True)
    X, W, Y = sp.MatrixSymbol("X", n, 3), sp.MatrixSymbol("W", 3, 4), sp.MatrixSymbol("Y", n, 4)
    model = sb.Model(sb.mse(ours(X * W), Y), params=[W], name=name)
    sb.check(model, reference=reference, rtol=TOL)


def test_generated_erf_is_accurate_to_the_last_bits_everywhere():
    x = np.linspace(-9, 9, 20001)
    u = sp.Symbol("u", real=True)
    f = sp.lambdify(u, sb.gelu(u), "numpy")  # the class's _numpycode, in plain lambdify
    phi = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(f(x), x * phi, rtol=0, atol=5e-15)


def test_elu_gradient_at_zero_is_alpha_as_in_torch():
    X = sp.MatrixSymbol("X", 1, 1)
    _, grads = _module_vjp(sb.elu(X, 0.5), [X], None, {"X": np.zeros((1, 1))}, np.ones((1, 1)))
    assert grads["X"][0, 0] == 0.5


# -- 2. layer norm and batch norm -----------------------------------------------------------

def _torch_norm(axis):
    def fn(X, g, b):
        if axis == 1:
            return F.layer_norm(X, (X.shape[1],), g[0], b[0], eps=1e-5)
        return F.batch_norm(X, None, None, g[0], b[0], training=True, eps=1e-5)
    return fn


NORM_SHAPES = [("layer_norm", 1, (5, 4)), ("layer_norm", 1, (1, 6)), ("layer_norm", 1, (4, 1)),
               ("layer_norm", 1, (7, 3)), ("batch_norm", 0, (5, 4)), ("batch_norm", 0, (2, 6)),
               ("batch_norm", 0, (6, 1))]


@pytest.mark.parametrize("name, axis, shape", NORM_SHAPES,
                         ids=[f"{n}-{s[0]}x{s[1]}" for n, _, s in NORM_SHAPES])
@pytest.mark.parametrize("near_constant", [False, True], ids=["random", "variance_1e-12"])
def test_norm_matches_torch_functional(name, axis, shape, near_constant):
    rng = np.random.default_rng(2)
    T, d = shape
    x = rng.normal(size=shape)
    if near_constant:  # variance about 1e-12 along the normalised axis
        x = 3.0 + 1e-6 * x
    vals = {"X": x, "g": rng.normal(size=(1, d)), "b": rng.normal(size=(1, d))}
    m = _mats({"X": shape, "g": (1, d), "b": (1, d)})
    cot = rng.normal(size=shape)
    got = _module_vjp(getattr(sb, name)(m["X"], m["g"], m["b"]), list(m.values()), None, vals, cot)
    want = _torch_vjp(_torch_norm(axis), vals, ["X", "g", "b"], cot)
    _assert_close(got, want, ["X", "g", "b"])


@pytest.mark.parametrize("norm", [sb.layer_norm, sb.batch_norm], ids=["layer", "batch"])
@pytest.mark.parametrize("reference", ["autograd", "torch", "jax"])
def test_norm_inside_a_network_passes_check(norm, reference):
    if reference == "jax":
        pytest.importorskip("jax")
    n = sp.Symbol("n", integer=True, positive=True)
    X, W, Y = sp.MatrixSymbol("X", n, 3), sp.MatrixSymbol("W", 3, 4), sp.MatrixSymbol("Y", n, 4)
    g, b = sp.MatrixSymbol("g", 1, 4), sp.MatrixSymbol("b", 1, 4)
    model = sb.Model(sb.mse(sb.gelu(norm(X * W, g, b)), Y), params=[W, g, b], name="normed")
    sb.check(model, reference=reference, rtol=TOL)


def test_layer_norm_backward_is_the_compact_textbook_form():
    T = sp.Symbol("T", integer=True, positive=True)
    X, Y = sp.MatrixSymbol("X", T, 4), sp.MatrixSymbol("Y", T, 4)
    g, b = sp.MatrixSymbol("g", 1, 4), sp.MatrixSymbol("b", 1, 4)
    text = str(sb.derive(sb.Model(sb.mse(sb.layer_norm(X, g, b), Y), params=[X, g, b])))
    assert "X_bar = (R1 𝟙ᵀ) ⊙ (H1_bar - mean_row(H1_bar) - H1 ⊙ mean_row(H1_bar ⊙ H1))" in text
    assert "H1_bar = Z1_bar ⊙ (𝟙 g)" in text  # gamma folded into the adjoint of x̂
    assert "R1_bar" not in text and "+ 0" not in text


def test_norm_refuses_a_gamma_that_is_not_a_feature_row():
    X, g = sp.MatrixSymbol("X", 3, 4), sp.MatrixSymbol("g", 4, 1)
    with pytest.raises(sb.SymbpError, match="gamma of layer_norm must be a 1 x 4 row"):
        sb.layer_norm(X, g, sp.MatrixSymbol("b", 1, 4))


# -- 3. attention ---------------------------------------------------------------------------

ATTENTION_SHAPES = [(5, 4, 3), (1, 3, 2), (6, 1, 1), (8, 4, 5)]


@pytest.mark.parametrize("T, dk, dv", ATTENTION_SHAPES,
                         ids=[f"T{t}-dk{k}-dv{v}" for t, k, v in ATTENTION_SHAPES])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("logit_scale", [1.0, 300.0], ids=["plain", "large_logits"])
def test_attention_matches_torch_scaled_dot_product_attention(T, dk, dv, causal, logit_scale):
    rng = np.random.default_rng(3)
    vals = {"Q": logit_scale * rng.normal(size=(T, dk)), "K": rng.normal(size=(T, dk)),
            "V": rng.normal(size=(T, dv))}
    m = _mats({"Q": (T, dk), "K": (T, dk), "V": (T, dv)})
    cot = rng.normal(size=(T, dv))
    got = _module_vjp(sb.attention(m["Q"], m["K"], m["V"], causal=causal), list(m.values()),
                      None, vals, cot)
    want = _torch_vjp(lambda Q, K, V: F.scaled_dot_product_attention(Q, K, V, is_causal=causal),
                      vals, ["Q", "K", "V"], cot)
    _assert_close(got, want, ["Q", "K", "V"])


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("reference", ["autograd", "torch", "fd"])
def test_attention_passes_check(causal, reference):
    T = sp.Symbol("T", integer=True, positive=True)
    Q, K = sp.MatrixSymbol("Q", T, 3), sp.MatrixSymbol("K", T, 3)
    V, Y = sp.MatrixSymbol("V", T, 2), sp.MatrixSymbol("Y", T, 2)
    model = sb.Model(sb.mse(sb.attention(Q, K, V, causal=causal), Y), params=[Q, K, V])
    sb.check(model, reference=reference, rtol=1e-5 if reference == "fd" else TOL)


def test_attention_backward_is_the_softmax_jacobian_in_compact_form():
    T = sp.Symbol("T", integer=True, positive=True)
    Q, K, V = (sp.MatrixSymbol(s, T, 4) for s in "QKV")
    text = str(sb.derive(sb.Model(sb.mse(sb.attention(Q, K, V, causal=True), Q),
                                  params=[K, V])))
    assert "S1_bar = P1 ⊙ (P1_bar - ((P1_bar ⊙ P1) 𝟙) 𝟙ᵀ)" in text
    assert "V_bar = P1ᵀ" in text


# -- 4. embedding ---------------------------------------------------------------------------

@pytest.mark.parametrize("ids", [[0, 3, 3, 4, 1, 0], [2], [4, 4, 4]], ids=["mixed", "one", "repeated"])
def test_embedding_matches_torch_and_scatter_adds(ids):
    rng = np.random.default_rng(4)
    T = len(ids)
    vals = {"ids": np.array(ids, dtype=np.int64).reshape(-1, 1), "E": rng.normal(size=(5, 3))}
    m = _mats({"ids": (T, 1), "E": (5, 3)})
    cot = rng.normal(size=(T, 3))
    got = _module_vjp(sb.embedding(m["ids"], m["E"]), [m["E"]], None, vals, cot)
    want = _torch_vjp(lambda ids, E: F.embedding(ids[:, 0].long(), E), vals, ["E"], cot)
    _assert_close(got, want, ["E"])


@pytest.mark.parametrize("reference", ["autograd", "torch", "fd"])
def test_embedding_in_a_model_passes_check_with_integer_ids(reference):
    T = sp.Symbol("T", integer=True, positive=True)
    ids, E = sp.MatrixSymbol("ids", T, 1), sp.MatrixSymbol("E", 5, 3)
    W, Y = sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("Y", T, 2)
    model = sb.Model(sb.mse(sb.embedding(ids, E) * W, Y), params=[E, W], name="emb")
    sb.check(model, reference=reference, dims={T: 6}, data={"ids": np.array([[0], [3], [3], [4], [1], [0]])},
             rtol=1e-5 if reference == "fd" else TOL)


# -- 5. views and operation counts ----------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_latex_and_explain_show_the_compact_forms(lang):
    T = sp.Symbol("T", integer=True, positive=True)
    X, Y = sp.MatrixSymbol("X", T, 4), sp.MatrixSymbol("Y", T, 4)
    g, b = sp.MatrixSymbol("g", 1, 4), sp.MatrixSymbol("b", 1, 4)
    d = sb.derive(sb.Model(sb.mse(sb.layer_norm(X, g, b), Y), params=[g, b, X]))
    assert r"\operatorname{mean}_{\text{row}}" in d.latex()
    assert "mean_row" in sb.explain(d, lang=lang)


@pytest.mark.parametrize("name", ["layer_norm", "batch_norm", "attention"])
def test_generated_backward_has_at_most_1_2_times_the_hand_written_operations(name):
    model = models(8, 4)[name]
    module = sb.compile(sb.derive(model))
    assert generated_backward_ops(module) <= 1.2 * hand_backward_ops(name)
    rng = np.random.default_rng(5)
    params = {p.name: rng.normal(size=tuple(int(k) for k in p.shape)) for p in model.params}
    C = rng.normal(size=(8, 4))
    loss, grads = module.loss_and_grad(params, C=C)
    hand_loss, hand = HAND[name](*params.values(), C)
    assert abs(loss - hand_loss) <= TOL * max(1.0, abs(loss))
    for k, v in grads.items():
        np.testing.assert_allclose(v, hand[k], rtol=1e-10, atol=1e-12, err_msg=k)


def _block_model():
    T = sp.Symbol("T", integer=True, positive=True)
    Q, K, V = (sp.MatrixSymbol(s, T, 4) for s in "QKV")
    g, b = sp.MatrixSymbol("g", 1, 4), sp.MatrixSymbol("b", 1, 4)
    H = sb.layer_norm(Q, g, b)
    return sb.Model(sb.mse(sb.attention(H, K, V, causal=True), Q), params=[Q, K, V, g, b])


def test_explain_shows_no_zero_path_through_the_inverse_deviation():
    text = sb.explain(sb.derive(_block_model()))
    assert "∂L/∂R1" not in text and "0 0" not in text
    assert "mean_row(∂L/∂H1 ⊙ H1)" in text


def test_graph_picture_collapses_layer_norm_and_attention_into_one_node_each():
    d = sb.derive(_block_model())
    expanded, collapsed = sb.graph_dot(d), sb.graph_dot(d, collapse=True)
    assert '"R1" [' in expanded and '"S1" [' in expanded and '"R1" -> "H1"' in expanded
    assert '"R1"' not in collapsed and '"S1"' not in collapsed
    assert "H1: layer norm" in collapsed and "P1: attention weights" in collapsed
    assert "softmax(mask((Z1 Kᵀ) / 2))" in collapsed
    assert '"K" -> "P1"' in collapsed and '"Z1" -> "P1"' in collapsed


def test_graph_picture_collapses_unmasked_attention_and_batch_norm():
    X, K, V = (sp.MatrixSymbol(s, 4, 4) for s in "XKV")
    g, b = sp.MatrixSymbol("g", 1, 4), sp.MatrixSymbol("b", 1, 4)
    model = sb.Model(sb.mse(sb.attention(sb.batch_norm(X, g, b), K, V), X), params=[K, V, g, b])
    collapsed = sb.graph_dot(model, collapse=True)
    assert "batch norm" in collapsed and "attention weights" in collapsed
    assert "softmax((Z1 Kᵀ) / 2)" in collapsed


def _pre_ln_block():
    """One pre-LN transformer block on one sequence of 6 tokens: token embedding + learned
    positions, layer norm, causal attention, residual, layer norm, GELU MLP, residual,
    output projection, softmax cross-entropy per token."""
    T, d, V, h = 6, 4, 5, 8
    ids, Y = sp.MatrixSymbol("ids", T, 1), sp.MatrixSymbol("Y", T, V)
    E, P = sp.MatrixSymbol("E", V, d), sp.MatrixSymbol("P", T, d)
    g1, b1, g2, b2 = (sp.MatrixSymbol(n, 1, d) for n in ("g1", "b1", "g2", "b2"))
    Wq, Wk, Wv, Wo = (sp.MatrixSymbol(n, d, d) for n in ("Wq", "Wk", "Wv", "Wo"))
    W1, c1 = sp.MatrixSymbol("W1", d, h), sp.MatrixSymbol("c1", 1, h)
    W2, c2, U = sp.MatrixSymbol("W2", h, d), sp.MatrixSymbol("c2", 1, d), sp.MatrixSymbol("U", d, V)
    X0 = sb.embedding(ids, E) + P
    H = sb.layer_norm(X0, g1, b1)
    X1 = X0 + sb.attention(H * Wq, H * Wk, H * Wv, causal=True) * Wo
    X2 = X1 + sb.dense(sb.gelu(sb.dense(sb.layer_norm(X1, g2, b2), W1, c1)), W2, c2)
    params = [E, P, g1, b1, Wq, Wk, Wv, Wo, g2, b2, W1, c1, W2, c2, U]
    return sb.Model(sb.softmax_cross_entropy(X2 * U, Y), params=params, name="pre_ln_block")


@pytest.mark.parametrize("reference", ["autograd", "torch", "jax", "fd"])
def test_a_pre_ln_transformer_block_on_one_sequence_passes_check(reference):
    if reference == "jax":
        pytest.importorskip("jax")
    ids = np.array([[0], [3], [3], [4], [1], [2]])
    sb.check(_pre_ln_block(), reference=reference, data={"ids": ids},
             rtol=1e-5 if reference == "fd" else TOL)


def test_collapsed_picture_names_no_block_for_a_plain_softmax_classifier():
    X, W = sp.MatrixSymbol("X", 5, 3), sp.MatrixSymbol("W", 3, 4)
    Y = sp.MatrixSymbol("Y", 5, 4)
    model = sb.Model(sb.mse(sb.softmax(X * W), Y), params=[W])
    collapsed = sb.graph_dot(model, collapse=True)
    assert "attention weights" not in collapsed and collapsed == sb.graph_dot(model)
