"""Per-call time of an MLP's ``loss_and_grad`` in the PyTorch and JAX exports against the
NumPy module (same process, one thread each: threadpoolctl for BLAS, torch.set_num_threads,
XLA's single-threaded CPU code).

    python -m benchmarks.backends [--repeats 5]

Contestants, all float64 and all computing the derived forward and backward:
``numpy``: the generated NumPy module; ``torch``: the export's ``loss_and_grad`` (its derived
statements on tensors through array_api_compat.torch); ``torch autograd``: ``LossFunction`` under
``torch.autograd.grad`` (what a training loop or DDP runs); ``jax jit``: the export's
``loss_and_grad`` under ``jax.jit``; ``jax jit(grad)``: ``jax.grad`` of its custom_vjp loss,
jitted.
"""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks.models import Workload

WORKLOADS = [
    Workload("MLP relu 64-32-10", "mlp", 32, {"sizes": [64, 32, 10]}),
    Workload("MLP relu 784-256-256-10", "mlp", 128, {"sizes": [784, 256, 256, 10]}),
    Workload("MLP relu 784-256-256-10", "mlp", 1024, {"sizes": [784, 256, 256, 10]}),
]


def _one_thread() -> None:
    if "jax" in sys.modules:
        raise RuntimeError("benchmarks.backends must set XLA_FLAGS before JAX is imported")
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), "--xla_cpu_multi_thread_eigen=false",
                                        "intra_op_parallelism_threads=1"]).strip()


def contestants(w: Workload) -> dict:
    """Name -> a call of one contestant's loss_and_grad on the workload's batch."""
    import jax
    import torch

    import symbp as sb

    jax.config.update("jax_enable_x64", True)
    d = sb.derive(w.model())
    numpy_module, tm, jm = (sb.compile(d, target=t) for t in ("numpy", "torch", "jax"))
    params, data = numpy_module.init_params(rng=0), numpy_module.random_data(rng=1, samples=w.batch)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tdata = {k: torch.tensor(v) for k, v in data.items()}
    jparams = {k: jax.numpy.asarray(v) for k, v in params.items()}
    jdata = {k: jax.numpy.asarray(v) for k, v in data.items()}
    jit_lag, jit_grad = jax.jit(jm.loss_and_grad), jax.jit(jax.grad(jm.loss))
    weights = list(tparams.values())

    def autograd():
        return torch.autograd.grad(tm.loss(tparams, **tdata), weights)

    return {
        "numpy": lambda: numpy_module.loss_and_grad(params, **data),
        "torch": lambda: tm.loss_and_grad(tparams, **tdata),
        "torch autograd": autograd,
        "jax jit": lambda: jax.block_until_ready(jit_lag(jparams, **jdata)),
        "jax jit(grad)": lambda: jax.block_until_ready(jit_grad(jparams, **jdata)),
    }


def table(repeats: int) -> str:
    import torch
    from threadpoolctl import threadpool_limits

    from benchmarks.models import key
    from benchmarks.tables import seconds
    from benchmarks.timing import interleaved, median

    torch.set_num_threads(1)
    rows = []
    with threadpool_limits(limits=1):
        for w in WORKLOADS:
            times = {name: median(v) for name, v in interleaved(contestants(w), repeats).items()}
            rows.append((key(w), times))
    names = list(rows[0][1])
    lines = ["loss_and_grad per call, float64, one thread (ratio: time / NumPy module's time)", "",
             "| workload | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for label, times in rows:
        cells = [seconds(times[n]) + ("" if n == "numpy" else f" ({times[n] / times['numpy']:.2f}x)")
                 for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    _one_thread()
    print(table(args.repeats))


if __name__ == "__main__":
    main()
