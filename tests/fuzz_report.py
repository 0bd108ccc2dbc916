"""Run the fuzz cases, shrink each kind of failure to a small reproducer, write a Markdown report.

    python tests/fuzz_report.py [--count 1000] [--out fuzz_failures.md] [--label "main abc123"]

Shrinking is greedy: replace a sub-expression by one of its arguments of the same shape, or
by a fresh symbol of its shape, or drop a parameter, while the failure keeps its signature.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import warnings
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import sympy as sp

import symbp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_cases import Case, N  # noqa: E402
from fuzz_reference import evaluate  # noqa: E402
from test_fuzz import inputs, reference, run_all, run_case  # noqa: E402

LEAVES = (sp.MatrixSymbol, sp.OneMatrix, sp.Identity, sp.ZeroMatrix)


def _actual_shape(sub, case, env):
    try:
        value = evaluate(sub, env, {N: case.n})
    except Exception:  # noqa: BLE001
        return None
    return np.shape(value) if getattr(sub, "is_Matrix", False) else ()


def _replacements(sub, case, env, fresh):
    shape = _actual_shape(sub, case, env)
    if shape is None:
        return
    for arg in sub.args:
        if isinstance(arg, sp.Basic) and not isinstance(arg, (sp.Lambda, sp.Tuple)) \
                and _actual_shape(arg, case, env) == shape:
            yield arg
    if isinstance(sub, (sp.Add, sp.Mul, sp.MatAdd, sp.MatMul, sp.HadamardProduct)) and len(sub.args) > 1:
        for i in range(len(sub.args)):
            try:
                rest = sub.func(*sub.args[:i], *sub.args[i + 1:]).doit(deep=False)
            except Exception:  # noqa: BLE001
                continue
            if _actual_shape(rest, case, env) == shape:
                yield rest
    if shape == ():
        yield sp.Rational(1, 2)
    elif tuple(int(sp.sympify(d).subs({N: case.n})) for d in sub.shape) == shape:
        yield sp.MatrixSymbol(fresh, *sub.shape)


def candidates(case: Case):
    """Smaller cases than ``case``, smallest first."""
    params, data = inputs(case)
    syms = {s.name: s for s in case.loss.free_symbols}
    env = {syms[k]: v for k, v in {**params, **data}.items() if k in syms and syms[k] != N}
    fresh = f"Z{sum(1 for s in syms if s.startswith('Z'))}"
    found = {}
    for sub in sp.preorder_traversal(case.loss):
        if sub == case.loss or isinstance(sub, (*LEAVES, sp.Atom, sp.Lambda, sp.Tuple)):
            continue
        for repl in _replacements(sub, case, env, fresh):
            try:
                loss = case.loss.xreplace({sub: repl})
            except Exception:  # noqa: BLE001
                continue
            free = loss.free_symbols
            kept = tuple(p for p in case.params if p in free)
            if not kept and isinstance(repl, sp.MatrixSymbol):
                kept = (repl,)
            if kept:
                found.setdefault(str(loss), replace(case, loss=loss, params=kept,
                                                    labels=tuple(y for y in case.labels if y in free)))
    for p in case.params if len(case.params) > 1 else ():
        smaller = replace(case, params=tuple(q for q in case.params if q != p))
        found.setdefault(str(smaller.loss) + f" without {p}", smaller)
    return sorted(found.values(), key=lambda c: (len(str(c.loss)), len(c.params)))


def shrink(case: Case, signature: str, budget: int = 100) -> Case:
    """A small case that fails with the same signature as ``case``."""
    calls = 0
    while calls < budget:
        for smaller in candidates(case):
            calls += 1
            if run_case(smaller).signature == signature:
                case = smaller
                break
            if calls >= budget:
                return case
        else:
            return case
    return case


def _arrays(d) -> str:
    return ", ".join(f"{k!r}: np.array({np.asarray(v).tolist()!r})" for k, v in d.items())


def snippet(case: Case) -> str:
    params, data = inputs(case)
    names = ", ".join(p.name for p in case.params)
    return "\n".join([
        "import numpy as np, sympy as sp, symbp as sb",
        "from sympy import *",
        "from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction",
        "from symbp.functions import *",
        f"loss = {sp.srepr(case.loss)}",
        "syms = {s.name: s for s in loss.free_symbols}",
        f"model = sb.Model(loss, params=[syms[k] for k in {[p.name for p in case.params]!r}])",
        "mod = sb.compile(sb.derive(model))",
        f"params = {{{_arrays(params)}}}  # {names}",
        f"data = {{{_arrays(data)}}}",
        "print(mod.loss(params, **data)); print(mod.loss_and_grad(params, **data))",
    ])


def _expected(case: Case) -> str:
    params, data = inputs(case)
    value, grads = reference(case, params, data)
    parts = [f"loss {value!r}"] + [f"d/d{k} = {np.asarray(g).tolist()!r}" for k, g in grads.items()]
    return "; ".join(parts)


def section(index: int, signature: str, group: list) -> str:
    case, outcome = group[0]
    seeds = ", ".join(str(c.seed) for c, _ in group[:20]) + (" ..." if len(group) > 20 else "")
    if case.loss is None:
        return "\n".join([f"## {index}. {signature}", "", f"{len(group)} case(s); seeds {seeds}", "",
                          "Refused while building the loss (a symbp builder such as sb.mse raised):",
                          "", f"    {outcome.detail[:1500]}", "", "The call:", "", "```python",
                          "from sympy import *", "import symbp as sb", case.refused_call[:3000],
                          "```", ""])
    small = shrink(case, signature)
    observed = run_case(small)
    return "\n".join([
        f"## {index}. {signature}", "",
        f"{len(group)} case(s); seeds {seeds}", "",
        f"Shrunk from seed {case.seed} (n = {case.n}) to: `{small.loss}` with params "
        f"[{', '.join(p.name for p in small.params)}]", "",
        "```python", snippet(small), "```", "",
        f"Observed: {observed.kind} at {observed.stage}: {observed.detail[:1500]}", "",
        f"Expected (autograd): {_expected(small)[:1500]}", "",
        f"Original: `{str(case.loss)[:800]}`", "",
    ])


def _checkout() -> str:
    """Which symbp ran: its folder, commit and whether the working tree differs from it."""
    root = Path(symbp.__file__).resolve().parent.parent
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "log", "-1", "--format=%h %s"], capture_output=True, text=True).stdout
    dirty = subprocess.run([*git, "status", "--porcelain", "symbp"], capture_output=True, text=True).stdout
    state = "with uncommitted changes under symbp/" if dirty.strip() else "clean"
    return f"symbp from {root}, commit {head.strip()[:90]} ({state})"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--start", type=int, default=0, help="first seed")
    ap.add_argument("--out", default="fuzz_failures.md")
    ap.add_argument("--label", default="this checkout")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    outcomes, tags, seconds = run_all(args.count, args.start)
    groups = defaultdict(list)
    for case, outcome in outcomes.values():
        if outcome.kind != "OK":
            groups[outcome.signature].append((case, outcome))
    kinds = defaultdict(int)
    for _, outcome in outcomes.values():
        kinds[outcome.kind] += 1
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"# Fuzz failures: {args.label}", "", _checkout(), "",
            f"Run {now}: {args.count} cases (seeds from {args.start}) in {seconds:.0f} s; "
            f"outcomes {dict(sorted(kinds.items()))}; "
            f"{len(groups)} kinds of failure.", "",
            "Reference semantics (tests/fuzz_reference.py): a term whose shape differs from the others "
            "only by axes of size 1 broadcasts as in NumPy (a (1, m) term in an (n, m) sum is a row "
            "broadcast, also when SymPy puts it first and reports the sum's shape as (1, m)); "
            "softmax row-wise; CE mean over rows. Rerun: `PYTHONPATH=<checkout> python "
            "/work/wt-fuzz/tests/fuzz_report.py --count 1000 --out report.md`; one seed: "
            "`run_case(make_case(SEED))` from tests/test_fuzz.py.", "",
            "Constructs generated: " + ", ".join(f"{k} {v}" for k, v in sorted(tags.items())), ""]
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    head += [f"{i}. ({len(g)}) {s}" for i, (s, g) in enumerate(ordered, 1)] + [""]
    Path(args.out).write_text("\n".join(head), encoding="utf-8")
    body = [section(i, s, g) for i, (s, g) in enumerate(ordered, 1)]
    Path(args.out).write_text("\n".join(head + body), encoding="utf-8")
    print(f"{dict(kinds)} in {seconds:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
