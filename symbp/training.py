"""The training half of a generated module: how each parameter starts, which
dimension ``fit`` shuffles along, and what ``random_data`` draws.

Weights feeding a ReLU get He-normal, other weights Glorot-uniform, biases
zeros (the rule and fans of each parameter are facts of the derivation,
``d.init``, found by ``fans.py``); a teaching model with example values
starts at them. ``train_step`` updates every parameter from
its own gradient, so each gradient ``loss_and_grad`` returns is a fresh,
writable array: copied only where the printed code could share memory.
"""

from __future__ import annotations

import ast

import sympy as sp

from .inputs import index_ranges
from .ir import Derivation

__all__ = ["init_plan", "batch_plan", "random_data_plan", "returned_gradients"]


def init_plan(d: Derivation, names: dict) -> list[dict]:
    """How ``init_params`` draws each parameter: its example value, or the rule and fans the
    derivation found for it (``d.init``)."""
    model = d.model
    use_values = bool(model.values) and all(p in model.values for p in model.params)
    plan = []
    for p in model.params:
        shape = model.shape_of(p)
        entry = {"key": p.name, "shape": _shape_code(shape, names)}
        if use_values:
            entry.update(rule="value", value=repr(float(model.values[p])))
        else:
            fan = shape or (1, 1)
            rule, fan_in, fan_out = d.init.get(p, ("glorot", fan[0], fan[-1]))
            entry.update(rule=rule, fan_in=_dim_code(fan_in, names),
                         fan_out=_dim_code(fan_out, names))
            if rule == "ones":  # printed as a value: np.asarray(np.ones(shape), dtype=dtype)
                entry["value"] = f"np.ones({entry['shape']})"
        plan.append(entry)
    return plan


def _dim_code(d, names) -> str:
    if d is None:
        return "None"
    d = sp.sympify(d)
    return names[d] if d.is_Symbol else str(int(d))


def _shape_code(shape, names) -> str:
    dims = [_dim_code(d, names) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


# -- data: the batch dimension and random examples -----------------------------
def batch_plan(d: Derivation) -> tuple[str | None, list[str]]:
    """The dimension ``fit`` shuffles along and the data names that have it first."""
    model = d.model
    if model.is_scalar:
        return None, [s.name for s in model.data]
    sizes_params = {d for p in model.params for d in model.shape_of(p)}
    for dim in (d for d in model.dims if d not in sizes_params):
        batched = [s.name for s in model.data if model.shape_of(s) and model.shape_of(s)[0] == dim]
        if batched:
            return dim.name, batched
    return None, []


def random_data_plan(d: Derivation, names: dict) -> list[dict]:
    """How random_data draws each data array: one-hot labels along the last axis (rows: the
    other axes), integer ids of an embedding (kind ``ids``, classes: the table's rows)."""
    model = d.model
    labels, ids = set(model.labels), index_ranges(model)
    plan = []
    for s in model.data:
        shape = model.shape_of(s)
        if model.is_scalar:
            kind = "samples"
        elif not shape:
            kind = "scalar"
        else:
            kind = "ids" if s in ids else "labels" if s in labels else "normal"
        classes = {"labels": shape[-1] if shape else None, "ids": ids.get(s)}.get(kind)
        rows = _shape_code(shape[:-1], names) if kind == "labels" and len(shape) > 2 else (
            _dim_code(shape[0], names) if kind == "labels" else None)
        plan.append({"key": s.name, "kind": kind, "shape": _shape_code(shape, names),
                     "classes": None if classes is None else _dim_code(classes, names),
                     "rows": rows})
    return plan


# -- returned gradients: fresh, writable arrays ------------------------------
_VIEWS = {"broadcast_to", "reshape", "transpose", "ravel", "squeeze", "expand_dims", "asarray",
          "swapaxes", "moveaxis", "diagonal", "view", "T"}
"""Functions and attributes whose result may be a view of their first operand."""


def returned_gradients(grads: dict, names: dict, lines: list[str], returns: str,
                       shapes: dict, of_data: set = frozenset()) -> list[tuple[str, str]]:
    """``(name, code)`` of each entry of loss_and_grad's grads dict, from the printed statements
    ``lines`` of loss_and_grad and its loss expression ``returns``.

    A gradient is returned as it is computed when the printed code makes a new array; it is
    copied (``_copy(xp, ...)``) where it would be an input itself or a view of one, a read-only
    broadcast, or the same array as the loss or an earlier gradient (decided here, once, from
    the printed statements). A 0-d gradient becomes a 0-d array (``xp.asarray``), not a
    read-only NumPy scalar. A parameter of one axis (``shapes``: parameter -> its shape) gets its
    gradient in that shape. A gradient that reads data and no parameter (``of_data``: those
    parameters; dL/dA = -D of sum(D ⊙ (-A))) is converted to the type its library promotes it
    and its parameter to, so that integer data give a float gradient (a new array).
    """
    assigned = _assignments(lines)
    seen = {_origin(ast.parse(returns, mode="eval").body, assigned)[0]}
    out = []
    for par, g in grads.items():
        if g is None:
            out.append((par.name, f"xp.zeros_like({names[par]})"))
            continue
        root, readonly = _origin(ast.Name(g.name), assigned)
        if par in of_data:
            out.append((par.name, f"xp.astype(xp.asarray({g.name}), xp.result_type({g.name}, {names[par]}))"))
        elif readonly or root not in assigned or root in seen:
            out.append((par.name, f"_copy(xp, {g.name})"))
        else:
            out.append((par.name, g.name if getattr(par, "shape", ()) else f"xp.asarray({g.name})"))
        if len(shapes.get(par, ())) == 1:  # a (d,) tensor: its gradient as the (1, d) row's
            out[-1] = (par.name, f"xp.reshape({out[-1][1]}, {_shape_code(shapes[par], names)})")
        seen.add(root)
    return out


def owners(values: list[str], lines: list[str]) -> set[str]:
    """The variables whose arrays the variables ``values`` may be (themselves or views of
    them), by the printed statements ``lines``."""
    assigned = _assignments(lines)
    return {_origin(ast.Name(value), assigned)[0] for value in values}


def _assignments(lines: list[str]) -> dict:
    """``{name: code}`` of the statements ``name = code`` among printed ``lines``."""
    return dict(line.split(" = ", 1) for line in lines if " = " in line and line[0] != "#")


def _origin(node: ast.expr, assigned: dict) -> tuple[str | None, bool]:
    """``(owner, read-only)``: the variable whose array the value of ``node`` may be (itself or
    a view of it; None for a new array), and whether the value is a read-only broadcast."""
    if isinstance(node, ast.Name):
        if node.id not in assigned:
            return node.id, False  # an input
        owner, readonly = _origin(ast.parse(assigned[node.id], mode="eval").body, assigned)
        return (node.id if owner is None else owner), readonly
    if isinstance(node, ast.Subscript) or (isinstance(node, ast.Attribute) and node.attr in _VIEWS):
        return _origin(node.value, assigned)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr in _VIEWS:
        is_numpy = isinstance(node.func.value, ast.Name) and node.func.value.id == "np"
        operand = node.args[0] if is_numpy and node.args else node.func.value
        owner, _ = _origin(operand, assigned)
        return owner, node.func.attr == "broadcast_to"
    return None, False
