"""What a generated module contains: the plan the Jinja2 template lays out.

``plan_module(d, command)`` decides which steps each function needs, prints
their statements with ``printing.CodePrinter``, writes the argument checks,
the chain-rule comments, the initialisation of every parameter and the
batch dimension ``fit`` shuffles along.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import sympy as sp

from .errors import SymbpError
from .ir import Derivation, Step
from .naming import Namer
from .primitives.conv import RUNTIME_KINDS
from .primitives.gaussian import ERF_TABLES, reads_erf
from .primitives.norm import Embedding
from .printing import CodePrinter
from .source import docstring_safe, literal, one_line
from .stacking import may_stack, stacked_body
from .text import unicode
from .training import batch_plan, init_plan, random_data_plan, returned_gradients
from .version import __version__

__all__ = ["plan_module", "Body"]


@dataclass
class Body:
    """The statements of one generated function."""

    lines: list[str]
    returns: str


class _Planner:
    def __init__(self, d: Derivation):
        self.d = d
        self.model = d.model
        self.names = {s: i for s, i in d.identifiers.items()}
        self.steps = list(d.steps)
        self.batched = {*self.model.data, *(s.symbol for s in self.steps if s.per_sample)} \
            if self.model.is_scalar else set()  # per-sample values of a scalar model
        self.params = {p.name: p for p in self.model.params}
        self.taken = {*self.names.values(), *(s.name for s in self.steps)}
        self.batch_size = Namer(self.taken).claim("N") if self.model.is_scalar else None
        self.taken.add(self.batch_size)
        adjoints = {s.symbol: s.of for s in self.steps if s.role in ("adjoint", "gradient")}
        self.comment_names = {sym: f"dL/d{of}" for sym, of in adjoints.items() if of}

    # -- dependency closure ----------------------------------------------------
    def needed(self, targets) -> list[Step]:
        """The steps ``targets`` depend on, in order."""
        want = set(targets)
        picked = []
        for step in reversed(self.steps):
            if step.symbol in want:
                picked.append(step)
                want |= step.expr.free_symbols
        picked.reverse()
        return picked

    def symbols_used(self, targets) -> list:
        """The model symbols (inputs) that ``targets`` depend on."""
        used = set(targets)
        for step in self.needed(targets):
            used |= step.expr.free_symbols
            used |= {d for size in step.shape for d in sp.sympify(size).free_symbols}
        used |= {d for s in self.model.symbols if s in used for d in self.model.shape_of(s)}
        return [s for s in self.model.symbols if s in used]

    def body(self, targets, returns: str, comments: bool = False, in_place: bool = True) -> Body:
        """The statements computing ``targets``: each step, its chain-rule comment, and the
        temporaries the printer lowers softmax into. ``in_place``: a sum with broadcast terms
        (a bias) adds them in place (``CodePrinter.in_place_sum``)."""
        steps = self.needed(targets)
        printer = CodePrinter(self.names, Namer(self.taken))
        printer.batched, printer.batch_size = self.batched, self.batch_size
        params, dims = set(self.model.params), set(self.model.dims)
        lines = []
        for step in steps:
            code, updates = (in_place and printer.in_place_sum(step.expr, params, dims)) or \
                (printer._print(step.expr), [])
            code = _strip_parens(code)
            if step.role == "gradient" and step.expr.is_number:  # a constant gradient
                code = f"xp.full_like({self.names[self.params[step.of]]}, {code})"
            if printer._not_supported:
                bad = ", ".join(sorted(str(f) for f in printer._not_supported))
                raise SymbpError(f"the step {step.name} = {unicode(step.expr)} needs {bad}, which "
                                 "has no NumPy function; rewrite it with NumPy-supported functions.")
            if comments and step.role in ("adjoint", "gradient"):
                lines.append("# " + self.chain_comment(step))
            lines += [f"{name} = {c}" for name, c in printer.prelude]
            printer.prelude.clear()
            lines.append(f"{step.name} = {code}")
            lines += [f"{step.name} {update}" for update in updates]
        if printer.uses_dtype:
            lines.insert(0, f"dtype = xp.result_type({', '.join(self.names[p] for p in self.model.params)})")
        return Body(lines, returns)

    def chain_comment(self, step: Step) -> str:
        """``dL/dW1 = Xᵀ dL/dZ1``: the chain-rule step in the module's own names."""
        rhs = unicode(step.expr, {**self.names, **self.comment_names})
        return one_line(f"{self.comment_names.get(step.symbol, step.name)} = {rhs}")

    def text(self, step: Step) -> str:
        """``Z1 = X W1 + 𝟙 b1`` for the module docstring, in the module's own names."""
        return docstring_safe(f"{step.name} = {unicode(step.expr, self.names)}")



def _strip_parens(code: str) -> str:
    if not (code.startswith("(") and code.endswith(")")):
        return code
    depth = 0
    for k, ch in enumerate(code):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and k < len(code) - 1:
            return code
    return code[1:-1]


def _shape_text(shape, names) -> str:
    return f"({_unpack([names[d] if d.is_Symbol else str(d) for d in shape])})"


def _matrix_checks(sym, names: dict, bound: dict, nonempty: bool) -> list[str]:
    """Check a matrix argument's shape, binding the dimensions it is the first to show (to at
    least 1 where ``nonempty``: the loss of data with no rows is no number)."""
    ident, shape = names[sym], tuple(getattr(sym, "tensor_shape", sym.shape))
    expected = _shape_text(shape, names)
    checks = []
    free = [(k, d) for k, d in enumerate(shape) if d.is_Symbol and d not in bound]
    if free:
        checks += [f"if {ident}.ndim != {len(shape)}:",
                   f"    _bad_shape({literal(sym.name)}, {ident}, {literal(expected)})"]
        for k, d in free:
            checks.append(f"{names[d]} = {ident}.shape[{k}]")
            bound[d] = sym
            if nonempty:
                checks += [f"if {names[d]} == 0:", f"    _bad_shape({literal(sym.name)}, {ident}, "
                           f"{literal(f'{expected} with {names[d]} at least 1')})"]
    origin = ", ".join(f"{names[d]} = {{{names[d]}}} from {names[bound[d]]}"
                       for d in dict.fromkeys(d for d in shape if d.is_Symbol) if bound[d] != sym)
    message = expected + (f" with {origin}" if origin else "")
    return checks + [f"if {ident}.shape != {expected}:",
                     f"    _bad_shape({literal(sym.name)}, {ident}, "
                     f"{'f' if origin else ''}{literal(message)})"]


def _reader(planner: _Planner, symbols: list, fn: str, strict: bool) -> dict:
    """The straight-line argument checks of one ``_inputs_*`` function."""
    model, names = planner.model, planner.names
    roles = {**dict.fromkeys(model.params, "param"), **dict.fromkeys(model.data, "data"),
             **dict.fromkeys(model.dims, "dim")}
    params, data, dims = ([s for s in symbols if roles[s] == role] for role in ("param", "data", "dim"))
    bound: dict = {}
    checks: list[str] = []
    for sym in (*params, *data):
        if isinstance(sym, sp.MatrixSymbol):
            checks += _matrix_checks(sym, names, bound, strict and roles[sym] == "data")
        elif not (model.is_scalar and roles[sym] == "data"):  # per-sample data: see _batch
            checks += [f"if {names[sym]}.ndim != 0:",
                       f"    _bad_shape({literal(sym.name)}, {names[sym]}, \"()\")"]
    sizes = [d for d in dims if d not in bound]  # sizes no input shows: keyword arguments n=...
    batch = model.is_scalar and bool(data)
    if batch:
        targets = _unpack([names[s] for s in data])
        pairs = _unpack([f"({literal(s.name)}, {names[s]})" for s in data])
        checks.insert(0, f"{planner.batch_size}, ({targets}) = _batch(({pairs}))")
    idents = [names[s] for s in (*params, *data, *dims)] + ([planner.batch_size] if batch else [])
    scalars = [s for s in data if not isinstance(s, sp.MatrixSymbol)] if params else []
    return {"name": fn, "params": [(names[s], s.name) for s in params],
            "bind": None if sizes or not (params or data) else
            _binder(planner, fn, [*params, *data], strict, data if batch else ()),
            "arrays": _wrapped([names[s] for s in (*params, *data)], "if np.result_type(", 8),
            "reads": [(names[s], f"_scalar(data[{literal(s.name)}], dtype)" if s in scalars
                       else f"np.asarray(data[{literal(s.name)}])") for s in data]
            + [(names[d], f"_size(data[{literal(d.name)}], {literal(d.name)})") for d in sizes],
            "precision": _wrapped([names[s] for s in params] + ["1.0"], "dtype = np.result_type(", 8)
            if scalars else None,
            "data": [(names[s], s.name) for s in (*data, *sizes)], "dims": [names[d] for d in dims],
            "checks": checks, "strict": strict, "unpack": _unpack(idents),
            "ids": [(1 + idents.index(names[sym]), sym.name, table.name, rows)
                    for sym, (table, rows) in _id_tables(planner.d).items() if sym in data]}


def _id_tables(d: Derivation) -> dict:
    """data symbol -> (the table, its number of rows) for every embedding's integer ids."""
    found = {}
    for step in d.forward:
        for e in sp.preorder_traversal(step.expr):
            if isinstance(e, Embedding):
                table = e.args[1]
                for sym in sorted(e.args[0].free_symbols & set(d.model.data), key=str):
                    found.setdefault(sym, (table, int(table.shape[0])))
    return found


def _binder(planner: _Planner, fn: str, arrays: list, strict: bool, per_sample) -> dict:
    """``_bind_<fn>``, _read's check of NumPy arguments not seen before: the dimensions their
    shapes bind (in DIMS order, then a scalar model's N), or None where a shape is not the
    model's (``_read_checked`` then names the culprit). Straight-line: one comparison of all
    the shapes."""
    names, bound, lines, nonzero, expected = planner.names, set(), [], [], []
    for sym in arrays:
        ident = names[sym]
        if sym in per_sample:
            shape = (planner.batch_size,)
        elif isinstance(sym, sp.MatrixSymbol):
            shape = tuple(names[d] if d.is_Symbol else str(d)
                          for d in getattr(sym, "tensor_shape", sym.shape))
        else:
            shape = ()
        for k, dim in enumerate(shape):
            if not dim.isdigit() and dim not in bound:
                bound.add(dim)
                lines.append(f"{dim} = {ident}.shape[{k}] if {ident}.ndim == {len(shape)} else None")
                if per_sample or (strict and sym in planner.model.data):
                    nonzero.append(dim)  # the loss of no samples is no number
        expected.append(f"({_unpack(list(shape))})")
    shown = [names[d] for d in planner.model.dims if names[d] in bound]
    shown += [planner.batch_size] if per_sample else []
    condition = " and ".join(["shapes == expected", *nonzero])
    return {"signature": f"def _bind_{fn}(" + _wrapped([names[s] for s in arrays], f"def _bind_{fn}(", 0),
            "lines": [*lines, _tuple_line("shapes", [f"{names[s]}.shape" for s in arrays]),
                      _tuple_line("expected", expected)],
            "condition": condition, "returns": f"({_unpack(shown)})"}


def _tuple_line(name: str, items: list[str]) -> str:
    """``name = (a, b, ...)`` in a function body, wrapped as ``_wrapped`` does (``(a,)`` for one)."""
    return f"{name} = (" + _wrapped(items, f"{name} = (", 4) + ("," if len(items) == 1 else "") + ")"


def _wrapped(items: list[str], before: str, indent: int) -> str:
    """``a, b, c`` broken into lines of at most 100 characters after ``before`` (a call's
    opening at ``indent``), the rest aligned under the first item; no item is broken."""
    width = 100 - indent - len(before)
    words = [item + ("," if k < len(items) - 1 else "") for k, item in enumerate(items)]
    lines = [""]
    for word in words:
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append("")
        lines[-1] += (" " if lines[-1] else "") + word
    return ("\n" + " " * (indent + len(before))).join(lines)


def _unpack(idents: list[str]) -> str:
    return ", ".join(idents) + ("," if len(idents) == 1 else "")


def plan_module(d: Derivation, command: str) -> dict:
    """Everything ``templates/module.py.j2`` renders."""
    p = _Planner(d)
    model = d.model
    grads = {par: d.gradient_symbols.get(par.name) for par in model.params}
    targets = [g for g in grads.values() if g is not None]
    used = p.symbols_used([d.loss, *targets])
    loss_reader = _reader(p, used, "loss", strict=True)
    loss_code = p.names.get(d.loss, str(d.loss))
    if model.is_scalar and loss_reader["data"]:  # the mean over the samples
        loss_code = f"xp.sum({loss_code}) / {p.batch_size}"
    grad_body = p.body([d.loss, *targets], loss_code, comments=True)
    of_params = set(model.params)  # the parameters and the steps that read one, in one pass
    for step in p.steps:
        if not of_params.isdisjoint(step.expr.free_symbols):
            of_params.add(step.symbol)
    of_data = {par for par, g in grads.items() if g is not None and g not in of_params}
    returned = returned_gradients(grads, p.names, grad_body.lines, grad_body.returns,
                                  {par: model.shape_of(par) for par in grads}, of_data)
    # its statements computing into buffers (out=), the stacked body adds no bias in place
    stacked = may_stack(d) and stacked_body(d, p.names, p.body([d.loss, *targets], loss_code, True,
                                                               False).lines, p.taken)
    grad_body = _freed(grad_body, *(code for _, code in returned))
    context = {
        "version": __version__,
        "name": model.name,
        "command": docstring_safe(one_line(command)),
        "description": docstring_safe(model.description or f"The model {model.name!r}."),
        "forward_text": [p.text(s) for s in d.forward],
        "backward_text": [p.text(s) for s in p.steps if s.role in ("adjoint", "gradient")],
        "params": [s.name for s in model.params],
        "data": [s.name for s in model.data],
        "dims": [s.name for s in model.dims],
        "shapes": {s.name: tuple(str(x) for x in model.shape_of(s)) for s in model.symbols
                   if s not in model.dims},
        "outputs": list(d.outputs),
        "scalar": model.is_scalar,
        "loss_reader": loss_reader,
        "loss_body": _freed(p.body([d.loss], loss_code)),
        "grad_body": grad_body,
        "grads": returned,
        "grads_copied": any(code.startswith("_copy(") for _, code in returned),
        "stacked": stacked and {
            "body": _freed(Body(stacked.lines, grad_body.returns), *(code for _, code in returned)),
            "arrays": ", ".join(p.names[s] for s in used if s in model.params or s in model.data),
            "sums": stacked.sums, "products": stacked.products},
        "init": init_plan(d, p.names),
        "init_dims": _dims_in(model, model.params, p.names),
        "data_dims": _dims_in(model, model.data, p.names),
        "batched": batch_plan(d)[1],
        "random_data": random_data_plan(d, p.names),
        "tensor_ops": _uses_tensor_ops(d),
        "erf": ERF_TABLES if reads_erf(s.expr for s in (*d.forward, *d.backward)) else None,
        "einsum": "einsum" in d.kinds,
        "ids": bool(_id_tables(d)),
    }
    if d.outputs:
        context.update(_predict_plan(p, d))
    return context


def _uses_tensor_ops(d: Derivation) -> bool:
    """Whether a step calls the runtime helpers of conv2d and pooling (tensor_ops.py.j2)."""
    return any(kind in RUNTIME_KINDS for kind in d.kinds)


def _predict_plan(p: _Planner, d: Derivation) -> dict:
    targets = list(d.outputs.values())
    codes = {k: p.names.get(v, str(v)) for k, v in d.outputs.items()}
    returns = next(iter(codes.values())) if len(codes) == 1 else \
        "{" + ", ".join(f"{literal(k)}: {c}" for k, c in codes.items()) + "}"
    return {"predict_reader": _reader(p, p.symbols_used(targets), "predict", strict=False),
            "predict_body": _freed(p.body(targets, returns))}


def _freed(body: Body, *results: str) -> Body:
    """``body`` with a ``del`` after the statement that last reads each value it computed and
    does not return (``results``: the other expressions returned): that memory is free for the
    arrays computed after it, which lowers a call's peak memory."""
    first, last = {}, {}
    for k, line in enumerate(body.lines):
        for statement in ast.parse(line).body:  # the names the function assigns
            for node in ast.walk(statement) if isinstance(statement, ast.Assign) else ():
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    first.setdefault(node.id, k)
        last.update((node.id, k) for node in ast.walk(ast.parse(line))
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load))
    kept = {n.id for code in (body.returns, *results) for n in ast.walk(ast.parse(code))
            if isinstance(n, ast.Name)}
    lines, dead = [], []
    for k, line in enumerate(body.lines):
        lines.append(line)
        dead += [name for name, at in first.items() if at < k == last.get(name) and name not in kept]
        # after the last statement the function returns
        if dead and k < len(body.lines) - 1 and not _out_call(line):
            lines.append(f"del {', '.join(dead)}")
            dead = []
    return Body(lines, body.returns)


def _out_call(line: str) -> bool:
    """Whether ``line`` is a call for its ``out=`` alone (``xp.square(A1, out=tmp)``), one of the
    lines computing the next statement's operand: a ``del`` waits for that statement."""
    statements = ast.parse(line).body
    return len(statements) == 1 and isinstance(statements[0], ast.Expr)


def _dims_in(model, symbols, names) -> list[tuple[str, str]]:
    """``(identifier, name)`` of the dimensions in the shapes of ``symbols``."""
    dims = {d for s in symbols for d in model.shape_of(s) if d.is_Symbol}
    return [(names[d], d.name) for d in model.dims if d in dims]


