"""One cold derivation in a fresh process: symbp's ``derive`` + ``compile`` or the naive SymPy
route (per-parameter ``sympy.diff``, ``cse``, ``lambdify``), on a scalar inputs-hidden-1 tanh net.

Nothing ran before it in the process but the imports, so the figure is what a user's first
call costs (the naive route used to be timed after earlier runs had warmed SymPy up).
"""

from __future__ import annotations

import sympy as sp

from .derivation import naive_route, scalar_net, symbp_route


def cold(route: str, inputs: str, hidden: str) -> dict:
    model = scalar_net(int(inputs), int(hidden))
    if route == "symbp":
        times, _, _ = symbp_route(model)
        return {"times": times}
    times, grads, (replacements, reduced), _ = naive_route(model)
    return {"times": times, "ops": sum(sp.count_ops(g) for g in grads),
            "ops_cse": sum(sp.count_ops(v) for _, v in replacements) + sum(sp.count_ops(g) for g in reduced)}
