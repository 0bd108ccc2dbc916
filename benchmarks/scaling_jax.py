"""Data-parallel scaling of the JAX export: one SGD step of an MLP with the batch sharded over
1, 2, 4 and 8 JAX host devices (time per step, speedup, efficiency).

    python -m benchmarks.scaling_jax [--batch 2048] [--sizes 784 256 256 10] [--repeats 5]

Host devices are forced with ``--xla_force_host_platform_device_count`` (before JAX is
imported: run this as its own process), each running XLA's CPU code on one thread, so the
table shows how the sharded step spreads over the machine's cores; beyond the core count
there is nothing left to gain.
"""

from __future__ import annotations

import argparse
import os
import sys

DEVICES = (1, 2, 4, 8)


def _configure() -> None:
    if "jax" in sys.modules:
        raise RuntimeError("benchmarks.scaling_jax must set XLA_FLAGS before JAX is imported")
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""),
                                        f"--xla_force_host_platform_device_count={max(DEVICES)}",
                                        "--xla_cpu_multi_thread_eigen=false",
                                        "intra_op_parallelism_threads=1"]).strip()


def step_times(sizes: list[int], batch: int, repeats: int) -> dict[int, float]:
    """Median seconds per jitted SGD step with the batch sharded over each device count."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    import symbp as sb
    from benchmarks.models import mlp
    from benchmarks.timing import interleaved, median

    jax.config.update("jax_enable_x64", True)
    d = sb.derive(mlp(sizes))
    exported, numpy_module = sb.compile(d, target="jax"), sb.compile(d)
    params, data = numpy_module.init_params(rng=0), numpy_module.random_data(rng=1, samples=batch)
    step = jax.jit(exported.sgd_step)
    contestants = {}
    for count in DEVICES:
        mesh = Mesh(np.array(jax.devices()[:count]), ("batch",))
        rows, everywhere = NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(mesh, PartitionSpec())
        placed = {k: jax.device_put(v, rows) for k, v in data.items()}
        weights = {k: jax.device_put(v, everywhere) for k, v in params.items()}
        contestants[count] = (lambda w=weights, x=placed: jax.block_until_ready(step(w, 0.1, **x)))
    samples = interleaved(contestants, repeats=repeats, target_s=0.2)
    return {count: median(values) for count, values in samples.items()}


def table(times: dict[int, float], sizes: list[int], batch: int) -> str:
    from benchmarks.tables import seconds

    base = times[1]
    lines = [f"JAX export, MLP {'-'.join(map(str, sizes))} relu, batch {batch}, float64, "
             f"one SGD step (jit), {os.cpu_count()} CPU cores",
             "", "| host devices | time per step | speedup | efficiency |", "| ---: | ---: | ---: | ---: |"]
    for count, value in times.items():
        speedup = base / value
        lines.append(f"| {count} | {seconds(value)} | {speedup:.2f}x | {speedup / count:.0%} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--sizes", type=int, nargs="+", default=[784, 256, 256, 10])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    _configure()
    print(table(step_times(args.sizes, args.batch, args.repeats), args.sizes, args.batch))


if __name__ == "__main__":
    main()
