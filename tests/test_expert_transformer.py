"""The expert NumPy transformer block of the benchmarks equals PyTorch's autograd (loss and every
gradient), causal and not; PyTorch's own layer_norm, scaled_dot_product_attention, gelu and
embedding are the reference."""

import numpy as np
import pytest

from benchmarks.expert_transformer import Transformer, init

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _torch(params, ids, Y, causal):
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    d = params["E"].shape[1]
    X = F.embedding(torch.tensor(ids), t["E"]) + t["Pos"]
    A = F.layer_norm(X, (d,), t["g1"][0], t["b1"][0])
    Att = F.scaled_dot_product_attention(A @ t["Wq"], A @ t["Wk"], A @ t["Wv"], is_causal=causal)
    X2 = X + Att @ t["Wo"]
    B = F.layer_norm(X2, (d,), t["g2"][0], t["b2"][0])
    X3 = X2 + F.gelu(B @ t["W1"] + t["c1"]) @ t["W2"] + t["c2"]
    Z = X3 @ t["Wout"] + t["cout"]
    loss = F.cross_entropy(Z.reshape(-1, Z.shape[-1]), torch.tensor(Y.argmax(-1)).reshape(-1))
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n, T, vocab, d, hidden", [(3, 6, 10, 8, 16), (1, 1, 3, 2, 4), (2, 7, 5, 4, 3)])
def test_expert_transformer_equals_torch(causal, n, T, vocab, d, hidden):
    rng = np.random.default_rng(n * 100 + T)
    params = init(vocab, T, d, hidden, rng)
    for name in ("g1", "b1", "g2", "b2", "c1", "c2", "cout"):   # not the trivial initial values
        params[name] = params[name] + rng.normal(0, 0.5, params[name].shape)
    ids = rng.integers(0, vocab, (n, T))
    Y = np.eye(vocab)[rng.integers(0, vocab, (n, T))]
    want_loss, want = _torch(params, ids, Y, causal)
    loss, got = Transformer(causal=causal).loss_and_grad(params, ids, Y)
    assert abs(loss - want_loss) <= 1e-10
    assert sorted(got) == sorted(want)
    for name in params:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-10, err_msg=name)
