"""What a PyTorch or JAX export of a derivation contains (``templates/{torch,jax}_module.py.j2``).

The export reuses the NumPy module's plan (``planning.plan_module``): the same printed
statements, split where the reverse sweep starts into ``_forward`` (the loss and the forward
values the backward pass reads) and ``_backward`` (the derived gradients). Both are printed by
``printing.CodePrinter`` and run over an array namespace passed as their first argument
``xp``: ``jax.numpy`` for JAX, ``array_api_compat.torch`` for torch (the statements are
array-API calls, ``xp.sum(...)``, as in the NumPy module, without its ``del`` lines). Scalar
models read their per-sample data as the NumPy module does (``_batch``: N samples, scalars
broadcast).
"""

from __future__ import annotations

import ast

from .errors import SymbpError
from .ir import Derivation
from .planning import _Planner, plan_module
from .source import literal

__all__ = ["TARGETS", "plan_export", "template_of"]

TARGETS = {"numpy": "module.py.j2", "torch": "torch_module.py.j2", "jax": "jax_module.py.j2"}


def template_of(target) -> str:
    """The template that lays out a module for ``target``; one sentence for an unknown one."""
    if not isinstance(target, str) or target not in TARGETS:
        raise SymbpError(f"unknown target {target!r}: expected one of "
                         f"{', '.join(map(repr, TARGETS))}.")
    return TARGETS[target]


def plan_export(d: Derivation, command: str, target: str) -> dict:
    """Everything a torch or jax template renders: the NumPy plan plus the split sweep."""
    context = plan_module(d, command)
    p = _Planner(d)
    reader = context["loss_reader"]
    forward_targets = [s.symbol for s in p.needed(_gradient_targets(d))
                       if s.role not in ("adjoint", "gradient")]
    forward = p.body([d.loss, *forward_targets], context["grad_body"].returns).lines
    full = [line for line in context["grad_body"].lines if not line.startswith(("dtype = ", "del "))]
    head = [line for line in forward if not line.startswith("dtype = ")]
    if full[:len(head)] != head:  # the split must be a prefix of loss_and_grad's statements
        raise SymbpError(f"the statements of {d.model.name!r} do not split into a forward and a "
                         "backward pass; please report this model.")
    backward = full[len(head):]
    assigned = _assigned(head) + (["dtype"] if len(forward) != len(head) else [])
    read = _loads(backward + [code for _, code in context["grads"]])
    data = [(ident, code, key)  # (identifier, the NumPy module's read, key) of each data entry
            for (ident, code), (_, key) in zip(reader["reads"], reader["data"], strict=True)]
    context.update({
        "dtype_line": next((line for line in context["grad_body"].lines
                            if line.startswith("dtype = ")), None),
        "forward_lines": head,
        "backward_lines": backward,
        "saved": [name for name in assigned if name in read and name != "dtype"],
        "inputs": reader["unpack"].rstrip(","),
        "data_keys": [key for _, key in reader["data"]],
        "reads": [(ident, f'_argument("params", {literal(key)}, params[{literal(key)}])')
                  for ident, key in reader["params"]]
        + [(ident, _read(code, key)) for ident, code, key in data],
        "arrays": [(key, ident) for ident, key in reader["params"]]
        + [(key, ident) for ident, code, key in data if not code.startswith("_size(")],
    })
    return context


def _read(numpy_code: str, key: str) -> str:
    """How the export reads one data entry: a size as an int, an array as the framework's."""
    if numpy_code.startswith("_size("):
        return f"int(data[{literal(key)}])"
    return f'_argument("data", {literal(key)}, data[{literal(key)}])'


def _gradient_targets(d: Derivation) -> list:
    return [g for g in (d.gradient_symbols.get(p.name) for p in d.model.params) if g is not None]


def _assigned(lines: list[str]) -> list[str]:
    """The names the statements assign, in order."""
    names = []
    for line in lines:
        for node in ast.walk(ast.parse(line)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in names:
                names.append(node.id)
    return names


def _loads(lines: list[str]) -> set[str]:
    """The names the statements read."""
    tree = ast.parse("\n".join(lines))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
