"""Expert hand-written NumPy: loss and all gradients, written from the math.

What an engineer who tunes NumPy writes, independently of symbp's generator:
every intermediate lives in a workspace allocated on the first call for a
batch size (and reused after), updates are in place (``out=``), the softmax
cross-entropy gradient is fused (``(softmax - Y) / n``, one-hot labels), an
activation's derivative is read from its output, bias gradients are
``ones @ G`` (one GEMV) for large batches and ``G.sum(0)`` for small ones, and
the RNN's input projections of all time steps are one GEMM (and so are its
``dWx`` and ``dWh``).

Each expert is an object with ``loss_and_grad(params, X, Y)`` returning
``(loss, grads)``; the gradient arrays are the workspace's and are overwritten
by the next call (as in a hand-tuned training loop).
"""

from __future__ import annotations

import numpy as np

GEMV_ROWS = 512  # from this many rows, bias gradients are ones @ G


def _bias_grad(G, ones, out):
    """Column sums of ``G`` into ``out`` (shape (1, k))."""
    if ones is not None:
        np.matmul(ones, G, out=out)
    else:
        np.add.reduce(G, axis=0, keepdims=True, out=out)  # the ufunc: np.sum adds ~4 µs a call


def _ones(rows, dtype):
    return np.ones((1, rows), dtype) if rows >= GEMV_ROWS else None


def _act(name, Z):
    """The activation in place on ``Z``."""
    if name == "relu":
        np.maximum(Z, 0, out=Z)
    elif name == "tanh":
        np.tanh(Z, out=Z)
    else:  # sigmoid(z) = (1 + tanh(z / 2)) / 2: no overflow, so no errstate guard
        Z *= 0.5
        np.tanh(Z, out=Z)
        Z *= 0.5
        Z += 0.5


def _act_backward(name, D, H, tmp, mask):
    """``D *= act'(z)`` in place, from the activation's output ``H``."""
    if name == "relu":
        np.greater(H, 0, out=mask)
        np.multiply(D, mask, out=D)
    elif name == "tanh":               # 1 - h^2
        np.multiply(H, H, out=tmp)
        np.subtract(1, tmp, out=tmp)
        D *= tmp
    else:                              # h (1 - h)
        np.subtract(1, H, out=tmp)
        tmp *= H
        D *= tmp


def _softmax_ce(Z, Y, n):
    """Loss of softmax(Z) against one-hot Y; Z becomes the gradient (softmax - Y) / n in place."""
    Z -= np.maximum.reduce(Z, axis=1, keepdims=True)
    picked = np.vdot(Y, Z)                          # sum of the true classes' shifted logits
    np.exp(Z, out=Z)
    total = np.add.reduce(Z, axis=1, keepdims=True)
    loss = (np.add.reduce(np.log(total), axis=None) - picked) / n
    total *= n
    Z /= total
    Z -= Y * (1.0 / n)
    return loss


def _dense_grads(sizes, dtype):
    grads = {}
    for k, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:], strict=False), start=1):
        grads[f"W{k}"] = np.empty((fan_in, fan_out), dtype)
        grads[f"b{k}"] = np.empty((1, fan_out), dtype)
    return grads


class MLP:
    """Dense layers with ``act`` on the hidden ones and softmax cross-entropy."""

    def __init__(self, sizes, act="relu"):
        self.sizes, self.act, self.ws = list(sizes), act, None

    def _workspace(self, n, dtype):
        s = self.sizes
        return {"n": n, "dtype": dtype, "ones": _ones(n, dtype),
                "H": [np.empty((n, k), dtype) for k in s[1:]],
                "D": [np.empty((n, k), dtype) for k in s[1:-1]],
                "tmp": [np.empty((n, k), dtype) for k in s[1:-1]],
                "mask": [np.empty((n, k), bool) for k in s[1:-1]] if self.act == "relu" else None,
                "grads": _dense_grads(s, dtype)}

    def loss_and_grad(self, params, X, Y):
        n, L = X.shape[0], len(self.sizes) - 1
        ws = self.ws
        if ws is None or ws["n"] != n or ws["dtype"] != X.dtype:
            ws = self.ws = self._workspace(n, X.dtype)
        H, g = ws["H"], ws["grads"]
        inputs = [X, *H]
        for k in range(1, L + 1):
            Z = H[k - 1]
            np.matmul(inputs[k - 1], params[f"W{k}"], out=Z)
            Z += params[f"b{k}"]
            if k < L:
                _act(self.act, Z)
        loss = _softmax_ce(H[-1], Y, n)
        G = H[-1]
        for k in range(L, 0, -1):
            np.matmul(inputs[k - 1].T, G, out=g[f"W{k}"])
            _bias_grad(G, ws["ones"], g[f"b{k}"])
            if k > 1:
                D = ws["D"][k - 2]
                np.matmul(G, params[f"W{k}"].T, out=D)
                mask = ws["mask"][k - 2] if ws["mask"] else None
                _act_backward(self.act, D, H[k - 2], ws["tmp"][k - 2], mask)
                G = D
        return loss, g


class RNN:
    """Elman RNN: h_t = tanh(x_t Wx + b + h_{t-1} Wh), h_0 = 0; softmax CE on h_T V + c."""

    def __init__(self, steps, inputs, hidden, classes):
        self.T, self.d, self.h, self.c, self.ws = steps, inputs, hidden, classes, None

    def _workspace(self, n, dtype):
        T, d, h, c = self.T, self.d, self.h, self.c
        return {"n": n, "dtype": dtype, "ones": _ones(T * n, dtype),
                "XS": np.empty((T, n, d), dtype), "HS": np.empty((T, n, h), dtype),
                "DZ": np.empty((T, n, h), dtype), "dH": np.empty((n, h), dtype),
                "tmp": np.empty((n, h), dtype), "Z": np.empty((n, c), dtype),
                "grads": {"Wx": np.empty((d, h), dtype), "Wh": np.empty((h, h), dtype),
                          "b": np.empty((1, h), dtype), "V": np.empty((h, c), dtype),
                          "c": np.empty((1, c), dtype)}}

    def loss_and_grad(self, params, X, Y):
        """``X``: the list ``[X1, ..., XT]`` of (n, inputs) arrays."""
        n, T = X[0].shape[0], self.T
        ws = self.ws
        if ws is None or ws["n"] != n or ws["dtype"] != X[0].dtype:
            ws = self.ws = self._workspace(n, X[0].dtype)
        XS, HS, DZ, dH, tmp, g = ws["XS"], ws["HS"], ws["DZ"], ws["dH"], ws["tmp"], ws["grads"]
        Wh = params["Wh"]
        for t in range(T):
            XS[t] = X[t]
        rows = lambda A: A.reshape(-1, A.shape[-1])  # noqa: E731  (steps x batch) rows, a view
        np.matmul(rows(XS), params["Wx"], out=rows(HS))  # all steps: one GEMM
        HS += params["b"]
        np.tanh(HS[0], out=HS[0])
        for t in range(1, T):
            np.matmul(HS[t - 1], Wh, out=tmp)
            HS[t] += tmp
            np.tanh(HS[t], out=HS[t])
        Z = ws["Z"]
        np.matmul(HS[-1], params["V"], out=Z)
        Z += params["c"]
        loss = _softmax_ce(Z, Y, n)
        np.matmul(HS[-1].T, Z, out=g["V"])
        np.add.reduce(Z, axis=0, keepdims=True, out=g["c"])
        np.matmul(Z, params["V"].T, out=dH)
        for t in range(T - 1, -1, -1):
            np.multiply(HS[t], HS[t], out=tmp)
            np.subtract(1, tmp, out=tmp)
            np.multiply(dH, tmp, out=DZ[t])
            if t:
                np.matmul(DZ[t], Wh.T, out=dH)
        np.matmul(rows(XS).T, rows(DZ), out=g["Wx"])
        np.matmul(rows(HS[:-1]).T, rows(DZ[1:]), out=g["Wh"])
        _bias_grad(rows(DZ), ws["ones"], g["b"])
        return loss, g


class Autoencoder:
    """Tied weights: H = sigmoid(X W + b), X_hat = H W^T + c, loss = mean((X_hat - X)^2)."""

    def __init__(self, inputs, code):
        self.d, self.k, self.ws = inputs, code, None

    def _workspace(self, n, dtype):
        d, k = self.d, self.k
        return {"n": n, "dtype": dtype, "ones": _ones(n, dtype),
                "H": np.empty((n, k), dtype), "E": np.empty((n, d), dtype),
                "dZ": np.empty((n, k), dtype), "tmp": np.empty((n, k), dtype),
                "dWd": np.empty((d, k), dtype),
                "grads": {"W": np.empty((d, k), dtype), "b": np.empty((1, k), dtype),
                          "c": np.empty((1, d), dtype)}}

    def loss_and_grad(self, params, X, Y=None):
        n = X.shape[0]
        ws = self.ws
        if ws is None or ws["n"] != n or ws["dtype"] != X.dtype:
            ws = self.ws = self._workspace(n, X.dtype)
        W, H, E, dZ, g = params["W"], ws["H"], ws["E"], ws["dZ"], ws["grads"]
        np.matmul(X, W, out=H)
        H += params["b"]
        _act("sigmoid", H)
        np.matmul(H, W.T, out=E)
        E += params["c"]
        E -= X
        size = E.size
        loss = np.vdot(E, E) / size
        E *= 2.0 / size                                   # dLoss / dX_hat
        _bias_grad(E, ws["ones"], g["c"])
        np.matmul(E, W, out=dZ)
        _act_backward("sigmoid", dZ, H, ws["tmp"], None)
        _bias_grad(dZ, ws["ones"], g["b"])
        np.matmul(X.T, dZ, out=g["W"])                   # encoder's use of W
        np.matmul(E.T, H, out=ws["dWd"])                 # decoder's use of W^T
        g["W"] += ws["dWd"]
        return loss, g


def _lenet(channels=1, size=28, classes=10):
    """The expert CNN of ``benchmarks.models.lenet``: conv 5x5 -> 6 (padding 2), conv 5x5 -> 16,
    each with ReLU and 2 x 2 max-pooling, then dense 120, 84, ``classes``."""
    from .expert_cnn import CNN

    return CNN((channels, size, size), [(6, 5, 2), (16, 5, 0)], [120, 84, classes])


def make(workload):
    """The expert for a ``benchmarks.models.Workload``."""
    if workload.family == "transformer":
        from .expert_transformer import Transformer

        return Transformer(causal=workload.spec.get("causal", False))
    return {"mlp": MLP, "rnn": RNN, "autoencoder": Autoencoder,
            "cnn": _lenet}[workload.family](**workload.spec)
