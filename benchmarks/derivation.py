"""The cost of deriving and compiling: the routes timed (cold, by ``coldderive``) and deep models.

Every timed derivation starts from an empty SymPy cache, as in a fresh
process (a warm cache would make repeats look cheaper than a user's first
call), and after a garbage collection (so no run pays for the last one's).
"""

from __future__ import annotations

import gc

import numpy as np
import sympy as sp
from sympy.core.cache import clear_cache

import symbp as sb

from .tables import Table, ratio, seconds, status
from .timing import OverBudget, budget, median, once

SCALAR_NETS = [(2, 2), (4, 8), (8, 16), (16, 32)]
DEPTHS = [10, 100, 200]
PLAIN_DEPTHS = [10, 30]
WIDTH = 8
TARGET_SCALAR = 1.0     # s, derive + compile of the 16-32-1 scalar net
TARGET_DEEP = 2.0       # s, derive + compile of 100 layers
TARGET_GROWTH = 2.3     # (200 layers) / (100 layers)
TARGET_BUILD = 2.0      # s, building 200 layers with the helpers
n = sp.Symbol("n", integer=True, positive=True)


def fresh():
    """An empty SymPy cache and no garbage left from the previous run."""
    clear_cache()
    gc.collect()


def scalar_net(inputs: int, hidden: int) -> sb.Model:
    """An inputs-hidden-1 tanh net of scalar Symbols with a squared error (as in the tests)."""
    xs = sp.symbols(f"x1:{inputs + 1}")
    y = sp.Symbol("y")
    ws = [[sp.Symbol(f"w{i}_{j}") for j in range(hidden)] for i in range(inputs)]
    bs = sp.symbols(f"b1:{hidden + 1}")
    vs = sp.symbols(f"v1:{hidden + 1}")
    c = sp.Symbol("c")
    h = sb.tanh(sb.dense(list(xs), ws, list(bs)))
    out = sp.Add(*[v * hj for v, hj in zip(vs, h, strict=True)], c)
    params = [w for row in ws for w in row] + [*bs, *vs, c]
    return sb.Model((out - y) ** 2, params=params, name=f"net{inputs}_{hidden}")


def deep_model(depth: int, width: int = WIDTH) -> sb.Model:
    """``depth`` sigmoid layers of ``width`` built with symbp's helpers, MSE loss, batch n."""
    H, params = sp.MatrixSymbol("X", n, width), []
    for k in range(1, depth + 1):
        W, b = sp.MatrixSymbol(f"W{k}", width, width), sp.MatrixSymbol(f"b{k}", 1, width)
        params += [W, b]
        H = sb.sigmoid(sb.dense(H, W, b))
    return sb.Model(sb.mse(H, sp.MatrixSymbol("Y", n, width)), params=params, name=f"deep{depth}")


def plain_deep(depth: int, width: int = WIDTH):
    """The same layers (tanh) with plain SymPy operators: the expression only."""
    H = sp.MatrixSymbol("X", n, width)
    for k in range(1, depth + 1):
        W, b = sp.MatrixSymbol(f"W{k}", width, width), sp.MatrixSymbol(f"b{k}", 1, width)
        H = (H * W + sp.OneMatrix(n, 1) * b).applyfunc(sp.tanh)
    return H


def symbp_route(model):
    """Seconds of ``derive`` and ``compile``, and the derivation and module."""
    fresh()
    t_derive, d = once(lambda: sb.derive(model))
    t_compile, module = once(lambda: sb.compile(d))
    return {"derive": t_derive, "compile": t_compile, "total": t_derive + t_compile}, d, module


def naive_route(model):
    """Seconds of per-parameter ``diff``, ``cse`` of all gradients and ``lambdify``."""
    fresh()
    params, args = list(model.params), [*model.params, *model.data]
    t_diff, grads = once(lambda: [sp.diff(model.loss, p) for p in params])
    t_cse, (replacements, reduced) = once(lambda: sp.cse(grads))
    t_lambdify, func = once(lambda: sp.lambdify(args, grads, modules="numpy",
                                                cse=lambda _: (replacements, reduced)))
    times = {"diff": t_diff, "cse": t_cse, "lambdify": t_lambdify,
             "total": t_diff + t_cse + t_lambdify}
    return times, grads, (replacements, reduced), func


def _naive_agrees(model, module, func) -> bool:
    """The lambdified gradients, averaged over samples, equal the generated module's."""
    params = module.init_params(rng=0)
    data = module.random_data(rng=1, samples=16)
    per_sample = func(*[params[p.name] for p in model.params], *[data[s.name] for s in model.data])
    _, grads = module.loss_and_grad(params, **data)
    return all(np.allclose(np.mean(np.broadcast_to(g, (16,))), grads[p.name], rtol=1e-8)
               for p, g in zip(model.params, per_sample, strict=True))


def measure_deep(repeats: int, depths=DEPTHS, plain_depths=PLAIN_DEPTHS, plain_budget_s: float = 60.0):
    """Build, derive and compile deep helper-built MLPs (depths round-robin per repeat),
    and the build time of the same layers with plain SymPy operators."""
    samples = {d: [] for d in depths}
    plain = {d: [] for d in plain_depths}
    plain_state = {d: "ok" for d in plain_depths}
    for k in range(repeats):
        order = depths[k % len(depths):] + depths[:k % len(depths)]
        for depth in order:
            fresh()
            t_build, model = once(lambda depth=depth: deep_model(depth))
            times, _, _ = symbp_route(model)
            samples[depth].append({"build": t_build, **times})
        for depth in plain_depths:
            if plain_state[depth] != "ok":
                continue
            fresh()
            try:
                with budget(plain_budget_s):
                    plain[depth].append(once(lambda depth=depth: plain_deep(depth))[0])
            except (OverBudget, RecursionError) as exc:
                plain_state[depth] = type(exc).__name__
                clear_cache()
    results = {"deep": {d: {key: median([s[key] for s in samples[d]]) for key in samples[d][0]}
                        for d in depths},
               "plain": {d: (median(plain[d]) if plain[d] else None, plain_state[d]) for d in plain_depths}}
    for d, m in results["deep"].items():
        print(f"  deep {d} layers: build {seconds(m['build'])}, derive + compile {seconds(m['total'])}",
              flush=True)
    return results


def targets(deep) -> list[tuple[str, str, bool | None]]:
    out = []
    d = deep["deep"]
    if 100 in d:
        out.append((f"100-layer derive + compile <= {TARGET_DEEP:g} s", seconds(d[100]["total"]),
                    d[100]["total"] <= TARGET_DEEP))
    if 100 in d and 200 in d:
        growth = d[200]["total"] / d[100]["total"]
        out.append((f"derive + compile 200 layers / 100 layers <= {TARGET_GROWTH:g}x", ratio(growth),
                    growth <= TARGET_GROWTH))
    if 200 in d:
        out.append((f"build a 200-layer model with helpers <= {TARGET_BUILD:g} s", seconds(d[200]["build"]),
                    d[200]["build"] <= TARGET_BUILD))
    return out


def deep_tables(results) -> list[Table]:
    deep, plain = results["deep"], results["plain"]
    t = Table(f"Derivation: deep sigmoid MLPs of width {WIDTH} built with symbp helpers (MSE, batch n)",
              ["layers", "build model", "derive", "compile", "derive + compile", "target"])
    for depth, m in deep.items():
        target = "-"
        if depth == 100:
            target = f"{status(m['total'] <= TARGET_DEEP)} (<= {TARGET_DEEP:g} s)"
        elif depth == 200:
            target = f"build {status(m['build'] <= TARGET_BUILD)} (<= {TARGET_BUILD:g} s)"
        t.add(depth, seconds(m["build"]), seconds(m["derive"]), seconds(m["compile"]),
              seconds(m["total"]), target)
    if 100 in deep and 200 in deep:
        growth = deep[200]["total"] / deep[100]["total"]
        build_growth = deep[200]["build"] / deep[100]["build"]
        t.add("200 / 100", ratio(build_growth), ratio(deep[200]["derive"] / deep[100]["derive"]),
              ratio(deep[200]["compile"] / deep[100]["compile"]), ratio(growth),
              f"{status(growth <= TARGET_GROWTH)} (<= {TARGET_GROWTH:g}x)")
    t.notes = ["Median over repeats, each from an empty SymPy cache; the depths run round-robin."]
    for depth, (value, state) in plain.items():
        shown = seconds(value) if value is not None else state
        t.notes.append(f"Building {depth} layers with plain SymPy operators "
                       f"(`(H*W + OneMatrix(n, 1)*b).applyfunc(tanh)`): {shown}"
                       + (f" (helpers: {seconds(deep[depth]['build'])})" if depth in deep else "") + ".")
    t.notes.append("Derivations here run in one process after a cache clear (not cold); "
                   f"plain SymPy is not measured beyond {max(plain, default=0)} layers.")
    return [t]
