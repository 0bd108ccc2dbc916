"""Independent forward evaluation of a model's loss for the equivalence checks.

The user's own SymPy expression (not symbp's graph, rules or generated
code) is evaluated node by node with the operations of a framework:
NumPy (for finite differences), HIPS autograd, JAX or PyTorch. Their
autodiff then gives the reference gradient.
"""

from __future__ import annotations

import functools
import importlib

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.matrices.expressions.special import OneMatrix, ZeroMatrix

from .errors import SymbpError
from .functions import (
    LeakyReLU,
    LogSoftmax,
    LogSumExp,
    ReLU,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Softplus,
)

__all__ = ["Backend", "backend", "evaluate", "BACKENDS"]

_UNARY = ("exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos",
          "arctan", "arcsinh", "arccosh", "arctanh", "abs", "sign", "sqrt")
_SYMPY_UNARY = {sp.exp: "exp", sp.log: "log", sp.sin: "sin", sp.cos: "cos", sp.tan: "tan",
                sp.tanh: "tanh", sp.sinh: "sinh", sp.cosh: "cosh", sp.asin: "arcsin",
                sp.acos: "arccos", sp.atan: "arctan", sp.asinh: "arcsinh", sp.acosh: "arccosh",
                sp.atanh: "arctanh", sp.Abs: "abs", sp.sign: "sign"}


class Backend:
    """Array operations of one framework (NumPy-like API by default)."""

    name = "numpy"
    module = "numpy"

    def __init__(self):
        self.xp = importlib.import_module(self.module)

    def const(self, value: float):
        return value

    def array(self, value):
        return self.xp.asarray(value, dtype=self.xp.float64)

    def unary(self, name: str, x):
        return getattr(self.xp, name)(x)

    def ones(self, shape):
        return self.xp.ones(shape)

    def eye(self, k):
        return self.xp.eye(k)

    def zeros(self, shape):
        return self.xp.zeros(shape)

    def trace(self, x):
        return self.xp.trace(x)

    def inv(self, x):
        return self.xp.linalg.inv(x)

    def where(self, cond, a, b):
        return self.xp.where(cond, a, b)

    def maximum(self, a, b):
        return self.xp.maximum(a, b)

    def minimum(self, a, b):
        return self.xp.minimum(a, b)

    def logaddexp(self, a, b):
        return self.xp.logaddexp(a, b)

    def step(self, x, at_zero: float):
        return self.where(x > 0, 1.0, self.where(x < 0, 0.0, at_zero))

    def sigmoid(self, x):
        return self.xp.exp(-self.xp.logaddexp(0.0, -x))

    def relu(self, x):
        return self.where(x > 0, x, 0.0)

    def rowmax(self, z):
        return self.xp.max(z, axis=1, keepdims=True)

    def log_softmax(self, z):
        shifted = z - self.rowmax(z)
        return shifted - self.xp.log(self.xp.sum(self.xp.exp(shifted), axis=1, keepdims=True))

    def sum(self, x):
        return self.xp.sum(x)

    def mean(self, x):
        return self.xp.mean(x)

    def grad(self, f, params: list):
        raise SymbpError(f"the {self.name} backend has no autodiff; use it with finite differences.")


class AutogradBackend(Backend):
    name = "autograd"
    module = "autograd.numpy"

    def grad(self, f, params):
        import autograd

        return autograd.value_and_grad(f)(params)


class JaxBackend(Backend):
    name = "jax"
    module = "jax.numpy"

    def __init__(self):
        import jax

        jax.config.update("jax_enable_x64", True)
        super().__init__()

    def sigmoid(self, x):
        import jax

        return jax.nn.sigmoid(x)

    def grad(self, f, params):
        import jax

        return jax.value_and_grad(f)(params)


class TorchBackend(Backend):
    name = "torch"
    module = "torch"

    def array(self, value):
        return self.xp.as_tensor(value, dtype=self.xp.float64)

    def const(self, value):
        return value

    def unary(self, name, x):
        x = self._t(x)
        if name == "arcsin":
            name = "asin"
        elif name.startswith("arc"):
            name = "a" + name[3:]
        return getattr(self.xp, name)(x)

    def _t(self, x):
        return x if isinstance(x, self.xp.Tensor) else self.xp.tensor(x, dtype=self.xp.float64)

    def ones(self, shape):
        return self.xp.ones(shape, dtype=self.xp.float64)

    def eye(self, k):
        return self.xp.eye(k, dtype=self.xp.float64)

    def zeros(self, shape):
        return self.xp.zeros(shape, dtype=self.xp.float64)

    def where(self, cond, a, b):
        return self.xp.where(cond, self._t(a), self._t(b))

    def maximum(self, a, b):
        return self.xp.maximum(self._t(a), self._t(b))

    def minimum(self, a, b):
        return self.xp.minimum(self._t(a), self._t(b))

    def logaddexp(self, a, b):
        return self.xp.logaddexp(self._t(a), self._t(b))

    def sigmoid(self, x):
        return self.xp.sigmoid(self._t(x))

    def relu(self, x):
        return self.xp.relu(self._t(x))

    def log_softmax(self, z):
        return self.xp.log_softmax(z, dim=1)

    def sum(self, x):
        return self.xp.sum(self._t(x))

    def mean(self, x):
        return self.xp.mean(self._t(x))

    def grad(self, f, params):
        leaves = [self._t(p).detach().clone().requires_grad_(True) for p in params]
        value = f(leaves)
        grads = self.xp.autograd.grad(value, leaves, allow_unused=True)
        return value.detach().numpy(), [
            self.xp.zeros_like(p) if g is None else g.detach().numpy()
            for p, g in zip(leaves, grads, strict=True)
        ]


BACKENDS = {"numpy": Backend, "autograd": AutogradBackend, "jax": JaxBackend,
            "torch": TorchBackend}


@functools.cache
def backend(name: str) -> Backend:
    """The backend called ``name``; a clear error if its package is missing."""
    if name not in BACKENDS:
        raise SymbpError(f"unknown reference {name!r}; choose one of {', '.join(BACKENDS)} or 'fd'.")
    try:
        return BACKENDS[name]()
    except ImportError as exc:
        raise SymbpError(f"the reference {name!r} needs the package {exc.name!r}; install it "
                         f"with pip install symbp[{'test' if name == 'autograd' else name}].") from exc


def evaluate(expr, env: dict, b: Backend, dims: dict | None = None):
    """The value of SymPy ``expr`` with leaves from ``env`` (name -> array) and
    symbolic sizes from ``dims`` (symbol -> int)."""
    dims = dims or {}
    env = {**env, **{d.name: v for d, v in dims.items()}}
    memo: dict = {}
    stack = [expr]
    while stack:
        e = stack[-1]
        if e in memo:
            stack.pop()
            continue
        children = _children(e)
        pending = [c for c in children if c not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        memo[e] = _apply(e, [memo[c] for c in children], env, b, dims)
    return memo[expr]


def _children(e) -> list:
    if isinstance(e, (sp.Symbol, sp.MatrixSymbol, OneMatrix, ZeroMatrix, sp.Identity)) or e.is_Number:
        return []
    if isinstance(e, MatrixElement):
        return [e.parent]
    if isinstance(e, ElementwiseApplyFunction):
        return [e.expr]
    if isinstance(e, sp.HadamardPower):
        return [e.base, e.exp]
    return list(e.args)


def _size(d, dims: dict) -> int:
    return int(sp.sympify(d).xreplace(dims))


def _apply(e, a: list, env: dict, b: Backend, dims: dict):
    if isinstance(e, (sp.Symbol, sp.MatrixSymbol)):
        if e.name not in env:
            raise SymbpError(f"no value for {e.name} in the reference evaluation.")
        return env[e.name]
    if e.is_Number or isinstance(e, sp.NumberSymbol):
        return b.const(float(e))
    if isinstance(e, OneMatrix):
        return b.ones(tuple(_size(d, dims) for d in e.shape))
    if isinstance(e, ZeroMatrix):
        return b.zeros(tuple(_size(d, dims) for d in e.shape))
    if isinstance(e, sp.Identity):
        return b.eye(_size(e.shape[0], dims))
    if isinstance(e, ElementwiseApplyFunction):
        var, body = e.function.variables[0], e.function.expr
        name = f"_symbp_bound{len(env)}"
        return evaluate(body.xreplace({var: sp.Symbol(name)}), {**env, name: a[0]}, b, dims)
    return _apply_op(e, a, b, dims)


def _apply_op(e, a, b: Backend, dims: dict):
    if isinstance(e, sp.MatMul):  # before Mul: MatMul subclasses it
        scalars = [v for v, s in zip(a, e.args, strict=True) if not s.is_Matrix]
        mats = [v for v, s in zip(a, e.args, strict=True) if s.is_Matrix]
        out = functools.reduce(lambda x, y: x @ y, mats)
        for s in scalars:
            out = s * out
        return out
    if isinstance(e, (sp.Add, sp.MatAdd)):
        return functools.reduce(lambda x, y: x + y, a)
    if isinstance(e, (sp.Mul, sp.HadamardProduct)):
        return functools.reduce(lambda x, y: x * y, a)
    if isinstance(e, (sp.Pow, sp.HadamardPower)):
        return a[0] ** a[1]
    if isinstance(e, sp.Transpose):
        return a[0].T
    if isinstance(e, sp.Trace):
        return b.trace(a[0])
    if isinstance(e, sp.Inverse):
        return b.inv(a[0])
    if isinstance(e, sp.MatPow):
        out = a[0]
        for _ in range(int(e.args[1]) - 1):
            out = out @ a[0]
        return out
    if isinstance(e, MatrixElement):
        return a[0][int(e.i), int(e.j)]
    if type(e) in _SYMPY_UNARY:
        return b.unary(_SYMPY_UNARY[type(e)], a[0])
    return _apply_vocabulary(e, a, b, dims)


def _apply_vocabulary(e, a, b: Backend, dims: dict):
    if isinstance(e, Sigmoid):
        return b.sigmoid(a[0])
    if isinstance(e, ReLU):
        return b.relu(a[0])
    if isinstance(e, LeakyReLU):
        return b.where(a[0] > 0, a[0], a[1] * a[0])
    if isinstance(e, Softplus):
        return b.logaddexp(0.0, a[0])
    if isinstance(e, LogSumExp):
        return functools.reduce(b.logaddexp, a)
    if isinstance(e, sp.Max):
        return functools.reduce(b.maximum, a)
    if isinstance(e, sp.Min):
        return functools.reduce(b.minimum, a)
    if isinstance(e, sp.Heaviside):
        at_zero = float(e.args[1]) if len(e.args) > 1 else 0.5
        return b.step(a[0], at_zero)
    if isinstance(e, LogSoftmax):
        return b.log_softmax(a[0])
    if isinstance(e, Softmax):
        return b.unary("exp", b.log_softmax(a[0]))
    if isinstance(e, SoftmaxCrossEntropy):
        z, y = a
        return -b.sum(y * b.log_softmax(z)) / _size(e.args[0].shape[0], dims)
    raise SymbpError(f"the reference evaluator has no operation for {e.func.__name__} in {e}.")
