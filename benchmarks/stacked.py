"""The stacked NumPy body of an unrolled RNN against the module's array-API body.

    python -m benchmarks.stacked [--repeats 15] [steps ...]      (default: 4 6 8 10 50)

For each number of steps, one Elman RNN (16-64-10, batch 64, float64, one BLAS thread) is
compiled twice: one module as emitted (NumPy arrays run ``_loss_and_grad_stacked``), one whose
``_one_float_type_of`` always says no, so that it runs the array-API body of ``loss_and_grad``.
Both are timed round-robin with the expert's NumPy (``benchmarks.expert``); the table shows
the medians and their ratios to the expert. A model whose sums have fewer than
``symbp.stacking.MIN_TERMS`` terms has no stacked body, and both columns time the same code.
"""

from __future__ import annotations

import argparse
import statistics

from threadpoolctl import threadpool_limits

from . import expert
from .models import Workload, expert_inputs, setup
from .timing import interleaved


def compare(steps: int, repeats: int) -> dict[str, float]:
    """Median seconds per call of the expert, the stacked body and the array-API body."""
    import symbp as sb

    w = Workload(f"RNN T={steps}", "rnn", 64, {"steps": steps, "inputs": 16, "hidden": 64, "classes": 10})
    stacked, generic = (sb.compile(sb.derive(w.model())) for _ in range(2))
    generic._one_float_type_of = lambda *arrays: False
    _, params, data = setup(w, module=stacked)
    mine, args = expert.make(w), expert_inputs(w, data)
    with threadpool_limits(1):
        samples = interleaved({"expert": lambda: mine.loss_and_grad(params, *args),
                               "stacked": lambda: stacked.loss_and_grad(params, **data),
                               "array API": lambda: generic.loss_and_grad(params, **data)}, repeats)
    return {name: statistics.median(times) for name, times in samples.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stacked", description=__doc__.split("\n")[0])
    parser.add_argument("steps", nargs="*", type=int, default=[4, 6, 8, 10, 50])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    print("| steps | expert NumPy | stacked body | array-API body | stacked / array API |")
    print("|---|---|---|---|---|")
    for steps in args.steps:
        t = compare(steps, args.repeats)
        cells = [f"{t[k] * 1e6:,.0f} µs ({t[k] / t['expert']:.2f}x)" for k in ("stacked", "array API")]
        print(f"| {steps} | {t['expert'] * 1e6:,.0f} µs | {cells[0]} | {cells[1]} "
              f"| {t['stacked'] / t['array API']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
