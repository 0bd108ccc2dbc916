"""The contestants for a ReLU MLP with softmax cross-entropy: loss and all gradients.

Every ``make_*`` takes the layer sizes, the parameters (``W1, b1, ...`` as
NumPy arrays) and the data (``X``, one-hot ``Y``) and returns a function of no
arguments computing ``(loss, grads)``; all inputs are converted once, outside
the timed call. An optional framework that is not installed raises
``ImportError``; the caller skips it with a note.
"""

from __future__ import annotations

import numpy as np


def handwritten_1(params, X, Y):
    """What a careful engineer writes in NumPy for one hidden ReLU layer: ``(loss, grads)``."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = X.shape[0]
    Z1 = X @ W1 + b1
    A1 = np.maximum(Z1, 0)
    Z2 = A1 @ W2 + b2
    shift = Z2 - Z2.max(axis=1, keepdims=True)              # stable log-sum-exp
    exp = np.exp(shift)
    total = exp.sum(axis=1, keepdims=True)
    loss = -np.sum(Y * (shift - np.log(total))) / n
    dZ2 = (exp / total - Y) / n
    dW2 = A1.T @ dZ2
    db2 = dZ2.sum(0, keepdims=True)
    dA1 = dZ2 @ W2.T
    dZ1 = dA1 * (Z1 > 0)
    dW1 = X.T @ dZ1
    db1 = dZ1.sum(0, keepdims=True)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def handwritten_2(params, X, Y):
    """The same for two hidden ReLU layers."""
    W1, b1, W2, b2, W3, b3 = (params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    n = X.shape[0]
    Z1 = X @ W1 + b1
    A1 = np.maximum(Z1, 0)
    Z2 = A1 @ W2 + b2
    A2 = np.maximum(Z2, 0)
    Z3 = A2 @ W3 + b3
    shift = Z3 - Z3.max(axis=1, keepdims=True)
    exp = np.exp(shift)
    total = exp.sum(axis=1, keepdims=True)
    loss = -np.sum(Y * (shift - np.log(total))) / n
    dZ3 = (exp / total - Y) / n
    dW3 = A2.T @ dZ3
    db3 = dZ3.sum(0, keepdims=True)
    dA2 = dZ3 @ W3.T
    dZ2 = dA2 * (Z2 > 0)
    dW2 = A1.T @ dZ2
    db2 = dZ2.sum(0, keepdims=True)
    dA1 = dZ2 @ W2.T
    dZ1 = dA1 * (Z1 > 0)
    dW1 = X.T @ dZ1
    db1 = dZ1.sum(0, keepdims=True)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}


HANDWRITTEN = {2: handwritten_1, 3: handwritten_2}  # number of weight layers -> function


def make_handwritten(params, data):
    function = HANDWRITTEN[len(params) // 2]
    return lambda: function(params, **data)


def make_generated(module, params, data):
    return lambda: module.loss_and_grad(params, **data)


def make_torch(params, data):
    import torch

    names = list(params)
    weights = [torch.tensor(params[name], requires_grad=True) for name in names]
    X, Y = torch.tensor(data["X"]), torch.tensor(data["Y"])
    n, layers = X.shape[0], len(names) // 2

    def step():
        H = X
        for k in range(layers):
            Z = H @ weights[2 * k] + weights[2 * k + 1]
            H = torch.relu(Z) if k < layers - 1 else Z
        loss = -(Y * torch.log_softmax(Z, dim=1)).sum() / n
        return loss, dict(zip(names, torch.autograd.grad(loss, weights), strict=True))

    return step


def make_jax(params, data):
    import jax
    import jax.numpy as jnp

    # float64 needs x64; float32 inputs stay float32 under it (Python scalars are weakly typed)
    jax.config.update("jax_enable_x64", True)
    layers = len(params) // 2

    def loss(p, X, Y):
        H = X
        for k in range(1, layers + 1):
            Z = H @ p[f"W{k}"] + p[f"b{k}"]
            H = jax.nn.relu(Z) if k < layers else Z
        return -jnp.sum(Y * jax.nn.log_softmax(Z, axis=1)) / X.shape[0]

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    p = {name: jnp.asarray(value) for name, value in params.items()}
    X, Y = jnp.asarray(data["X"]), jnp.asarray(data["Y"])
    return lambda: jax.block_until_ready(value_and_grad(p, X, Y))


def make_autograd(params, data):
    import autograd.numpy as anp
    from autograd import value_and_grad

    layers = len(params) // 2

    def loss(p, X, Y):
        H = X
        for k in range(1, layers + 1):
            Z = anp.dot(H, p[f"W{k}"]) + p[f"b{k}"]
            H = anp.maximum(Z, 0) if k < layers else Z
        shift = Z - anp.max(Z, axis=1, keepdims=True)
        log_probs = shift - anp.log(anp.sum(anp.exp(shift), axis=1, keepdims=True))
        return -anp.sum(Y * log_probs) / X.shape[0]

    step = value_and_grad(loss)
    return lambda: step(params, data["X"], data["Y"])


PEERS = {
    "PyTorch eager": make_torch,
    "JAX jit": make_jax,
    "autograd": make_autograd,
}


def to_numpy(result):
    """``(loss, grads)`` of any contestant as a float and NumPy arrays."""
    loss, grads = result
    convert = (lambda t: t.detach().numpy()) if hasattr(loss, "detach") else np.asarray
    return float(convert(loss)), {name: convert(g) for name, g in grads.items()}


def agrees(result, reference, dtype) -> tuple[bool, str]:
    """Whether ``result`` matches the reference ``(loss, grads)``, and the dtype it computed in."""
    loss, grads = to_numpy(result)
    ref_loss, ref_grads = to_numpy(reference)
    tol = {"rtol": 1e-7, "atol": 1e-10} if dtype == np.float64 else {"rtol": 2e-3, "atol": 1e-6}
    ok = set(grads) == set(ref_grads) and np.allclose(loss, ref_loss, **tol) and all(
        np.allclose(grads[name], ref_grads[name], **tol) for name in ref_grads)
    dtypes = {str(g.dtype) for g in grads.values()}
    return ok, "/".join(sorted(dtypes))
