"""The reference loss: the user's own SymPy expression printed as Python.

``reference_source(model)`` prints ``def reference_loss(F, params, data, dims)``,
one statement per distinct sub-expression of the loss, calling the
framework operations ``F`` of ``symbp.refops`` (NumPy, autograd, JAX or
PyTorch). It reads the expression the user wrote, not symbp's graph, rules
or generated code, so a framework's autodiff of it is an independent
reference for symbp's gradients.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import exp2, expm1, hypot, log1p, log2, log10
from sympy.core.relational import Relational
from sympy.logic.boolalg import BooleanFalse, BooleanTrue
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
from .model import Model, _short
from .primitives.conv import Conv2d
from .primitives.einsum import Einsum
from .primitives.elementwise import ELU, SiLU
from .primitives.gaussian import GELU, NormalCDF, NormalPDF
from .primitives.linalg import LogDet
from .primitives.norm import CausalMask, Embedding, InvStd, Normalize
from .primitives.pool import AvgPool2d, MaxPool2d
from .primitives.tensor import BatchBroadcast, Flatten, Reshape, is_tensor
from .source import literal

__all__ = ["reference_source", "reference_function"]

_UNARY = {sp.exp: "exp", sp.log: "log", sp.sin: "sin", sp.cos: "cos", sp.tan: "tan",
          sp.tanh: "tanh", sp.sinh: "sinh", sp.cosh: "cosh", sp.asin: "arcsin",
          sp.acos: "arccos", sp.atan: "arctan", sp.asinh: "arcsinh", sp.acosh: "arccosh",
          sp.atanh: "arctanh", sp.Abs: "abs", sp.sign: "sign", Sigmoid: "sigmoid",
          ReLU: "relu", Softplus: "softplus", Softmax: "softmax", LogSoftmax: "log_softmax",
          sp.Trace: "trace", sp.Inverse: "inv",  # Inverse before MatPow, which it subclasses
          sp.Determinant: "det", sp.DiagMatrix: "diag", LogDet: "logdet",
          GELU: "gelu", SiLU: "silu", NormalCDF: "normal_cdf",
          NormalPDF: "normal_pdf",
          log1p: "log1p", expm1: "expm1", exp2: "exp2", log2: "log2", log10: "log10"}
_FOLDS = {sp.KroneckerProduct: "kron", sp.Max: "maximum", sp.Min: "minimum",
          LogSumExp: "logaddexp", sp.And: "logical_and", sp.Or: "logical_or",
          sp.Xor: "logical_xor"}
# f(x) = outer(inner(x)): reciprocal and inverse-reciprocal functions
_COMPOSED = {sp.sec: ("1 / ", "cos", ""), sp.csc: ("1 / ", "sin", ""),
             sp.cot: ("1 / ", "tan", ""), sp.sech: ("1 / ", "cosh", ""),
             sp.csch: ("1 / ", "sinh", ""), sp.coth: ("1 / ", "tanh", ""),
             sp.acot: ("", "arctan", "1 / "), sp.asec: ("", "arccos", "1 / "),
             sp.acsc: ("", "arcsin", "1 / "), sp.asech: ("", "arccosh", "1 / "),
             sp.acsch: ("", "arcsinh", "1 / "), sp.acoth: ("", "arctanh", "1 / ")}
_RELATIONS = {">", ">=", "<", "<=", "==", "!="}


class _Printer:
    """Statements ``t<k> = ...`` for each distinct sub-expression, post-order."""

    def __init__(self, model: Model):
        self.model = model
        self.lines: list[str] = []
        self.count = 0

    def leaf(self, e, bound: dict) -> str | None:
        if e in bound:
            return bound[e]
        if isinstance(e, (sp.Symbol, sp.MatrixSymbol)):
            where = ("params" if e in self.model.params else
                     "dims" if e in self.model.dims else "data")
            return f"{where}[{literal(e.name)}]"
        if e.is_Number:
            return repr(int(e)) if e.is_Integer else repr(float(e))
        if isinstance(e, sp.NumberSymbol):
            return repr(float(e))
        if isinstance(e, (BooleanTrue, BooleanFalse)):
            return repr(bool(e))
        if isinstance(e, (OneMatrix, ZeroMatrix)):
            fn = "ones" if isinstance(e, OneMatrix) else "zeros"
            return f"F.{fn}(({self.size(e.shape[0])}, {self.size(e.shape[1])}))"
        if isinstance(e, sp.Identity):
            return f"F.eye({self.size(e.shape[0])})"
        return None

    def size(self, d) -> str:
        d = sp.sympify(d)
        if d.is_Integer:
            return str(int(d))
        if d.is_Symbol:  # a dimension, or a data symbol that only sizes constants
            return f"int(dims[{literal(d.name)}])"
        if d.is_Mul and all(f.is_Integer or f.is_Symbol for f in d.args):  # n T: a tensor's rows
            return " * ".join(self.size(f) for f in d.args)
        raise SymbpError(f"the size {d} is not an integer or a single symbol.")

    def print(self, expr, bound: dict | None = None) -> str:
        bound = bound or {}
        memo: dict = {}
        stack = [expr]
        while stack:
            e = stack[-1]
            if e in memo:
                stack.pop()
                continue
            code = self.leaf(e, bound)
            if code is not None:
                memo[e] = code
                stack.pop()
                continue
            children = self.children(e)
            pending = [c for c in children if c not in memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            code = self.node(e, [memo[c] for c in children], bound)
            memo[e] = code if isinstance(e, ElementwiseApplyFunction) else self.assign(code)
        return memo[expr]

    def assign(self, code: str) -> str:
        self.count += 1
        name = f"t{self.count}"
        self.lines.append(f"    {name} = {code}")
        return name

    @staticmethod
    def children(e) -> list:
        if isinstance(e, (MatrixElement, sp.MatrixSlice)):
            return [e.parent]
        if isinstance(e, sp.BlockMatrix):  # the blocks, row by row
            return list(e.blocks)
        if isinstance(e, (ElementwiseApplyFunction, sp.Inverse)):
            return [e.args[1] if isinstance(e, ElementwiseApplyFunction) else e.arg]
        if isinstance(e, sp.Piecewise):  # e1, c1, e2, c2, ...
            return [x for pair in e.args for x in pair.args]
        if isinstance(e, sp.Sum):  # printed with its index bound (see ``node``)
            return []
        if isinstance(e, (Normalize, InvStd, Reshape, BatchBroadcast)):  # X, not its shapes
            return [e.args[0]]
        if isinstance(e, _TENSOR_OPS):  # the tensors, not the spec (shapes, stride, padding)
            return list(e.args[:-1])
        return list(e.args)

    def node(self, e, a: list, bound: dict) -> str:
        if isinstance(e, ElementwiseApplyFunction):
            var, body = e.function.variables[0], e.function.expr
            return self.print(body, {**bound, var: a[0]})
        if isinstance(e, sp.MatMul):  # before Mul, which MatMul subclasses
            scalars = [x for x, s in zip(a, e.args, strict=True) if not s.is_Matrix]
            mats = [x for x, s in zip(a, e.args, strict=True) if s.is_Matrix]
            tensors = any(x.shape[1] != y.shape[0] for x, y in zip(e.args[:-1], e.args[1:], strict=False)
                          if x.is_Matrix and y.is_Matrix) and is_tensor(e)  # A * B: elementwise
            if not tensors and len(mats) > 1:  # a product of matrices, of tensors' rows
                mats = [_matrix_view(s, x) for x, s in zip(a, e.args, strict=True) if s.is_Matrix]
            return " * ".join([*scalars, (" * " if tensors else " @ ").join(mats)])
        if isinstance(e, sp.MatPow) and e.shape[0] != e.shape[1] and is_tensor(e.args[0]):
            return f"{a[0]} ** {a[1]}"
        if isinstance(e, sp.MatPow) and not isinstance(e, sp.Inverse):
            k = int(e.args[1])
            base = a[0] if k > 0 else f"F.inv({a[0]})"
            return " @ ".join([base] * abs(k))
        if isinstance(e, (sp.Add, sp.MatAdd)):
            return " + ".join(a)
        if isinstance(e, (sp.Mul, sp.HadamardProduct)):
            return " * ".join(a)
        if isinstance(e, (sp.Pow, sp.HadamardPower)):
            return f"{a[0]} ** {a[1]}"
        if isinstance(e, sp.Transpose):
            return f"{_matrix_view(e.arg, a[0])}.T"
        if isinstance(e, MatrixElement):
            return f"{a[0]}[{self.index(e.i, bound)}, {self.index(e.j, bound)}]"
        if isinstance(e, sp.BlockMatrix):
            cols = e.blocks.shape[1]
            rows = [a[k:k + cols] for k in range(0, len(a), cols)]
            return "F.block([" + ", ".join("[" + ", ".join(r) + "]" for r in rows) + "])"
        if isinstance(e, sp.MatrixSlice):
            rows, cols = (":".join(self.index(k, bound) for k in s) for s in e.args[1:])
            return f"{a[0]}[{rows}, {cols}]"
        if isinstance(e, sp.Sum):
            return self.sum(e, bound)
        if isinstance(e, Relational) and e.rel_op in _RELATIONS:
            return f"{a[0]} {e.rel_op} {a[1]}"
        if isinstance(e, sp.Piecewise):
            return _piecewise(a)
        if isinstance(e, _TENSOR_OPS):
            return _tensor_op(e, a)
        return self.function(e, a)

    def index(self, k, bound: dict) -> str:
        """An entry's index: an integer, a dimension (``n - 1``) or a summation index."""
        if k.is_Integer:
            return str(int(k))
        code = self.print(k, bound)
        return code if k.free_symbols & bound.keys() else f"int({code})"

    def sum(self, e, bound: dict) -> str:
        """``Sum(f(i), (i, lo, hi))``: f at every index at once (fancy indexing), summed."""
        if len(e.limits) != 1:
            raise SymbpError(f"the reference printer sums over one index, not {_short(e)}.")
        i, lo, hi = e.limits[0]
        index = self.assign(f"F.arange({self.index(lo, bound)}, {self.index(hi, bound)} + 1)")
        return f"F.sum({self.print(e.function, {**bound, i: index})})"

    def function(self, e, a: list) -> str:
        for cls, name in _UNARY.items():
            if type(e) is cls:
                return f"F.{name}({a[0]})"
        for cls, name in _FOLDS.items():
            if isinstance(e, cls):
                code = a[0]
                for x in a[1:]:
                    code = f"F.{name}({code}, {x})"
                return code
        if type(e) in _COMPOSED:
            outer, name, inner = _COMPOSED[type(e)]
            return f"{outer}F.{name}({inner}{a[0]})"
        if isinstance(e, (sp.atan2, hypot)):
            return f"F.{'arctan2' if isinstance(e, sp.atan2) else 'hypot'}({a[0]}, {a[1]})"
        if isinstance(e, sp.Not):
            return f"F.logical_not({a[0]})"
        if isinstance(e, LeakyReLU):
            return f"F.leaky_relu({a[0]}, {a[1]})"
        if isinstance(e, ELU):
            return f"F.elu({a[0]}, {a[1]})"
        if isinstance(e, sp.Heaviside):
            return f"F.step({a[0]}, {a[1] if len(a) > 1 else 0.5})"
        if isinstance(e, Normalize):
            return f"F.normalize({a[0]}, {float(e.args[1].args[1])!r}, {int(e.args[2])})"
        if isinstance(e, InvStd):
            return f"F.istd({a[0]}, {float(e.args[1])!r}, {int(e.args[2])})"
        if isinstance(e, CausalMask):
            return f"F.causal_mask({a[0]})"
        if isinstance(e, Embedding):
            return f"F.embedding({a[0]}, {a[1]})"
        if isinstance(e, SoftmaxCrossEntropy):
            return f"F.sce({a[0]}, {a[1]})"
        raise SymbpError(f"the reference printer has no operation for {_short(e)}.")


def _matrix_view(expr, code: str) -> str:
    """``code``, the array of ``expr``, as the matrix SymPy multiplies or transposes: a tensor's
    rows (a (d,) vector is the (1, d) row), a matrix as it is."""
    if not is_tensor(expr):
        return code
    return f"F.reshape({code}, {(-1, int(expr.shape[1]))})"


_TENSOR_OPS = (Conv2d, MaxPool2d, AvgPool2d, Flatten, Einsum, Reshape, BatchBroadcast)


def _tensor_op(e, a: list) -> str:
    """``F.conv2d(x, k, b, stride, padding)``, ``F.max_pool2d(x, k, stride)``, ``F.flatten(x)``,
    ``F.einsum(spec, *operands)``."""
    if isinstance(e, Flatten):
        return f"F.flatten({a[0]})"
    if isinstance(e, Einsum):
        return f"F.einsum({literal(e.spec)}, {', '.join(a)})"
    if isinstance(e, Reshape):
        return f"F.reshape({a[0]}, {(-1, *(int(d) for d in e.args[1][1:]))})"
    if isinstance(e, BatchBroadcast):  # (1, T, d): the frameworks broadcast it in the sum
        return f"F.reshape({a[0]}, {(1, *(int(d) for d in e.args[0].shape))})"
    s = e.spec
    if isinstance(e, Conv2d):
        bias = a[2] if len(a) > 2 else "None"
        return f"F.conv2d({a[0]}, {a[1]}, {bias}, {s['stride']}, {s['padding']})"
    name = "max_pool2d" if isinstance(e, MaxPool2d) else "avg_pool2d"
    return f"F.{name}({a[0]}, {s['k']}, {s['stride']})"


def _piecewise(a: list) -> str:
    """``F.where`` folded from the last piece; NaN where no condition holds (as SymPy)."""
    pairs = list(zip(a[0::2], a[1::2], strict=True))
    code = "float('nan')"
    for value, cond in reversed(pairs):
        if cond != "False":
            code = value if cond == "True" else f"F.where({cond}, {value}, {code})"
    return code


def reference_source(model: Model, name: str = "reference_loss") -> str:
    """``def <name>(F, params, data, dims)``: the model's loss (per sample for scalar models)."""
    printer = _Printer(model)
    result = printer.print(model.loss)
    doc = '    """The loss as written in SymPy, evaluated with the operations F."""'
    return "\n".join([f"def {name}(F, params, data, dims):", doc, *printer.lines,
                      f"    return {result}", ""])


def reference_function(model: Model):
    """The compiled ``reference_loss(F, params, data, dims)`` of ``model``."""
    namespace: dict = {}
    exec(compile(reference_source(model), f"<symbp reference {model.name}>", "exec"), namespace)
    return namespace["reference_loss"]
