"""Array operations of the reference frameworks: NumPy, HIPS autograd, JAX, PyTorch.

The reference loss printed by ``symbp.reference`` calls ``F.<op>(...)`` for
every operation that differs between frameworks; ``+``, ``*``, ``@``, ``**``,
``.T`` and indexing are written as Python operators. This file imports only
NumPy at the top and is self-contained on purpose: symbp's emitted tests
embed its source, so they run wherever NumPy and the reference are installed.
"""

import numpy as np


class NumpyOps:
    """NumPy semantics; the other frameworks override what differs."""

    name = "numpy"

    def __init__(self):
        self.xp = np

    def array(self, value):
        return self.xp.asarray(value, dtype=self.xp.float64)

    def __getattr__(self, name):  # exp, log, sin, tanh, arcsin, abs, sign, ...
        return getattr(self.xp, name)

    def ones(self, shape):
        return self.xp.ones(shape)

    def zeros(self, shape):
        return self.xp.zeros(shape)

    def eye(self, k):
        return self.xp.eye(k)

    def inv(self, x):
        return self.xp.linalg.inv(x)

    def det(self, x):
        return self.xp.linalg.det(x)

    def logdet(self, x):  # log |det x|
        return self.xp.linalg.slogdet(x)[1]

    def kron(self, a, b):  # the blocks a_ij b, by broadcasting a (m, 1, n, 1) by b (1, p, 1, q)
        (m, n), (p, q) = a.shape, b.shape
        return self.xp.reshape(a[:, None, :, None] * b[None, :, None, :], (m * p, n * q))

    def block(self, rows):  # a matrix of blocks, given as a list of rows of blocks
        return self.xp.concatenate([self.xp.concatenate(r, axis=1) for r in rows], axis=0)

    def diag(self, v):  # the square matrix with the entries of a column or row on its diagonal
        return self.xp.diag(self.xp.reshape(v, (-1,)))

    def step(self, x, at_zero):
        return self.xp.where(x > 0, 1.0, self.xp.where(x < 0, 0.0, at_zero))

    def sigmoid(self, x):
        return self.xp.exp(-self.xp.logaddexp(0.0, -x))

    def relu(self, x):
        return self.xp.where(x > 0, x, 0.0)

    def leaky_relu(self, x, alpha):
        return self.xp.where(x > 0, x, alpha * x)

    def softplus(self, x):
        return self.xp.logaddexp(0.0, x)

    def erf(self, x):  # NumPy has none: SciPy's (finite differences only)
        from scipy.special import erf

        return erf(x)

    def normal_cdf(self, x):
        return 0.5 * (1.0 + self.erf(x / np.sqrt(2.0)))

    def normal_pdf(self, x):
        return self.xp.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)

    def gelu(self, x):  # the exact GELU, from its definition x Φ(x)
        return x * self.normal_cdf(x)

    def silu(self, x):
        return x * self.sigmoid(x)

    def elu(self, x, alpha):
        return self.xp.where(x > 0, x, alpha * (self.xp.exp(self.xp.minimum(x, 0.0)) - 1.0))

    def istd(self, x, eps, axis):  # 1 / sqrt(biased variance + eps) along axis
        centred = x - self.xp.mean(x, axis=axis, keepdims=True)
        return 1.0 / self.xp.sqrt(self.xp.mean(centred * centred, axis=axis, keepdims=True) + eps)

    def normalize(self, x, eps, axis):  # layer norm (axis 1) or training batch norm (axis 0)
        return (x - self.xp.mean(x, axis=axis, keepdims=True)) * self.istd(x, eps, axis)

    def causal_mask(self, s):  # -inf above the diagonal (of each sequence's scores)
        rows, cols = s.shape[-2:]
        return self.xp.where(np.tri(rows, cols, dtype=bool), s, -np.inf)

    def embedding(self, ids, table):
        return table[np.asarray(ids, dtype=np.int64)[:, 0]]

    def log_softmax(self, z):
        shifted = z - self.xp.max(z, axis=1, keepdims=True)
        return shifted - self.xp.log(self.xp.sum(self.xp.exp(shifted), axis=1, keepdims=True))

    def softmax(self, z):
        return self.xp.exp(self.log_softmax(z))

    def sce(self, z, y):
        return -self.xp.sum(y * self.log_softmax(z)) / z.shape[0]

    def value_and_grad(self, f, params):
        raise NotImplementedError("NumPy has no autodiff; use finite differences")

    # -- NCHW tensors: one output position at a time (no im2col, no derivative of ours) --
    def _padded(self, x, p):
        if p == 0:
            return x
        n, c, h, w = x.shape
        rows = self.xp.zeros((n, c, p, w))
        x = self.xp.concatenate([rows, x, rows], axis=2)
        cols = self.xp.zeros((n, c, h + 2 * p, p))
        return self.xp.concatenate([cols, x, cols], axis=3)

    def _slide(self, x, kh, kw, stride, reduce):
        """``reduce(window)`` -> (n, m) at every output position, stacked to (n, m, oh, ow)."""
        oh, ow = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
        rows = []
        for y in range(oh):
            row = [reduce(x[:, :, y * stride:y * stride + kh, q * stride:q * stride + kw])
                   for q in range(ow)]
            rows.append(self.xp.stack(row, axis=-1))
        return self.xp.stack(rows, axis=-2)

    def conv2d(self, x, k, b, stride, padding):
        kh, kw = k.shape[2], k.shape[3]
        z = self._slide(self._padded(x, padding), kh, kw, stride,
                        lambda win: self.xp.einsum("ncij,ocij->no", win, k))
        return z if b is None else z + self.xp.reshape(b, (1, -1, 1, 1))

    def max_pool2d(self, x, k, stride):
        return self._slide(x, k, k, stride, lambda win: self.xp.max(win, axis=(2, 3)))

    def avg_pool2d(self, x, k, stride):
        return self._slide(x, k, k, stride, lambda win: self.xp.mean(win, axis=(2, 3)))

    def flatten(self, x):
        return self.xp.reshape(x, (x.shape[0], -1))


class AutogradOps(NumpyOps):
    name = "autograd"

    def __init__(self):
        import autograd.numpy

        self.xp = autograd.numpy

    def erf(self, x):
        from autograd.scipy.special import erf

        return erf(x)

    def value_and_grad(self, f, params):
        import autograd

        value, grads = autograd.value_and_grad(f)(list(params))
        return float(value), [np.asarray(g) for g in grads]


class JaxOps(NumpyOps):
    name = "jax"

    def __init__(self):
        import jax

        jax.config.update("jax_enable_x64", True)
        self.xp = jax.numpy

    def sigmoid(self, x):
        import jax

        return jax.nn.sigmoid(x)

    def erf(self, x):
        import jax

        return jax.scipy.special.erf(x)

    def conv2d(self, x, k, b, stride, padding):
        from jax import lax

        pads = [(padding, padding), (padding, padding)]
        z = lax.conv_general_dilated(x, k, (stride, stride), pads,
                                     precision=lax.Precision.HIGHEST)
        return z if b is None else z + self.xp.reshape(b, (1, -1, 1, 1))

    def max_pool2d(self, x, k, stride):
        from jax import lax

        return lax.reduce_window(x, -self.xp.inf, lax.max, (1, 1, k, k), (1, 1, stride, stride),
                                 "VALID")

    def avg_pool2d(self, x, k, stride):
        from jax import lax

        total = lax.reduce_window(x, 0.0, lax.add, (1, 1, k, k), (1, 1, stride, stride), "VALID")
        return total / (k * k)

    def value_and_grad(self, f, params):
        import jax

        value, grads = jax.value_and_grad(f)([self.array(p) for p in params])
        return float(value), [np.asarray(g) for g in grads]


class TorchOps(NumpyOps):
    name = "torch"

    def __init__(self):
        import torch

        self.xp = torch

    def array(self, value):
        return self.xp.as_tensor(np.asarray(value), dtype=self.xp.float64)

    def _t(self, x):
        return x if isinstance(x, self.xp.Tensor) else self.xp.tensor(x, dtype=self.xp.float64)

    def __getattr__(self, name):
        fn = getattr(self.xp, {"arcsin": "asin", "arccos": "acos", "arctan": "atan",
                               "arcsinh": "asinh", "arccosh": "acosh",
                               "arctanh": "atanh", "arctan2": "atan2"}.get(name, name))
        return lambda *args: fn(*(self._t(a) for a in args))

    def ones(self, shape):
        return self.xp.ones(shape, dtype=self.xp.float64)

    def zeros(self, shape):
        return self.xp.zeros(shape, dtype=self.xp.float64)

    def eye(self, k):
        return self.xp.eye(k, dtype=self.xp.float64)

    def arange(self, start, stop):
        return self.xp.arange(start, stop)

    def inv(self, x):
        return self.xp.linalg.inv(x)

    def step(self, x, at_zero):
        x = self._t(x)
        return self.xp.where(x > 0, 1.0, self.xp.where(x < 0, 0.0, at_zero)).to(x.dtype)

    def sigmoid(self, x):
        return self.xp.sigmoid(self._t(x))

    def relu(self, x):
        return self.xp.relu(self._t(x))

    def leaky_relu(self, x, alpha):
        x = self._t(x)
        return self.xp.where(x > 0, x, alpha * x)

    def softplus(self, x):
        x = self._t(x)
        return self.xp.logaddexp(self.xp.zeros_like(x), x)

    def erf(self, x):
        return self.xp.special.erf(self._t(x))

    def gelu(self, x):
        return self.xp.nn.functional.gelu(self._t(x))

    def silu(self, x):
        return self.xp.nn.functional.silu(self._t(x))

    def elu(self, x, alpha):
        return self.xp.nn.functional.elu(self._t(x), alpha=float(alpha))

    def normalize(self, x, eps, axis):
        functional = self.xp.nn.functional
        x = self._t(x)
        if axis == 1:
            return functional.layer_norm(x, (x.shape[1],), eps=eps)
        return functional.batch_norm(x, None, None, training=True, eps=eps)

    def causal_mask(self, s):
        s = self._t(s)
        keep = self.xp.ones(s.shape, dtype=self.xp.bool).tril()
        return s.masked_fill(~keep, float("-inf"))

    def embedding(self, ids, table):
        return self.xp.nn.functional.embedding(self._t(ids).long()[:, 0], table)

    def log_softmax(self, z):
        return self.xp.log_softmax(z, dim=1)

    def conv2d(self, x, k, b, stride, padding):
        return self.xp.nn.functional.conv2d(x, k, b, stride=stride, padding=padding)

    def max_pool2d(self, x, k, stride):
        return self.xp.nn.functional.max_pool2d(x, k, stride)

    def avg_pool2d(self, x, k, stride):
        return self.xp.nn.functional.avg_pool2d(x, k, stride)

    def flatten(self, x):
        return self.xp.flatten(x, 1)

    def reshape(self, x, shape):
        return self._t(x).reshape(shape)

    def einsum(self, spec, *operands):
        return self.xp.einsum(spec, *(self._t(a) for a in operands))

    def sce(self, z, y):
        return -self.xp.sum(y * self.log_softmax(z)) / z.shape[0]

    def value_and_grad(self, f, params):
        leaves = [self.array(p).requires_grad_(True) for p in params]
        value = f(leaves)
        grads = self.xp.autograd.grad(value, leaves, allow_unused=True)
        return float(value.detach()), [np.zeros(p.shape) if g is None else g.detach().numpy()
                              for p, g in zip(leaves, grads, strict=True)]


OPS = {"numpy": NumpyOps, "autograd": AutogradOps, "jax": JaxOps, "torch": TorchOps}


def finite_differences(f, params, step=1e-6):
    """Central differences of the scalar ``f(list of arrays)`` at ``params``."""
    params = [np.array(p, dtype=np.float64) for p in params]
    grads = []
    for p in params:
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            h = step * max(1.0, abs(float(p[idx])))
            saved = p[idx]
            p[idx] = saved + h
            plus = float(f(params))
            p[idx] = saved - h
            minus = float(f(params))
            p[idx] = saved
            g[idx] = (plus - minus) / (2 * h)
        grads.append(g)
    return grads


def relative_error(ours, ref):
    """max |ours - ref| / max |ref| (the denominator at least 1e-8)."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        raise AssertionError(f"shape {ours.shape} differs from the reference's {ref.shape}")
    if not ours.size:
        return 0.0
    return float(np.max(np.abs(ours - ref))) / max(float(np.max(np.abs(ref))), 1e-8)
