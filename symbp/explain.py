"""The derivation explained step by step, in English or Chinese, for terminals.

The order is the one a teacher uses: the nodes of the computational graph,
the forward pass, the loss, then each backward step as a chain-rule line
``∂L/∂Z1 = ∂L/∂A1 ⊙ ∂A1/∂Z1 = ...`` (upstream gradient times local
derivative, summed over every use of a value), the parameter gradients and
the gradient-descent update. With ``values`` every step shows its number.

A value used in several places gets one term per use (per path), and a
gradient the code never computes on its own (a plain copy of another one)
still gets its line, so every gradient cited on a right-hand side is explained.

``explain`` is also ``symbp.explain``: the package exports this function under
the module's name (``from symbp.explain import step_values`` keeps working).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy as sp

from .derive import derive
from .errors import SymbpError
from .inputs import draw_inputs
from .ir import Derivation, Step, view
from .model import Model, checked_values
from .paths import Adjoint, edge_gradients, gradient_paths
from .primitives import node_kinds
from .primitives.mean import BatchMean
from .primitives.tensor import tensor_shape_or_none
from .text import format_value, unicode

__all__ = ["explain", "gradient_paths", "edge_gradients", "Adjoint", "teaching_values",
           "step_values", "evaluate_at", "format_value", "format_full", "full_shapes", "TEXT"]

TEXT = {
    "en": {
        "title": "Backpropagation in {name}",
        "graph": "Computational graph: {nodes} nodes, each one local computation.",
        "data": "Data (inputs): {items}",
        "params": "Parameters: {items}",
        "forward": "Forward pass (each node from its inputs):",
        "loss": "Loss (the error to minimise):",
        "backward": "Backward pass (chain rule: upstream gradient × local derivative, "
                    "summed over every use of a value):",
        "grads": "Parameter gradients:",
        "update": "Gradient-descent update (learning rate η):",
        "none": "none",
        "grads_mean": "Parameter gradients (of the mean loss over the N samples: meanₙ(…) "
                      "averages a per-sample term over the samples n = 1, …, N):",
        "one_sample": "  (the numbers are those of the one sample above: N = 1, so each mean is "
                      "its one term)",
        "uses": "({x} appears {k} times in {user}: one term per appearance)",
        "copy": "(no step of its own: the code uses {value} directly)",
        "inlined": "(no step of its own: the code writes it into the steps that use it)",
    },
    "zh": {
        "title": "{name} 的误差反向传播",
        "graph": "计算图：共 {nodes} 个节点，每个节点只做一步局部计算。",
        "data": "数据（输入）：{items}",
        "params": "参数：{items}",
        "forward": "前向传播（每个节点由它的输入计算）：",
        "loss": "损失（要最小化的误差）：",
        "backward": "反向传播（链式法则：上游梯度 × 局部导数，对每一条路径求和）：",
        "grads": "参数的梯度：",
        "update": "权重更新（梯度下降，学习率 η）：",
        "none": "无",
        "grads_mean": "参数的梯度（N 个样本的平均损失的梯度：meanₙ(…) 是每个样本的项在 "
                      "n = 1, …, N 上的平均）：",
        "one_sample": "  （数值来自上面给出的一个样本：N = 1，每个平均值就是它唯一的一项）",
        "uses": "（{x} 在 {user} 中出现 {k} 次：每处一项）",
        "copy": "（代码里没有单独的一步：直接使用 {value}）",
        "inlined": "（代码里没有单独的一步：它直接写进用到它的步骤）",
    },
}

_ELEMENTWISE = frozenset(r.name for r in node_kinds() if r.elementwise)
_WIDTH = 90  # a longer sum over several paths is broken before each "="


def evaluate_at(expr, env: dict):
    """The value of ``expr`` with the symbols of ``env`` substituted (explicit matrices);
    a value with floats in it is a float (``0.3·√2`` is ``0.424...``: else every later step
    would carry the exact ``√2`` and ``exp`` terms along, growing without end)."""
    value = expr.xreplace(env)
    if getattr(value, "is_Matrix", False):
        value = value.replace(lambda e: isinstance(e, sp.OneMatrix),
                              lambda e: sp.ones(*e.shape))
        value = sp.ImmutableMatrix(value.doit().as_explicit())
    else:
        value = value.doit()
    return value.evalf() if value.has(sp.Float) else value


def format_full(value, shape) -> str:
    """``format_value``, a tensor's value in its N-d ``shape`` (whose first axis may be the
    symbolic batch): ``(2×1×3×3, ‖·‖ = 3.67)`` rather than its matrix view's ``(2×9, ...)``."""
    rest = shape[1:] if shape else ()
    if not isinstance(value, sp.MatrixBase) or shape is None or len(shape) == 2 \
            or not all(getattr(d, "is_Integer", isinstance(d, int)) for d in rest):
        return format_value(value)
    array = np.array(value.evalf(), dtype=float).reshape(-1, *(int(d) for d in rest))
    if len(shape) == 1:
        array = array.reshape(-1)
    if array.size <= 4:
        return np.array2string(array, precision=4, suppress_small=True).replace("\n", "")
    return f"({'×'.join(map(str, array.shape))}, ‖·‖ = {np.linalg.norm(array):.4g})"


def _value(sym, value):
    try:
        if isinstance(sym, sp.MatrixSymbol):
            array = np.atleast_2d(np.asarray(value))
            if array.ndim > 2:  # a tensor: its matrix view (the first axis, the rest flattened)
                array = array.reshape(array.shape[0], -1)
            return sp.ImmutableMatrix(array.tolist())
        return sp.Float(value) if isinstance(value, float) else sp.sympify(value)
    except (TypeError, ValueError, sp.SympifyError) as exc:
        raise SymbpError(f"the value given for {sym.name} is not a number or matrix.") from exc


def step_values(d: Derivation, values: Mapping) -> dict:
    """symbol -> value of every model symbol given and every step (SymPy, exact)."""
    model = d.model
    values = checked_values(values, model.symbols)
    missing = [s.name for s in (*model.params, *model.data) if s not in values]
    if missing:
        raise SymbpError(f"values has no number for {', '.join(missing)}; give one for every "
                         "parameter and data symbol.")
    env = {}
    for sym in (*model.params, *model.data):
        value = values[sym]
        env[sym] = _value(sym, value)
        if isinstance(sym, sp.MatrixSymbol):
            for dim, size in zip(sym.shape, env[sym].shape, strict=True):
                if dim.is_Symbol and env.setdefault(dim, sp.Integer(size)) != size:
                    raise SymbpError(f"the value of {sym.name} has {size} for {dim}, but another "
                                     f"value has {env[dim]}.")
                if not dim.is_Symbol and dim != size:
                    raise SymbpError(f"the value of {sym.name} has shape {env[sym].shape}, "
                                     f"but {sym.name} is {sym.shape[0]} x {sym.shape[1]}.")
    for step in d.steps:
        try:
            env[step.symbol] = evaluate_at(step.expr, env)
        except (TypeError, ValueError, AttributeError) as exc:
            raise SymbpError(f"cannot evaluate the step {step.name} at the given values: "
                             f"{exc}.") from exc
    return env


def teaching_values(model: Model) -> dict:
    """The model's example values, else random ones (seed 0, every dimension 2, one decimal)."""
    if model.values:
        return dict(model.values)

    params, data = draw_inputs(model, {d: 2 for d in model.dims}, np.random.default_rng(0),
                               samples=1)
    drawn, labels = {**params, **data}, set(model.labels)
    values = {}
    for sym in (*model.params, *model.data):
        raw = drawn[sym.name]
        raw = np.eye(raw.shape[-1])[np.argmax(raw, axis=-1)] if sym in labels else raw
        values[sym] = np.round(raw, 1) if sym.is_Matrix else round(float(np.ravel(raw)[0]), 1)
    return values


class _Explainer:
    def __init__(self, d: Derivation, lang: str, values: Mapping | None):
        if lang not in TEXT:
            raise SymbpError(f"no explanation in {lang!r}; choose one of {', '.join(TEXT)}.")
        self.d, self.t = d, TEXT[lang]
        self.loss = d.loss.name if hasattr(d.loss, "name") else "L"
        self.partials = {s.symbol: self.partial(s.of or s.name) for s in d.backward}
        self.values = step_values(d, values) if values is not None else None
        self.kinds = {s.name: s.kind for s in d.forward if s.node >= 0}
        self.shapes = full_shapes(d)
        self.named_shapes = {getattr(sym, "name", str(sym)): shape for sym, shape in self.shapes.items()}

    def partial(self, name: str, of: str | None = None) -> str:
        return f"∂{of or self.loss}/∂{name}"

    def number(self, sym, expr=None, of: str = "") -> str:
        """`` = value`` of ``sym`` (or of ``expr``), a tensor's in its N-d shape (an adjoint's,
        ``of`` a value, in that value's)."""
        if self.values is None:
            return ""
        if sym in self.values:
            return f" = {format_full(self.values[sym], self.shapes.get(sym))}"
        if expr is None:
            return ""
        shape = self.shapes.get(sym) or self.named_shapes.get(of) or tensor_shape_or_none(expr)
        return f" = {format_full(evaluate_at(expr, self.values), shape)}"

    def show(self, expr) -> str:
        return unicode(expr, self.partials)

    def forward(self, step: Step) -> str:
        return f"  {step.name} = {self.show(step.expr)}{self.number(step.symbol)}"

    def local(self, e: Adjoint, user: str) -> str:
        """``∂L/∂Z · ∂Z/∂W`` (upstream × local); ``meanₙ(...)`` where the derivation averages
        the paths through ``user`` over the samples (a scalar model's parameter)."""
        text = (f"{self.partial(user)} {'⊙' if self.kinds.get(user) in _ELEMENTWISE else '·'} "
                f"{self.partial(e.of, user)}")
        mean = all(isinstance(p.expr, BatchMean) for p in e.paths if p.user == user)
        return f"meanₙ({text})" if mean else text

    def total(self, exprs) -> str:
        """``a + b - c``: the terms in the order given."""
        text = ""
        for k, expr in enumerate(exprs):
            piece = self.show(expr)
            text += piece if k == 0 else " - " + piece[1:] if piece[0] == "-" else " + " + piece
        return text

    def chain(self, e: Adjoint) -> str:
        """``∂L/∂b = ∂L/∂Z1 · ∂Z1/∂b + ∂L/∂Z2 · ∂Z2/∂b = 𝟙ᵀ ∂L/∂Z1 + 𝟙ᵀ ∂L/∂Z2 = ...``."""
        users = list(dict.fromkeys(p.user for p in e.paths))
        local = [self.local(e, u) for u in users if not u == e.of == self.loss]
        segments = [" + ".join(local)] if local else []
        terms = [p.expr for p in e.paths]
        same = terms == [e.expr] or (isinstance(e.expr, (sp.Add, sp.MatAdd))
                                     and sorted(map(str, terms)) == sorted(map(str, e.expr.args)))
        for text in (self.total(terms), None if same else self.show(e.expr)):
            if text is not None and (not segments or text != segments[-1]):
                segments.append(text)
        notes = [self.t["uses"].format(x=e.of, k=k, user=u) for u in users
                 if (k := sum(p.user == u for p in e.paths)) > 1]
        if e.role == "inlined":
            copy = isinstance(e.expr, (sp.Symbol, sp.MatrixSymbol))
            notes.append(self.t["copy"].format(value=self.show(e.expr)) if copy
                         else self.t["inlined"])
        return _layout(self.partial(e.of), segments, self.number(e.symbol, e.expr, e.of), notes,
                       wrap=len(e.paths) > 1)

    def text(self) -> str:
        d, t = self.d, self.t
        model = d.model

        def items(symbols):  # a tensor by its N-d shape: K (8×1×3×3), not its matrix view
            return ", ".join(f"{s.name} ({'×'.join(map(str, model.shape_of(s)))})" if s.is_Matrix
                             else s.name for s in symbols) or t["none"]
        lines = [t["title"].format(name=model.name)]
        if model.description:
            lines.append(model.description)
        lines += ["", t["graph"].format(nodes=len(d.forward)),
                  t["data"].format(items=items(model.data)),
                  t["params"].format(items=items(model.params)), ""]
        if self.values is not None:
            given = [f"{s.name} = {format_full(self.values[s], self.shapes.get(s))}" for s in model.symbols
                     if s in self.values and s not in model.dims]
            lines += ["  " + ", ".join(given), ""]
        lines.append(t["forward"])
        lines += [self.forward(s) for s in d.forward if s.role != "loss"]
        lines += ["", t["loss"]]
        lines += [self.forward(s) for s in d.forward if s.role == "loss"]
        entries = gradient_paths(d)
        lines += ["", t["backward"], f"  {self.partial(self.loss)} = 1"]
        lines += [self.chain(e) for e in entries if e.role != "gradient"]
        mean = model.is_scalar and bool(model.data)
        lines += ["", t["grads_mean" if mean else "grads"]]
        lines += [t["one_sample"]] if mean and self.values is not None else []
        lines += [self.chain(e) for e in entries if e.role == "gradient"]
        lines += ["", t["update"]]
        for p in model.params:
            lines.append(f"  {p.name} ← {p.name} − η · {self.partial(p.name)}")
        return "\n".join(lines) + "\n"


def full_shapes(d: Derivation) -> dict:
    """symbol -> the shape its arrays have (a tensor's N-d shape): the model's symbols, every
    forward step (its graph node's) and every backward step (its value's)."""
    shapes = {s: d.model.shape_of(s) for s in d.model.symbols if s not in d.model.dims}
    shapes.update({s.symbol: s.shape if s.full_shape is None else s.full_shape for s in d.steps})
    return shapes


def _layout(lhs: str, segments: list[str], number: str, notes: list[str], wrap: bool) -> str:
    """``lhs = a = b = c``, a long sum of paths one "=" per line; notes on lines of their own."""
    pad = " " * (len(lhs) + 3)
    line = f"  {lhs} = " + " = ".join(segments) + number
    if wrap and len(line) > _WIDTH:
        line = f"  {lhs} = " + f"\n{pad}= ".join(segments) + number
    return "\n".join([line, *(pad + "  " + note for note in notes)])


@view("explain")
def explain(model_or_derivation, lang: str = "en", values: Mapping | bool | None = None) -> str:
    """The chain-rule lesson of a ``Model`` or ``Derivation`` (``lang`` "en" or "zh").

    ``values`` (symbol -> number) shows every step's number; ``True`` takes the model's
    example values or, if it has none, random ones (:func:`teaching_values`).
    """
    d = model_or_derivation
    if isinstance(d, Model):
        d = derive(d)
    if not isinstance(d, Derivation):
        raise SymbpError(f"explain needs a symbp.Model or a Derivation, not a {type(d).__name__}.")
    if values is True:
        values = teaching_values(d.model)
    return _Explainer(d, lang, None if values is False else values).text()
