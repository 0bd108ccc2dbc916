"""Same-process A/B of the generated modules: an old commit's generated/*.py against the
modules this checkout generates now, on NumPy with one BLAS thread.

    python -m benchmarks.ab_generated [--old 7248063] [--repeats 30] [--function loss_and_grad]
                                      [--samples 64] [example ...]

Each example's old module is read with ``git show OLD:generated/NAME.py``; the new one is
generated in memory from this checkout (``symbp.compile_module``), so the comparison needs
no ``symbp regenerate``. Both run on the same parameters and data (``init_params(rng=0)``,
``random_data(rng=1)``), timed round-robin (``timing.interleaved``); the table shows the
medians in microseconds per call, the difference and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import types

from threadpoolctl import threadpool_limits

from symbp import derive
from symbp.codegen import compile_module
from symbp.examples import EXAMPLES

from .timing import interleaved


def old_module(commit: str, name: str) -> types.ModuleType | None:
    """``generated/NAME.py`` at ``commit``, imported in memory (None where it did not exist)."""
    shown = subprocess.run(["git", "show", f"{commit}:generated/{name}.py"],
                           capture_output=True, text=True)
    if shown.returncode:
        return None
    module = types.ModuleType(f"old_{name}")
    exec(compile(shown.stdout, f"<{commit}:generated/{name}.py>", "exec"), module.__dict__)  # noqa: S102
    return module


def call(module: types.ModuleType, function: str, samples: int):
    """A no-argument call of ``module.function`` on the example's fixed parameters and data."""
    params = module.init_params(rng=0, **{dim: 8 for dim in module.DIMS if dim not in module.BATCHED})
    data = module.random_data(rng=1, samples=samples)
    if function == "predict":
        data = {name: data[name] for name in module.DATA if name not in module.OUTPUTS} \
            if hasattr(module, "predict") else data
    func = getattr(module, function)
    return lambda: func(params, **data)


def compare(name: str, args) -> tuple[float, float] | None:
    old = old_module(args.old, name)
    if old is None or not hasattr(old, args.function):
        return None
    new = compile_module(derive(EXAMPLES[name]()))
    samples = interleaved({"old": call(old, args.function, args.samples),
                           "new": call(new, args.function, args.samples)}, args.repeats)
    return statistics.median(samples["old"]) * 1e6, statistics.median(samples["new"]) * 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", nargs="*", default=[n for n in EXAMPLES if n != "tanh_trace"])
    parser.add_argument("--old", default="7248063")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--function", default="loss_and_grad")
    parser.add_argument("--samples", type=int, default=64)
    args = parser.parse_args(argv)
    print(f"{args.function}, NumPy, 1 BLAS thread, median µs per call over {args.repeats} samples")
    print(f"{'example':<20}{'old':>10}{'new':>10}{'new-old':>10}{'ratio':>8}")
    with threadpool_limits(limits=1):
        for name in args.examples:
            result = compare(name, args)
            if result is None:
                print(f"{name:<20}{'(not at ' + args.old + ')':>38}")
                continue
            old, new = result
            print(f"{name:<20}{old:>10.1f}{new:>10.1f}{new - old:>+10.1f}{new / old:>8.3f}")


if __name__ == "__main__":
    main()
