"""The transformer vocabulary on (n, T, d) tensors of n sequences: layer norm, batch norm,
dense on the last axis, sb.add broadcasting, attention per sequence (causal or not), the
embedding of (n, T) integer ids and the softmax cross-entropy of every token, checked in
float64 to 1e-10 against PyTorch's functionals differentiated by torch.autograd (an
independent reference) and against sb.check's autograd/torch differentiation of the
user's expression."""


import numpy as np
import pytest
import sympy as sp

import symbp as sb

torch = pytest.importorskip("torch")
F = torch.nn.functional
TOL = 1e-10
N = sp.Symbol("n", integer=True, positive=True)
T, D, V, HID = 5, 6, 7, 8
NAMES = ["E", "Pos", "g1", "b1", "Wq", "Wk", "Wv", "Wo", "g2", "b2", "W1", "c1", "W2", "c2",
         "Wout", "cout"]
SHAPES = {"E": (V, D), "Pos": (T, D), "g1": (1, D), "b1": (1, D), "Wq": (D, D), "Wk": (D, D),
          "Wv": (D, D), "Wo": (D, D), "g2": (1, D), "b2": (1, D), "W1": (D, HID),
          "c1": (1, HID), "W2": (HID, D), "c2": (1, D), "Wout": (D, V), "cout": (1, V)}


def block_model(causal: bool) -> sb.Model:
    p = {k: sp.MatrixSymbol(k, *s) for k, s in SHAPES.items()}
    ids, Y = sp.MatrixSymbol("ids", N, T), sb.tensor("Y", (N, T, V))
    x = sb.add(sb.embedding(ids, p["E"]), p["Pos"])
    a = sb.layer_norm(x, p["g1"], p["b1"])
    q, k, v = (sb.dense(a, p[w]) for w in ("Wq", "Wk", "Wv"))
    x2 = sb.add(x, sb.dense(sb.attention(q, k, v, causal=causal), p["Wo"]))
    u = sb.gelu(sb.dense(sb.layer_norm(x2, p["g2"], p["b2"]), p["W1"], p["c1"]))
    x3 = sb.add(x2, sb.dense(u, p["W2"], p["c2"]))
    loss = sb.softmax_cross_entropy(sb.dense(x3, p["Wout"], p["cout"]), Y)
    return sb.Model(loss, params=[p[k] for k in NAMES], name="block")


def torch_block(p, ids, labels, causal):
    x = F.embedding(ids, p["E"]) + p["Pos"]
    a = F.layer_norm(x, (D,), p["g1"][0], p["b1"][0], eps=1e-5)
    att = F.scaled_dot_product_attention(a @ p["Wq"], a @ p["Wk"], a @ p["Wv"], is_causal=causal)
    x2 = x + att @ p["Wo"]
    u = F.gelu(F.layer_norm(x2, (D,), p["g2"][0], p["b2"][0], eps=1e-5) @ p["W1"] + p["c1"])
    x3 = x2 + u @ p["W2"] + p["c2"]
    z = x3 @ p["Wout"] + p["cout"]
    return F.cross_entropy(z.reshape(-1, V), labels.reshape(-1))


def _values(seed, n=4):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(scale=0.7, size=s) for k, s in SHAPES.items()}
    ids = rng.integers(0, V, size=(n, T)).astype(np.int64)
    labels = rng.integers(0, V, size=(n, T))
    return params, ids, labels


@pytest.fixture(scope="module", params=[False, True], ids=["full", "causal"])
def derived(request):
    causal = request.param
    return causal, sb.compile(sb.derive(block_model(causal)))


def test_batched_block_matches_torch_functionals_and_autograd(derived):
    causal, module = derived
    params, ids, labels = _values(3)
    Y = np.eye(V)[labels]
    loss, grads = module.loss_and_grad({k: v.copy() for k, v in params.items()}, ids=ids, Y=Y)
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ref = torch_block(leaves, torch.tensor(ids), torch.tensor(labels), causal)
    ref_grads = torch.autograd.grad(ref, [leaves[k] for k in NAMES])
    assert abs(loss - float(ref.detach())) <= TOL * max(1.0, abs(float(ref.detach())))
    for k, g in zip(NAMES, ref_grads, strict=True):
        g = g.numpy()
        np.testing.assert_allclose(grads[k], g, rtol=0, atol=TOL * max(1.0, np.abs(g).max()),
                                   err_msg=k)


def test_causal_mask_hides_later_tokens(derived):
    causal, module = derived
    params, ids, _ = _values(4, n=2)
    Y = np.eye(V)[np.zeros((2, T), dtype=int)]
    Y[:, :-1] = 0  # only the last token's loss: the first tokens' changes reach it either way
    changed = ids.copy()
    changed[:, -1] = (changed[:, -1] + 1) % V
    first = np.eye(V)[np.zeros((2, T), dtype=int)]
    first[:, 1:] = 0  # only the first token's loss: a causal block cannot see the last token
    before = module.loss_and_grad(params, ids=ids, Y=first)[0]
    after = module.loss_and_grad(params, ids=changed, Y=first)[0]
    assert (before == after) == causal


@pytest.mark.parametrize("reference", ["autograd", "torch"])
def test_batched_block_passes_check(reference):
    sb.check(block_model(True), reference=reference, rtol=TOL)


def _ops_model(op):
    X = sb.tensor("X", (N, T, D))
    g, b = sp.MatrixSymbol("g", 1, D), sp.MatrixSymbol("b", 1, D)
    W, c, Y = sp.MatrixSymbol("W", D, V), sp.MatrixSymbol("c", 1, V), sb.tensor("Y", (N, T, V))
    loss = sb.softmax_cross_entropy(sb.dense(op(X, g, b), W, c), Y)
    return sb.Model(loss, params=[X, g, b, W, c], name="ops")


def _torch_batch_norm(x, g, b):
    rows = x.reshape(-1, D)
    return F.batch_norm(rows, None, None, g[0], b[0], training=True, eps=1e-5).reshape(x.shape)


NORMS = [("layer_norm", sb.layer_norm, lambda x, g, b: F.layer_norm(x, (D,), g[0], b[0], eps=1e-5)),
         ("batch_norm", sb.batch_norm, _torch_batch_norm),
         ("row_added_then_layer_norm", lambda X, g, b: sb.layer_norm(sb.add(b, X), g, b),
          lambda x, g, b: F.layer_norm(b + x, (D,), g[0], b[0], eps=1e-5))]


@pytest.mark.parametrize("name, ours, theirs", NORMS, ids=[x[0] for x in NORMS])
def test_norms_of_a_tensor_act_on_its_rows_as_torch(name, ours, theirs):
    module = sb.compile(sb.derive(_ops_model(ours)))
    rng = np.random.default_rng(5)
    vals = {"X": rng.normal(size=(3, T, D)) * 2 + 1, "g": rng.normal(size=(1, D)),
            "b": rng.normal(size=(1, D)), "W": rng.normal(size=(D, V)), "c": rng.normal(size=(1, V))}
    labels = rng.integers(0, V, size=(3, T))
    loss, grads = module.loss_and_grad({k: v.copy() for k, v in vals.items()}, Y=np.eye(V)[labels])
    t = {k: torch.tensor(v, requires_grad=True) for k, v in vals.items()}
    z = theirs(t["X"], t["g"], t["b"]) @ t["W"] + t["c"]
    ref = F.cross_entropy(z.reshape(-1, V), torch.tensor(labels).reshape(-1))
    assert abs(loss - float(ref.detach())) <= TOL
    for k, g in zip(vals, torch.autograd.grad(ref, list(t.values())), strict=True):
        np.testing.assert_allclose(grads[k], g.numpy(), rtol=0, atol=TOL, err_msg=k)


def test_add_broadcasts_a_row_and_a_positional_matrix_and_refuses_the_rest():
    X = sb.tensor("X", (N, T, D))
    assert sb.tensors.shape(sb.add(X, sp.MatrixSymbol("b", 1, D))) == (N, T, D)
    assert sb.tensors.shape(sb.add(X, sp.MatrixSymbol("P", T, D))) == (N, T, D)
    with pytest.raises(sb.SymbpError, match=r"add: Q of shape \(2, 6\) does not broadcast"):
        sb.add(X, sp.MatrixSymbol("Q", 2, D))


def test_attention_refuses_a_tensor_mixed_with_a_matrix():
    X, M = sb.tensor("X", (N, T, D)), sp.MatrixSymbol("M", T, D)
    with pytest.raises(sb.SymbpError, match="all be \\(n, T, d\\) tensors or all matrices"):
        sb.attention(X, M, M)


def test_residual_sums_reuse_the_earlier_sum_forward_and_backward():
    d = sb.derive(block_model(False))
    sums = {s.name: s for s in d.steps if s.kind == "add"}
    emb = next(s.name for s in d.forward if s.kind == "embedding")
    x = next(s.name for s in sums.values() if emb in s.inputs)  # E[ids] + Pos
    x2 = next(s for s in sums.values() if x in s.inputs and s.role == "forward")
    assert len(x2.expr.args) == 2  # x + attention(...), not E[ids] + Pos + attention(...)
    assert any(x2.name in s.inputs for s in sums.values() if s is not x2 and s.role == "forward")
    x_bar = [s for s in d.steps if s.name == f"{x}_bar"]
    pos_bar = next(s for s in d.steps if s.name == "Pos_bar")
    e_bar = next(s for s in d.steps if s.name == f"{emb}_bar")
    only = {f"{x}_bar"}  # read off the one adjoint sum (besides the size n)
    assert x_bar and set(pos_bar.inputs) - {"n"} == only and set(e_bar.inputs) - {"n"} == only
