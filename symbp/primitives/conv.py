"""2-D convolution over NCHW tensors: classes, backward classes and node records.

``conv2d`` is the cross-correlation of ``torch.nn.functional.conv2d`` (``X`` of shape
``(n, C, H, W)``, kernel ``K`` of shape ``(O, C, kh, kw)``, bias ``b`` of shape ``(O,)``):

    Z[n, o, y, x] = b[o] + Σ_{c, i, j} K[o, c, i, j] · Xpad[n, c, s·y + i, s·x + j]

Its vector-Jacobian products, as the textbook states them (Ḡ is dL/dZ):

* input:  X̄pad[n, c, p, q] = Σ_{o, i, j: s·y + i = p, s·x + j = q} K[o, c, i, j] · Ḡ[n, o, y, x],
  the full correlation of the (stride-dilated) Ḡ with the flipped kernel, i.e. a transposed
  convolution; X̄ is X̄pad without its padding;
* kernel: K̄[o, c, i, j] = Σ_{n, y, x} Ḡ[n, o, y, x] · Xpad[n, c, s·y + i, s·x + j], the
  correlation of the input with Ḡ;
* bias:   b̄[o] = Σ_{n, y, x} Ḡ[n, o, y, x].

Every class is a ``MatrixExpr`` whose SymPy shape is the tensor's matrix view (see
``tensor.py``); its ``spec`` holds the full shapes and the stride and padding. In generated
code the classes print as calls of the runtime helpers of ``templates/tensor_ops.py.j2``.
"""

from __future__ import annotations

import functools
import types

import numpy as np
import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

from ..matalg import TENSOR_ELEMENTWISE
from ..templating import template_environment
from .base import Primitive, np_name, register
from .tensor import TensorElementwise, TensorOps, is_tensor, matrix_view

__all__ = ["Conv2d", "Conv2dInputGrad", "Conv2dKernelGrad", "ChannelSum", "conv_out",
           "RUNTIME_KINDS", "runtime"]

RUNTIME_KINDS = ("conv2d", "max_pool2d", "avg_pool2d")
"""The node kinds whose steps call the helpers of ``templates/tensor_ops.py.j2``."""


def conv_out(size: int, k: int, stride: int, padding: int) -> int:
    """The output length of a window of ``k`` sliding by ``stride`` over ``size + 2 padding``."""
    return (size + 2 * padding - k) // stride + 1


class _Spec:
    """Named fields of the ``spec`` tuple (the last argument of every class here)."""

    fields: tuple[str, ...] = ()

    @property
    def spec(self) -> dict:
        return dict(zip(self.fields, (int(v) for v in self.args[-1]), strict=True))


class _Conv(_Spec):
    fields = ("C", "H", "W", "O", "kh", "kw", "stride", "padding")

    @property
    def out_hw(self) -> tuple[int, int]:
        s = self.spec
        return (conv_out(s["H"], s["kh"], s["stride"], s["padding"]),
                conv_out(s["W"], s["kw"], s["stride"], s["padding"]))


@functools.cache
def runtime() -> dict:
    """The helpers of ``templates/tensor_ops.py.j2``, executed: exact values for ``doit``."""
    namespace = {"np": np}
    source = template_environment().get_template("tensor_ops.py.j2").render()
    exec(compile(source, "<symbp tensor_ops>", "exec"), namespace)  # noqa: S102 (our template)
    return {name: functools.partial(f, np) for name, f in namespace.items()
            if isinstance(f, types.FunctionType) and name.startswith("_") and name != "_add_into"}


def _explicit(expr, shape):
    """An explicit SymPy matrix (a tensor's matrix view) as an object array of ``shape``."""
    return np.array(expr.tolist(), dtype=object).reshape(shape)


def _evaluated(expr, hints, compute):
    """``compute(*object arrays)`` as an explicit matrix when every argument is explicit, else
    ``expr`` rebuilt from its evaluated arguments."""
    *tensors, spec = expr.args
    args = [a.doit(**hints) for a in tensors]
    if not all(isinstance(a, sp.MatrixBase) for a in args):
        return type(expr)(*args, spec)
    rows = args[0].shape[0]
    out = np.asarray(compute(rows, *args), dtype=object)
    return sp.ImmutableMatrix(out.reshape(expr.shape[0] if expr.shape[0].is_Integer else rows, -1))


def _call(printer, name: str, args, *extra) -> str:
    inner = ", ".join([printer._print(a) for a in args] + [str(e) for e in extra])
    return f"{name}(xp, {inner})"


def _at(printer, expr, *index) -> str:
    """``T[n, c, y, x]``: an entry of a tensor in LaTeX index notation."""
    return rf"{printer._print(expr)}[{', '.join(index)}]"


def _offset(stride: int, padding: int, out: str, k: str) -> str:
    """The input row that output row ``out`` and kernel row ``k`` meet: ``s y + i - p``."""
    base = out if stride == 1 else f"{stride} {out}"
    return f"{base} + {k}" + (f" - {padding}" if padding else "")


def _latex_op(printer, name: str, args, sub: str = "") -> str:
    inner = ", ".join(printer._print(a) for a in args)
    return rf"\operatorname{{{name}}}{sub}\left({inner}\right)"


class Conv2d(TensorOps, _Conv, MatrixExpr):
    """``conv2d(X, K[, b])``: args ``(X, K, [b,] spec)``."""

    def __new__(cls, *args):
        *tensors, spec = args
        return MatrixExpr.__new__(cls, *tensors, sp.Tuple(*spec))

    @property
    def operands(self):
        return self.args[:-1]

    @property
    def tensor_shape(self):
        return (self.args[0].shape[0], self.spec["O"], *self.out_hw)

    @property
    def shape(self):
        return matrix_view(self.tensor_shape)

    def _latex(self, printer):
        s = self.spec
        sub = rf"_{{s={s['stride']}, p={s['padding']}}}" if s["stride"] > 1 or s["padding"] else ""
        return _latex_op(printer, "conv2d", self.operands, sub)

    def _sympystr(self, printer):
        return "conv2d(" + ", ".join(printer._print(a) for a in self.operands) + ")"

    def _numpycode(self, printer, **kwargs):
        s = self.spec
        x, k, *b = self.operands
        bias = printer._print(b[0]) if b else "None"
        return _call(printer, "_conv2d", (x, k), bias, s["stride"], s["padding"])

    def doit(self, **hints):
        s = self.spec
        return _evaluated(self, hints, lambda rows, x, k, *b: runtime()["_conv2d"](
            _explicit(x, (rows, s["C"], s["H"], s["W"])), _explicit(k, (s["O"], s["C"], s["kh"], s["kw"])),
            _explicit(b[0], (s["O"],)) if b else None, s["stride"], s["padding"]))


class Conv2dInputGrad(_Conv, MatrixExpr):
    """``X̄``: the transposed convolution of ``Ḡ`` with ``K``; args ``(G, K, spec)``."""

    def __new__(cls, g, k, spec):
        return MatrixExpr.__new__(cls, g, k, sp.Tuple(*spec))

    @property
    def tensor_shape(self):
        s = self.spec
        return (self.args[0].shape[0], s["C"], s["H"], s["W"])

    @property
    def shape(self):
        return matrix_view(self.tensor_shape)

    def _latex(self, printer):
        """The transposed convolution, a full correlation of Ḡ with the flipped kernel:
        ``[Σ_{o,i,j} K[o,c,i,j] Ḡ[n,o,y,x]]`` over the outputs with ``s y + i - p = h``."""
        s = self.spec
        g, k = self.args[:2]
        where = rf"{_offset(s['stride'], s['padding'], 'y', 'i')} = h,\ " \
                rf"{_offset(s['stride'], s['padding'], 'x', 'j')} = w"
        return (rf"\Big[\sum_{{o, i, j,\ {where}}} {_at(printer, k, 'o', 'c', 'i', 'j')} \, "
                rf"{_at(printer, g, 'n', 'o', 'y', 'x')}\Big]_{{n c h w}}")

    def _sympystr(self, printer):
        return "conv2dᵀ(" + ", ".join(printer._print(a) for a in self.args[:2]) + ")"

    def _numpycode(self, printer, **kwargs):
        s = self.spec
        size = f"({s['H']}, {s['W']})"
        return _call(printer, "_conv2d_backward_input", self.args[:2], size, s["stride"],
                     s["padding"])

    def doit(self, **hints):
        s = self.spec
        return _evaluated(self, hints, lambda rows, g, k: runtime()["_conv2d_backward_input"](
            _explicit(g, (rows, s["O"], *self.out_hw)), _explicit(k, (s["O"], s["C"], s["kh"], s["kw"])),
            (s["H"], s["W"]), s["stride"], s["padding"]))


class Conv2dKernelGrad(_Conv, MatrixExpr):
    """``K̄``: the correlation of the input ``X`` with ``Ḡ``; args ``(X, G, spec)``."""

    def __new__(cls, x, g, spec):
        return MatrixExpr.__new__(cls, x, g, sp.Tuple(*spec))

    @property
    def tensor_shape(self):
        s = self.spec
        return (s["O"], s["C"], s["kh"], s["kw"])

    @property
    def shape(self):
        return matrix_view(self.tensor_shape)

    def _latex(self, printer):
        """The correlation of the input with Ḡ: ``[Σ_{n,y,x} Ḡ[n,o,y,x] X[n,c,s y+i-p,s x+j-p]]``."""
        s = self.spec
        x, g = self.args[:2]
        rows, cols = (_offset(s["stride"], s["padding"], a, b) for a, b in (("y", "i"), ("x", "j")))
        return (rf"\Big[\sum_{{n, y, x}} {_at(printer, g, 'n', 'o', 'y', 'x')} \, "
                rf"{_at(printer, x, 'n', 'c', rows, cols)}\Big]_{{o c i j}}")

    def _sympystr(self, printer):
        return "corr(" + ", ".join(printer._print(a) for a in self.args[:2]) + ")"

    def _numpycode(self, printer, **kwargs):
        s = self.spec
        size = f"({s['kh']}, {s['kw']})"
        return _call(printer, "_conv2d_backward_kernel", self.args[:2], size, s["stride"],
                     s["padding"])

    def doit(self, **hints):
        s = self.spec
        return _evaluated(self, hints, lambda rows, x, g: runtime()["_conv2d_backward_kernel"](
            _explicit(x, (rows, s["C"], s["H"], s["W"])), _explicit(g, (rows, s["O"], *self.out_hw)),
            (s["kh"], s["kw"]), s["stride"], s["padding"]))


class ChannelSum(MatrixExpr):
    """``b̄[o] = Σ_{n, y, x} Ḡ[n, o, y, x]``: the sum over every axis but the channels."""

    def __new__(cls, g, channels):
        return MatrixExpr.__new__(cls, g, sp.Integer(channels))

    @property
    def tensor_shape(self):
        return (self.args[1],)

    @property
    def shape(self):
        return (sp.Integer(1), self.args[1])

    def _latex(self, printer):
        return rf"\Big[\sum_{{n, y, x}} {_at(printer, self.args[0], 'n', 'o', 'y', 'x')}\Big]_{{o}}"

    def _sympystr(self, printer):
        return f"Σ_(n,y,x) {printer._print(self.args[0])}"

    def _numpycode(self, printer, **kwargs):
        return f"{np_name(printer, 'sum')}({printer._print(self.args[0])}, axis=(0, 2, 3))"

    def doit(self, **hints):
        g = self.args[0].doit(**hints)
        if not isinstance(g, sp.MatrixBase):
            return ChannelSum(g, self.args[1])
        sums = _explicit(g, (g.shape[0], int(self.args[1]), -1)).sum(axis=(0, 2))
        return sp.ImmutableMatrix([list(sums)])


# -- records -------------------------------------------------------------------
def _conv_vjp(c):
    x, k, *b = c.a
    spec = c.node.attr
    grads = [Conv2dInputGrad(c.g, k, spec), Conv2dKernelGrad(x, c.g, spec)]
    return tuple(grads + [ChannelSum(c.g, spec[3])] * len(b))


def _conv_shape(shapes, attr):
    return Conv2d(sp.MatrixSymbol("_symbp_x", shapes[0][0], 1), attr).shape


def _operands(e):
    return e.args[:-1], e.args[-1]


register(Primitive(
    "conv2d", Conv2d, value=lambda node, a: Conv2d(*a, node.attr), shape=_conv_shape,
    vjp=_conv_vjp, prefix="C", traced=True, operands=_operands))

# ``sb.tanh(T)`` of a tensor is a TensorElementwise (its ``*`` is elementwise): matalg's hook,
# set here because tensor.py may not import matalg's importers back (one line to move there).
TENSOR_ELEMENTWISE.update(is_tensor=is_tensor, cls=TensorElementwise)
