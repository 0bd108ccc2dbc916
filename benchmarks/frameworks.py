"""PyTorch eager, JAX jit and HIPS autograd contestants: the workloads' math, differentiated by them.

``make(framework, workload, params, data)`` returns a function of no arguments
computing ``(loss, grads)``; inputs are converted once, outside the timed call.
A framework that is not installed raises ``ImportError``.
"""

from __future__ import annotations

import numpy as np


def loss_fn(w, ops):
    """The workload's loss ``f(p, data)`` written with the framework's operations ``ops``."""
    act = {"relu": ops.relu, "sigmoid": ops.sigmoid, "tanh": ops.tanh}

    def ce(Z, Y):
        return -ops.sum(Y * ops.log_softmax(Z)) / Z.shape[0]

    if w.family == "mlp":
        layers = len(w.spec["sizes"]) - 1

        def f(p, d):
            H = d["X"]
            for k in range(1, layers + 1):
                H = H @ p[f"W{k}"] + p[f"b{k}"]
                if k < layers:
                    H = act[w.spec.get("act", "relu")](H)
            return ce(H, d["Y"])
    elif w.family == "rnn":
        def f(p, d):
            h = ops.tanh(d["X1"] @ p["Wx"] + p["b"])
            for t in range(2, w.spec["steps"] + 1):
                h = ops.tanh(d[f"X{t}"] @ p["Wx"] + p["b"] + h @ p["Wh"])
            return ce(h @ p["V"] + p["c"], d["Y"])
    elif w.family == "cnn":
        def f(p, d):
            H = ops.max_pool2d(ops.relu(ops.conv2d(d["X"], p["K1"], p["c1"], 1, 2)), 2, 2)
            H = ops.flatten(ops.max_pool2d(ops.relu(ops.conv2d(H, p["K2"], p["c2"], 1, 0)), 2, 2))
            H = ops.relu(H @ p["W1"] + p["b1"])
            H = ops.relu(H @ p["W2"] + p["b2"])
            return ce(H @ p["W3"] + p["b3"], d["Y"])
    elif w.family == "transformer":
        f = _transformer(w, ops)
    else:
        def f(p, d):
            H = ops.sigmoid(d["X"] @ p["W"] + p["b"])
            E = H @ p["W"].T + p["c"] - d["X"]
            return ops.sum(E * E) / (E.shape[0] * E.shape[1])
    return f


def _transformer(w, ops):
    """One pre-LN block (``benchmarks/expert_transformer.py``), softmax CE of every token."""
    causal = w.spec.get("causal", False)

    def f(p, d):
        x = ops.embedding(d["ids"], p["E"]) + p["Pos"]
        a = ops.layer_norm(x, p["g1"], p["b1"])
        q, k, v = a @ p["Wq"], a @ p["Wk"], a @ p["Wv"]
        x2 = x + ops.attention(q, k, v, causal) @ p["Wo"]
        u = ops.gelu(ops.layer_norm(x2, p["g2"], p["b2"]) @ p["W1"] + p["c1"])
        z = (x2 + u @ p["W2"] + p["c2"]) @ p["Wout"] + p["cout"]
        return -ops.sum(d["Y"] * ops.log_softmax_last(z)) / (z.shape[0] * z.shape[1])
    return f


def _layer_norm(xp):
    def layer_norm(x, g, b, eps=1e-5):
        centred = x - xp.mean(x, axis=-1, keepdims=True)
        return centred / xp.sqrt(xp.mean(centred * centred, axis=-1, keepdims=True) + eps) * g + b
    return layer_norm


def _attention(xp, softmax):
    def attention(q, k, v, causal):
        s = q @ xp.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
        if causal:
            s = xp.where(np.tri(s.shape[-1], dtype=bool), s, -np.inf)
        return softmax(s) @ v
    return attention


class _Ops:
    def __init__(self, **ops):
        self.__dict__.update(ops)


def make_torch(w, params, data):
    import torch

    F = torch.nn.functional
    ops = _Ops(relu=torch.relu, sigmoid=torch.sigmoid, tanh=torch.tanh, sum=torch.sum,
               log_softmax=lambda z: torch.log_softmax(z, dim=1), conv2d=F.conv2d,
               max_pool2d=F.max_pool2d, flatten=lambda x: torch.flatten(x, 1),
               embedding=F.embedding, gelu=F.gelu,
               layer_norm=lambda x, g, b: F.layer_norm(x, x.shape[-1:], g[0], b[0], eps=1e-5),
               attention=lambda q, k, v, causal: F.scaled_dot_product_attention(
                   q, k, v, is_causal=causal),
               log_softmax_last=lambda z: torch.log_softmax(z, dim=-1))
    f = loss_fn(w, ops)
    names = list(params)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    d = {k: torch.tensor(v) for k, v in data.items()}

    def step():
        loss = f(p, d)
        return loss, dict(zip(names, torch.autograd.grad(loss, [p[k] for k in names]), strict=True))

    return step


def make_jax(w, params, data):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    from symbp.refops import JaxOps  # conv2d: lax.conv_general_dilated; pooling: reduce_window

    tensor_ops = JaxOps()
    ops = _Ops(relu=jax.nn.relu, sigmoid=jax.nn.sigmoid, tanh=jnp.tanh, sum=jnp.sum,
               log_softmax=lambda z: jax.nn.log_softmax(z, axis=1), conv2d=tensor_ops.conv2d,
               max_pool2d=tensor_ops.max_pool2d, flatten=tensor_ops.flatten,
               embedding=lambda ids, table: jnp.take(table, ids, axis=0),
               gelu=lambda x: jax.nn.gelu(x, approximate=False), layer_norm=_layer_norm(jnp),
               attention=_attention(jnp, lambda s: jax.nn.softmax(s, axis=-1)),
               log_softmax_last=lambda z: jax.nn.log_softmax(z, axis=-1))
    step = jax.jit(jax.value_and_grad(loss_fn(w, ops)))
    p = {k: jnp.asarray(v) for k, v in params.items()}
    d = {k: jnp.asarray(v) for k, v in data.items()}
    return lambda: jax.block_until_ready(step(p, d))


def make_autograd(w, params, data):
    import autograd.numpy as anp
    from autograd import value_and_grad

    def log_softmax(z, axis=1):
        shift = z - anp.max(z, axis=axis, keepdims=True)
        return shift - anp.log(anp.sum(anp.exp(shift), axis=axis, keepdims=True))

    from symbp.refops import AutogradOps  # conv2d and pooling one output position at a time

    tensor_ops = AutogradOps()
    ops = _Ops(relu=lambda z: anp.maximum(z, 0), sigmoid=lambda z: 1 / (1 + anp.exp(-z)),
               tanh=anp.tanh, sum=anp.sum, log_softmax=log_softmax, conv2d=tensor_ops.conv2d,
               max_pool2d=tensor_ops.max_pool2d, flatten=tensor_ops.flatten,
               embedding=lambda ids, table: table[ids], gelu=tensor_ops.gelu,
               layer_norm=_layer_norm(anp), log_softmax_last=lambda z: log_softmax(z, -1),
               attention=_attention(anp, lambda s: anp.exp(log_softmax(s, -1))))
    step = value_and_grad(loss_fn(w, ops))
    return lambda: step(params, data)


FRAMEWORKS = {"PyTorch eager": make_torch, "JAX jit": make_jax, "autograd": make_autograd}


def to_numpy(result):
    """``(loss, grads)`` of any contestant as a float and NumPy arrays."""
    loss, grads = result
    convert = (lambda t: t.detach().numpy()) if hasattr(loss, "detach") else np.asarray
    return float(convert(loss)), {name: convert(g) for name, g in grads.items()}


def agrees(result, reference) -> bool:
    """Whether ``result`` matches the reference ``(loss, grads)`` (float64 tolerances)."""
    loss, grads = to_numpy(result)
    ref_loss, ref_grads = to_numpy(reference)
    return set(grads) == set(ref_grads) and np.allclose(loss, ref_loss, rtol=1e-7, atol=1e-10) and all(
        np.allclose(grads[k], ref_grads[k], rtol=1e-7, atol=1e-10) for k in ref_grads)
