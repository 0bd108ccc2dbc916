"""Expert hand-written NumPy for a one-block pre-LN transformer, written from the math.

The block of the ``transformer`` example, as an engineer writes it by hand with batched
matrix products (``np.matmul`` over the batch axis), independently of symbp's generator:

    X  = E[ids] + Pos                                    token embedding + learned positions
    A  = LN(X; g1, b1);  Q, K, V = A Wq, A Wk, A Wv
    S  = Q K^T / sqrt(d);  P = softmax(S) (causal mask if asked);  X2 = X + (P V) Wo
    B  = LN(X2; g2, b2);  X3 = X2 + GELU(B W1 + c1) W2 + c2
    Z  = X3 Wout + cout;  loss = mean over the n T tokens of softmax cross-entropy

The backward passes are the compact textbook forms: layer norm
``(1/sigma) (g - mean(g) - xhat mean(g xhat))`` with ``g = gamma dY``, attention
``dS = P (dP - rowsum(dP P))``, GELU' = Phi(x) + x phi(x), the embedding's gradient a
scatter-add (``np.add.at``). Layer norm's statistics are over the last axis with the biased
variance and ``eps`` inside the square root, as ``torch.nn.functional.layer_norm``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

EPS = 1e-5


def _layer_norm(X, g, b):
    mu = X.mean(-1, keepdims=True)
    xc = X - mu
    inv = 1.0 / np.sqrt((xc * xc).mean(-1, keepdims=True) + EPS)
    xhat = xc * inv
    return xhat * g + b, (xhat, inv)


def _layer_norm_backward(dY, g, cache):
    xhat, inv = cache
    dg = (dY * xhat).reshape(-1, xhat.shape[-1]).sum(0)
    db = dY.reshape(-1, xhat.shape[-1]).sum(0)
    G = dY * g
    dX = inv * (G - G.mean(-1, keepdims=True) - xhat * (G * xhat).mean(-1, keepdims=True))
    return dX, dg.reshape(g.shape), db.reshape(g.shape)


def _gelu(U):
    return 0.5 * U * (1.0 + erf(U / math.sqrt(2.0)))


def _gelu_grad(U):
    return 0.5 * (1.0 + erf(U / math.sqrt(2.0))) + U * np.exp(-0.5 * U * U) / math.sqrt(2 * math.pi)


class Transformer:
    """One pre-LN block; ``loss_and_grad(params, ids, Y)`` with ``ids`` (n, T) int64 and ``Y``
    (n, T, V) one-hot targets."""

    def __init__(self, causal=False):
        self.causal = causal

    def loss_and_grad(self, params, ids, Y):
        p = params
        n, T = ids.shape
        d = p["E"].shape[1]
        X = p["E"][ids] + p["Pos"]
        A, ln1 = _layer_norm(X, p["g1"], p["b1"])
        Q, K, V = A @ p["Wq"], A @ p["Wk"], A @ p["Wv"]
        scale = 1.0 / math.sqrt(d)
        S = (Q @ K.transpose(0, 2, 1)) * scale
        if self.causal:
            S = np.where(np.tri(T, dtype=bool), S, -np.inf)
        S -= S.max(-1, keepdims=True)
        P = np.exp(S)
        P /= P.sum(-1, keepdims=True)
        Att = P @ V
        X2 = X + Att @ p["Wo"]
        B, ln2 = _layer_norm(X2, p["g2"], p["b2"])
        U = B @ p["W1"] + p["c1"]
        H = _gelu(U)
        X3 = X2 + H @ p["W2"] + p["c2"]
        Z = X3 @ p["Wout"] + p["cout"]
        rows = n * T
        Z -= Z.max(-1, keepdims=True)
        logsum = np.log(np.exp(Z).sum(-1, keepdims=True))
        loss = -np.vdot(Y, Z - logsum) / rows
        dZ = (np.exp(Z - logsum) - Y) / rows                 # fused softmax-CE gradient
        flat = lambda M: M.reshape(-1, M.shape[-1])         # noqa: E731  (n T) rows, a view
        g = {"Wout": flat(X3).T @ flat(dZ), "cout": flat(dZ).sum(0, keepdims=True)}
        dX3 = dZ @ p["Wout"].T
        g["W2"], g["c2"] = flat(H).T @ flat(dX3), flat(dX3).sum(0, keepdims=True)
        dU = (dX3 @ p["W2"].T) * _gelu_grad(U)
        g["W1"], g["c1"] = flat(B).T @ flat(dU), flat(dU).sum(0, keepdims=True)
        dB = dU @ p["W1"].T
        dX2_ln, g["g2"], g["b2"] = _layer_norm_backward(dB, p["g2"], ln2)
        dX2 = dX3 + dX2_ln
        g["Wo"] = flat(Att).T @ flat(dX2)
        dO = dX2 @ p["Wo"].T
        g_V = P.transpose(0, 2, 1) @ dO
        dP = dO @ V.transpose(0, 2, 1)
        dS = P * (dP - (dP * P).sum(-1, keepdims=True)) * scale
        dQ, dK = dS @ K, dS.transpose(0, 2, 1) @ Q
        g["Wq"], g["Wk"], g["Wv"] = flat(A).T @ flat(dQ), flat(A).T @ flat(dK), flat(A).T @ flat(g_V)
        dA = dQ @ p["Wq"].T + dK @ p["Wk"].T + g_V @ p["Wv"].T
        dX_ln, g["g1"], g["b1"] = _layer_norm_backward(dA, p["g1"], ln1)
        dX = dX2 + dX_ln
        g["Pos"] = dX.sum(0)
        g["E"] = np.zeros_like(p["E"])
        np.add.at(g["E"], ids.reshape(-1), flat(dX))         # the embedding's scatter-add
        return loss, g


def init(vocab, T, d, hidden, rng):
    """Parameters of the shapes ``Transformer`` reads (layer-norm gains (1, d), biases (1, m))."""
    def normal(*shape, fan_in):
        return rng.normal(0.0, 1.0 / math.sqrt(fan_in), shape)
    return {"E": rng.normal(0.0, 1.0, (vocab, d)), "Pos": rng.normal(0.0, 0.1, (T, d)),
            "g1": np.ones((1, d)), "b1": np.zeros((1, d)), "g2": np.ones((1, d)),
            "b2": np.zeros((1, d)), "Wq": normal(d, d, fan_in=d), "Wk": normal(d, d, fan_in=d),
            "Wv": normal(d, d, fan_in=d), "Wo": normal(d, d, fan_in=d),
            "W1": normal(d, hidden, fan_in=d), "c1": np.zeros((1, hidden)),
            "W2": normal(hidden, d, fan_in=hidden), "c2": np.zeros((1, d)),
            "Wout": normal(d, vocab, fan_in=d), "cout": np.zeros((1, vocab))}
