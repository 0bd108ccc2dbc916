"""Train a generated module on a dataset too big for one call, with Dask.

The data live in chunks on the workers of a ``dask.distributed`` cluster (here a
``LocalCluster`` of worker processes on this machine; pass ``--scheduler`` to use a real
one). The generated ``loss_and_grad`` takes the chunked Dask arrays as they are and returns
lazy results: every worker computes the forward and backward pass of its rows and the sums
over rows are combined into the full-batch loss and gradients. The parameters are small;
they stay NumPy arrays on this process, which applies plain gradient descent.

    python examples/dask_training.py                     # 10^6 rows, 2 worker processes
    python examples/dask_training.py --rows 20000 --steps 5
"""

from __future__ import annotations

import argparse
import time

import dask
import dask.array as da
import numpy as np

import symbp as sb
from symbp.examples import example


def teacher_data(rows: int, chunk: int, seed: int = 0) -> dict:
    """``X`` (rows x 4, normal) and one-hot labels ``Y`` (rows x 3) from a fixed random linear
    teacher, built chunk by chunk on the workers (nothing of this size passes through here)."""
    rng = np.random.default_rng(seed)
    teacher = rng.normal(size=(4, 3))
    X = da.random.default_rng(seed).normal(size=(rows, 4), chunks=(chunk, 4))
    scores = X @ teacher
    Y = (scores == scores.max(axis=1, keepdims=True)).astype(np.float64)
    return {"X": X, "Y": Y}


def full_batch(mod, params: dict, data: dict) -> tuple[float, dict]:
    """The loss and gradients over every row, computed on the cluster."""
    value, grads = dask.compute(*mod.loss_and_grad(params, **data))
    return float(value), {name: np.asarray(g) for name, g in grads.items()}


def train(mod, params: dict, data: dict, steps: int, lr: float, log=print) -> list[float]:
    """Full-batch gradient descent; returns the loss before each step."""
    history = []
    for step in range(1, steps + 1):
        start = time.perf_counter()
        value, grads = full_batch(mod, params, data)
        params.update({name: params[name] - lr * g for name, g in grads.items()})
        history.append(value)
        log(f"step {step:>{len(str(steps))}}/{steps}  loss {value:.5f}  "
            f"{time.perf_counter() - start:.2f}s")
    return history


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=None, help="rows per chunk (rows / 8)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the cluster")
    parser.add_argument("--scheduler", default=None, help="address of an existing cluster")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1.0)
    args = parser.parse_args(argv)
    from dask.distributed import Client, LocalCluster

    mod = sb.compile(sb.derive(example("mlp")))
    params = mod.init_params(rng=0)
    chunk = args.chunk or max(1, args.rows // 8)
    cluster = None if args.scheduler else LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                                       processes=True, dashboard_address=None)
    with Client(args.scheduler or cluster) as client:
        data = teacher_data(args.rows, chunk)
        data = dict(zip(data, client.persist(list(data.values())), strict=True))  # computed once, kept there
        print(f"{args.rows} rows in chunks of {chunk} on {len(client.scheduler_info()['workers'])} "
              f"workers; the 4-8-3 MLP, full-batch gradient descent, lr {args.lr}")
        history = train(mod, params, data, args.steps, args.lr)
        print(f"loss {history[0]:.5f} -> {history[-1]:.5f}")
    if cluster is not None:
        cluster.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
