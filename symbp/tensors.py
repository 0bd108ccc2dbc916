"""The tensor vocabulary: ``tensor``, ``conv2d``, ``max_pool2d``, ``avg_pool2d``, ``flatten``.

Tensors are NCHW, as in PyTorch; the batch size may be a symbol, every other axis is an
integer. The classes these helpers build (value, shape, backward rule, printing) live in
``symbp.primitives.tensor`` and ``symbp.primitives.conv``; here the shapes are checked, so a
mistake is one sentence naming the tensors and their shapes.

>>> import sympy as sp, symbp as sb
>>> n = sp.Symbol("n", integer=True, positive=True)
>>> X, K = sb.tensor("X", (n, 1, 8, 8)), sb.tensor("K", (4, 1, 3, 3))
>>> sb.tensors.shape(sb.max_pool2d(sb.relu(sb.conv2d(X, K, padding=1)), 2))
(n, 4, 4, 4)
"""

from __future__ import annotations

import sympy as sp

from .errors import SymbpError
from .functions import explicit
from .model import as_expr
from .primitives.conv import Conv2d, conv_out
from .primitives.einsum import Einsum, parse, spec_of
from .primitives.pool import AvgPool2d, MaxPool2d
from .primitives.tensor import Flatten, TensorSymbol, tensor_shape, tensor_shape_or_none

__all__ = ["tensor", "conv2d", "max_pool2d", "avg_pool2d", "flatten", "einsum", "shape"]


def shape(expr) -> tuple:
    """The full shape of a tensor expression (a matrix's ``(rows, cols)`` for a matrix)."""
    return tensor_shape(expr)


def _fmt(dims) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def tensor(name: str, dims) -> TensorSymbol:
    """An N-d symbol of shape ``dims``: the first axis may be a symbol (the batch size), the
    others are positive integers. SymPy sees it as the matrix of its rows flattened (a 2-d
    tensor as a matrix of its shape), but ``*`` beside a tensor is elementwise, as NumPy's."""
    if not (isinstance(name, str) and name.isidentifier()):
        raise SymbpError(f"the tensor name {name!r} must be an identifier such as 'X'.")
    dims = tuple(sp.sympify(d, strict=True) for d in dims)
    for k, d in enumerate(dims):
        fixed = d.is_Integer and d > 0
        if not (fixed or (k == 0 and d.is_Symbol and len(dims) > 1)):
            raise SymbpError(f"the tensor {name} has shape {_fmt(dims)}; axis {k} must be a "
                             "positive integer (only the first axis of an N-d tensor may be a "
                             "symbol such as n).")
    return TensorSymbol(name, dims)


def _nchw(what: str, x) -> tuple:
    x = as_expr(what, x)
    dims = tensor_shape(x) if getattr(x, "is_Matrix", False) else ()
    if len(dims) != 4:
        raise SymbpError(f"{what} {x} has shape {_fmt(dims)}; it must be an NCHW tensor "
                         "(n, C, H, W).")
    return x, dims


def _positive(what: str, value, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SymbpError(f"{what} is {value!r}; it must be an integer of at least {least}.")
    return value


def _fits(what: str, size: int, k: int, stride: int, padding: int, axis: str) -> int:
    """The output length along one axis, refusing a kernel larger than the padded input or a
    stride that does not divide the remaining length."""
    padded = size + 2 * padding
    if k > padded:
        raise SymbpError(f"{what}: the kernel's {axis} {k} is larger than the padded input's "
                         f"{axis} {padded}.")
    if (padded - k) % stride:
        raise SymbpError(f"{what}: the output {axis} ({padded} - {k}) / {stride} + 1 is not an "
                         f"integer; choose a stride that divides {padded - k} or change the "
                         "padding.")
    return conv_out(size, k, stride, padding)


def conv2d(x, k, b=None, stride: int = 1, padding: int = 0):
    """The 2-D cross-correlation ``torch.nn.functional.conv2d(x, k, b, stride, padding)``:
    ``x`` of shape (n, C, H, W), ``k`` of shape (O, C, kh, kw), ``b`` of shape (O,)."""
    x, (n, c, h, w) = _nchw("the input of conv2d", x)
    k, (o, ck, kh, kw) = _nchw("the kernel of conv2d", k)
    stride, padding = _positive("conv2d's stride", stride), _positive("conv2d's padding", padding, 0)
    if ck != c:
        raise SymbpError(f"conv2d: the kernel {k} of shape {_fmt((o, ck, kh, kw))} takes {ck} "
                         f"input channels but {x} of shape {_fmt((n, c, h, w))} has {c}.")
    what = f"conv2d of {x} {_fmt((n, c, h, w))} with {k} {_fmt((o, ck, kh, kw))}"
    _fits(what, int(h), int(kh), stride, padding, "height")
    _fits(what, int(w), int(kw), stride, padding, "width")
    spec = (c, h, w, o, kh, kw, stride, padding)
    if b is None:
        return Conv2d(x, k, spec)
    b = as_expr("the bias of conv2d", b)
    if tensor_shape_or_none(b) != (o,):
        raise SymbpError(f"conv2d: the bias {b} has shape {_fmt(tensor_shape(b))} but the "
                         f"kernel {k} has {o} output channels; the bias must be a tensor of "
                         f"shape ({o},).")
    return Conv2d(x, k, b, spec)


def _pool(cls, name: str, x, k: int, stride):
    x, (n, c, h, w) = _nchw(f"the input of {name}", x)
    k = _positive(f"{name}'s kernel size", k)
    stride = k if stride is None else _positive(f"{name}'s stride", stride)
    what = f"{name} of {x} {_fmt((n, c, h, w))} with kernel {k}"
    _fits(what, int(h), k, stride, 0, "height")
    _fits(what, int(w), k, stride, 0, "width")
    return cls(x, (c, h, w, k, stride))


def max_pool2d(x, k: int, stride: int | None = None):
    """Max-pooling over k x k windows (stride defaults to k); ties send the gradient to the
    first maximum of the window in row-major order, as PyTorch."""
    return _pool(MaxPool2d, "max_pool2d", x, k, stride)


def avg_pool2d(x, k: int, stride: int | None = None):
    """Average-pooling over k x k windows (stride defaults to k)."""
    return _pool(AvgPool2d, "avg_pool2d", x, k, stride)


def flatten(x):
    """The (n, C·H·W) matrix of an (n, C, H, W) tensor, row-major as ``torch.flatten(x, 1)``."""
    x = as_expr("the argument of flatten", x)
    dims = tensor_shape(x) if getattr(x, "is_Matrix", False) else ()
    if len(dims) < 3:
        raise SymbpError(f"flatten: {x} has shape {_fmt(dims)}; it flattens a tensor of at "
                         "least three axes (n, C, ...).")
    return Flatten(x, dims[1:])


def _einsum_parts(spec, count: int) -> tuple[list[str], str]:
    if not isinstance(spec, str) or spec.count("->") != 1:
        raise SymbpError(f"einsum: the spec {spec!r} must name the output explicitly, as in "
                         "'nij,jk->nik'.")
    inputs, output = parse(spec)
    if len(inputs) != count:
        raise SymbpError(f"einsum: the spec {spec!r} has {len(inputs)} operands but "
                         f"{count} were given.")
    letters = "".join(inputs) + output
    if not all(c.isalpha() and c.isascii() for c in letters):
        raise SymbpError(f"einsum: the spec {spec!r} may use only the letters a-z and A-Z.")
    for idx in (*inputs, output):
        if len(set(idx)) != len(idx):
            raise SymbpError(f"einsum: {idx!r} in {spec!r} repeats an index (a diagonal); "
                             "symbp's einsum takes each index once per operand.")
    return inputs, output


def einsum(spec: str, *operands):
    """Einstein summation ``np.einsum(spec, *operands)`` over tensors and matrices, e.g.
    ``einsum("nij,jk->nik", A, W)``; its gradient with respect to each operand is an einsum."""
    inputs, output = _einsum_parts(spec, len(operands))
    exprs, shapes, sizes = [], [], {}
    for k, (idx, x) in enumerate(zip(inputs, operands, strict=True)):
        x = explicit(as_expr(f"einsum's operand {k + 1}", x))
        dims = tensor_shape(x) if getattr(x, "is_Matrix", False) else ()
        if len(dims) != len(idx):
            raise SymbpError(f"einsum: the operand {x} has shape {_fmt(dims)} but {spec!r} gives "
                             f"it the {len(idx)} indices {idx!r}.")
        for c, d in zip(idx, dims, strict=True):
            if sizes.setdefault(c, d) != d:
                raise SymbpError(f"einsum: the index {c} of {spec!r} is {sizes[c]} long in one "
                                 f"operand but {d} in {x} of shape {_fmt(dims)}.")
        exprs.append(x)
        shapes.append(dims)
    for k, idx in enumerate(inputs):
        elsewhere = output + "".join(i for j, i in enumerate(inputs) if j != k)
        lonely = [c for c in idx if c not in elsewhere]
        if lonely:
            raise SymbpError(f"einsum: the index {lonely[0]} of operand {k + 1} in {spec!r} is "
                             "in no other operand and not in the output; sum it with a ones "
                             "operand or keep it in the output.")
    if not output or any(c not in sizes for c in output):
        raise SymbpError(f"einsum: the output {output!r} of {spec!r} must be at least one index "
                         "of the operands.")
    return Einsum(*exprs, spec_of(spec, shapes))
