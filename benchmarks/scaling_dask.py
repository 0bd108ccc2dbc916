"""``python -m benchmarks.scaling_dask [--rows N] [--repeats K]``: how the generated module's
full-batch ``loss_and_grad`` scales on a ``dask.distributed`` LocalCluster of 1 and 2 worker
processes (one thread each), against NumPy in this process on the same rows.

Prints a table: seconds per full-batch call (median of the repeats, after one warm-up call),
the speed-up over one worker and the parallel efficiency (speed-up / workers). On a machine
with fewer free cores than workers, the efficiency says so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

WORKERS = (1, 2)


def _teacher_data():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    from dask_training import teacher_data
    return teacher_data


def _median_seconds(call, repeats: int) -> float:
    call()  # warm-up: imports on the workers, the first graph
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(rows: int, chunks: int, repeats: int) -> list[tuple[str, int, float]]:
    """``(engine, workers, seconds)`` for NumPy and each cluster size."""
    import dask
    from dask.distributed import Client, LocalCluster

    import symbp as sb
    from symbp.examples import example

    mod = sb.compile(sb.derive(example("mlp")))
    params = mod.init_params(rng=0)
    lazy = _teacher_data()(rows, max(1, rows // chunks))
    local = {name: value.compute(scheduler="threads") for name, value in lazy.items()}
    rows_out = [("NumPy, this process", 1,
                 _median_seconds(lambda: mod.loss_and_grad(params, **local), repeats))]
    for workers in WORKERS:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            data = dict(zip(lazy, client.persist(list(lazy.values())), strict=True))
            seconds = _median_seconds(lambda data=data: dask.compute(*mod.loss_and_grad(
                params, **data)), repeats)
            rows_out.append((f"Dask, {workers} worker process{'es' if workers > 1 else ''}",
                             workers, seconds))
    return rows_out


def table(results, rows: int, chunks: int) -> str:
    """The measurements as a Markdown table with speed-up and efficiency over one worker."""
    one = next(seconds for engine, workers, seconds in results if engine.startswith("Dask")
               and workers == 1)
    lines = [f"Full-batch loss_and_grad, 4-8-3 MLP, {rows} rows in {chunks} chunks",
             "", "| engine | workers | seconds per call | speed-up | efficiency |",
             "| --- | --- | --- | --- | --- |"]
    for engine, workers, seconds in results:
        if engine.startswith("Dask"):
            speedup = one / seconds
            lines.append(f"| {engine} | {workers} | {seconds:.3f} | {speedup:.2f}x | "
                         f"{speedup / workers:.0%} |")
        else:
            lines.append(f"| {engine} | - | {seconds:.3f} | - | - |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling_dask",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if min(args.rows, args.chunks, args.repeats) < 1:
        print("--rows, --chunks and --repeats must be positive integers.", file=sys.stderr)
        return 2
    print(table(measure(args.rows, args.chunks, args.repeats), args.rows, args.chunks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
