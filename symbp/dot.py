"""Pictures of the computational graph: Graphviz DOT text, rendered with ``dot``.

One node per operation, labelled with its formula; edges follow the data
flow from left to right. An edge carrying a tensor is labelled with its N-d shape
(``n×8×4×4``: the graph node's ``full_shape``, not its matrix view). With values, each
edge carries the forward value flowing along it (top, black) and the gradient flowing
back (bottom, red), as in the figures of the lesson this project grew from; a tensor's
value in its N-d shape.

``collapse=True`` draws each block of the vocabulary as one node: layer or batch norm's
``1/σ`` and ``x̂`` steps as one "layer norm" node, attention's scores, mask and softmax as
one "attention weights" node; the default expands every step.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import sympy as sp

from .derive import as_derivation
from .errors import SymbpError
from .explain import evaluate_at, format_full, full_shapes, step_values
from .files import MARK, check_writable, output_path, sign, write_atomic
from .ir import Derivation
from .model import Model
from .paths import edge_gradients
from .primitives.base import REGISTRY
from .text import unicode

__all__ = ["graph_dot", "render_graph", "blocks"]

_GRADIENT = "#c0392b"


def _label(title: str, formula: str | None = None) -> str:
    head = f"<b>{html.escape(title)}</b>"
    if formula is None:
        return f"<{head}>"
    return f'<{head}<br/><font point-size="10">{html.escape(formula)}</font>>'


def blocks(d: Derivation) -> dict[str, str]:
    """``step name -> the step that stands for its block`` for the steps of a block other
    than its last: a norm's ``1/σ`` (its ``x̂`` stands for it), attention's scores and mask
    (its probabilities stand for them); a step used outside its block stays drawn."""
    by_name = {s.name: s for s in d.forward}
    users: dict[str, list[str]] = {}
    for step in d.forward:
        for name in step.inputs:
            users.setdefault(name, []).append(step.name)
    out: dict[str, str] = {}
    for step in d.forward:
        record = REGISTRY.get(step.kind)
        chain = _block_parts(step, by_name) if record is not None and record.block else []
        for name in chain:
            if all(u in (step.name, *chain) for u in users.get(name, [])):
                out[name] = step.name
    return out


def _block_parts(step, by_name) -> list[str]:
    """The steps a block's last step stands for: a norm's ``1/σ``, attention's scores and mask."""
    return [n for n in step.inputs if getattr(by_name.get(n), "kind", "") == "istd"] or _scores(
        step, by_name)


def _scores(step, by_name) -> list[str]:
    """The scaled scores ``Q Kᵀ / √d`` (and their causal mask) a softmax reads, or []."""
    chain, names = [], list(step.inputs)
    while len(names) == 1 and getattr(by_name.get(names[0]), "kind", "") in ("causal_mask", "scale"):
        chain.append(names[0])
        if by_name[names[0]].kind == "scale":
            break
        names = [n for n in by_name[names[0]].inputs if n in by_name]
    return chain if chain and by_name[chain[-1]].kind == "scale" else []


def graph_dot(d: Derivation | Model, values: Mapping | None = None, collapse: bool = False) -> str:
    """The computational graph of ``d`` (a Derivation, or a Model to derive) as DOT text;
    ``collapse`` draws each norm or attention block as one node (see the module docstring)."""
    d = as_derivation(d)
    merged = blocks(d) if collapse else {}
    env = step_values(d, values) if values is not None else None
    flows = edge_gradients(d)
    shapes = full_shapes(d)
    names = {s: s.name for s in d.model.symbols}
    names.update({s.symbol: s.name for s in d.forward})
    dims = set(d.model.dims)
    lines = [f"// {MARK}", f"digraph {_quote(d.model.name)} {{", "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=12];',
             '  edge [fontname="Helvetica", fontsize=10];']
    used = set()
    for step in d.forward:
        used |= {s for s in step.expr.free_symbols if s in names and s not in dims}
    params = set(d.model.params)
    for sym in d.model.symbols:
        if sym in used:
            shape = "box" if sym in params else "plaintext"
            lines.append(f"  {_quote(sym.name)} [shape={shape}, label={_label(sym.name)}];")
    for step in d.forward:
        if step.name in merged:
            continue
        title = (step.block or None) if step.name in merged.values() else None
        expr = _block_expr(d, step, merged)
        label = _label(step.name if title is None else f"{step.name}: {title}", unicode(expr))
        lines.append(f"  {_quote(step.name)} [shape=ellipse, label={label}];")
        sources = sorted({names[s] for s in expr.free_symbols if s in names and s not in dims})
        for source in sources:
            sym = next(s for s, n in names.items() if n == source)
            lines.append(f"  {_quote(source)} -> {_quote(step.name)}"
                         f"{_edge_label(env, sym, flows.get((source, step.name)), shapes.get(sym))};")
    loss = d.loss.name if hasattr(d.loss, "name") else "L"
    end = _fresh("output", {*names.values(), loss})
    lines.append(f'  {_quote(end)} [shape=plaintext, label=""];')
    lines.append(f"  {_quote(loss)} -> {_quote(end)}{_edge_label(env, d.loss, sp.Integer(1), ())};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _block_expr(d: Derivation, step, merged: dict):
    """The step's formula with the steps merged into it written in (``softmax(mask(...))``)."""
    inner = {s.symbol: s.expr for s in d.forward if merged.get(s.name) == step.name}
    expr = step.expr
    for _ in range(len(inner)):
        expr = expr.xreplace(inner)
    return expr


def _fresh(name: str, taken: set) -> str:
    """``name``, or ``name_1``, ``name_2``, ... : the first not in ``taken``."""
    candidates = (name if k == 0 else f"{name}_{k}" for k in range(len(taken) + 1))
    return next(c for c in candidates if c not in taken)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _edge_label(env, sym, gradient, shape) -> str:
    """The value (top) and gradient (bottom) flowing along an edge; without values, a tensor's
    N-d shape (matrices and scalars stay unlabelled)."""
    tensor = shape is not None and len(shape) not in (0, 2)
    if env is None:
        return f" [label=<{html.escape('×'.join(map(str, shape)))}>]" if tensor else ""
    top = html.escape(format_full(env[sym], shape)) if sym in env else ""
    bottom = ""
    if gradient is not None:
        try:
            value = format_full(evaluate_at(gradient, env), shape)
            bottom = f'<br/><font color="{_GRADIENT}">{html.escape(value)}</font>'
        except (TypeError, ValueError, AttributeError):
            bottom = ""
    return f" [label=<{top}{bottom}>]"


def render_graph(d: Derivation | Model, path, values: Mapping | None = None,
                 force: bool = False, collapse: bool = False) -> Path:
    """Render the graph to ``path`` (.svg, .png or .pdf) with Graphviz's ``dot``.

    Like ``emit``, it replaces only a picture symbp rendered (unedited), unless ``force``.
    """
    path = output_path(path, force)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf"):
        raise SymbpError(f"the picture {path} must end in .svg, .png or .pdf.")
    dot = shutil.which("dot")
    if dot is None:
        raise SymbpError("Graphviz's dot was not found; install Graphviz (apt install graphviz, "
                         "brew install graphviz or conda install graphviz), or render the text of "
                         "symbp.graph_dot yourself.")
    check_writable(path, force)
    d = as_derivation(d)
    try:
        result = subprocess.run([dot, f"-T{fmt}"], input=graph_dot(d, values, collapse).encode(),
                                capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise SymbpError(f"dot did not finish the graph of {d.model.name} within 120 s.") from None
    if result.returncode != 0:
        raise SymbpError(f"dot failed on the graph of {d.model.name}: "
                         f"{result.stderr.decode(errors='replace').strip()}")
    write_atomic(path, sign(result.stdout, path.suffix))
    return path
