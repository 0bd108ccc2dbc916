"""Why backprop is efficient: operation counts of symbp's passes vs naive ``sympy.diff``.

Naive differentiation takes the whole loss apart again for every parameter:
nothing computed for one gradient is reused for the next, and the
expressions swell. symbp's backward pass reuses the forward values and the
upstream adjoints, so its size stays a small multiple of the forward pass.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import sympy as sp

from .derive import derive
from .errors import SymbpError
from .model import Model

__all__ = ["Comparison", "compare"]


@dataclass
class Comparison:
    """Operation counts (SymPy ``count_ops``) and seconds of both routes."""

    model: str
    params: int
    forward_ops: int
    backward_ops: int
    symbp_seconds: float
    naive_ops: int
    naive_params_done: int
    naive_seconds: float
    naive_error: str = ""

    @property
    def naive_complete(self) -> bool:
        return self.naive_params_done == self.params and not self.naive_error

    def __str__(self) -> str:
        both = self.forward_ops + self.backward_ops
        lines = [
            f"{self.model}: {self.params} parameters",
            f"  symbp forward pass   {self.forward_ops:>10} operations",
            f"  symbp backward pass  {self.backward_ops:>10} operations"
            f"   (derived in {self.symbp_seconds:.2f} s)",
        ]
        if self.naive_error:
            lines.append(f"  sympy.diff per parameter failed: {self.naive_error}")
        elif self.naive_complete:
            lines.append(f"  sympy.diff per parameter {self.naive_ops:>6} operations"
                         f"   ({self.naive_seconds:.2f} s), {self.naive_ops / max(both, 1):.1f}x "
                         "symbp's forward + backward")
        else:
            lines.append(f"  sympy.diff per parameter >= {self.naive_ops} operations after "
                         f"{self.naive_params_done} of {self.params} parameters "
                         f"({self.naive_seconds:.1f} s, stopped at the time budget)")
        return "\n".join(lines)


def compare(model: Model, budget: float = 30.0) -> Comparison:
    """Count both routes; the naive one stops once it has used ``budget`` seconds."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 <= budget < math.inf:
        raise SymbpError(f"compare's budget must be a number of seconds, 0 or more, not {budget!r}.")
    start = time.perf_counter()
    d = derive(model)
    symbp_seconds = time.perf_counter() - start
    forward = sum(sp.count_ops(s.expr) for s in d.forward)
    backward = sum(sp.count_ops(s.expr) for s in d.backward)
    naive, done, error = 0, 0, ""
    start = time.perf_counter()
    for p in model.params:
        if time.perf_counter() - start > budget:
            break
        try:
            gradient = sp.diff(model.loss, p)
        except Exception as exc:  # SymPy's own failures are the point of the comparison
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            break
        if gradient.has(sp.Derivative):
            error = f"the derivative by {p} came back unevaluated"
            break
        naive += sp.count_ops(gradient)
        done += 1
    return Comparison(model.name, len(model.params), forward, backward, symbp_seconds, naive,
                      done, time.perf_counter() - start, error)
