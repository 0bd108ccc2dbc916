"""Data-parallel training of a symbp model with PyTorch's DistributedDataParallel.

The PyTorch export (``sb.emit(d, path, target="torch")``) is an ``nn.Module`` whose loss is a
``torch.autograd.Function`` with the derived backward, so DistributedDataParallel averages the
derived gradients across processes like any other module's. This script starts
``--processes`` CPU processes (gloo backend, rendezvous on 127.0.0.1 at a free port), gives
each an equal slice of the batch, trains with ``torch.optim.SGD``, and checks that the result
equals one process trained on the whole batch.

    python examples/torch_ddp.py --processes 2 --samples 256 --steps 20
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import tempfile
from pathlib import Path


def _load(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(module, data, steps: int, lr: float, rank: int = 0, world: int = 1, log=print):
    """SGD on ``module.Net(rng=0)`` (wrapped in DDP when ``world > 1``); the final parameters."""
    import torch

    net = module.Net(rng=0)
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    rows = data["X"].shape[0] // world
    mine = {k: v[rank * rows:(rank + 1) * rows] for k, v in data.items()}  # this process's slice
    optimiser = torch.optim.SGD(model.parameters(), lr=lr)
    for k in range(1, steps + 1):
        optimiser.zero_grad()
        loss = model(**mine)
        loss.backward()  # the derived backward; DDP all-reduces (averages) the gradients
        optimiser.step()
        if log and (k == 1 or k % max(1, steps // 5) == 0 or k == steps):
            log(f"[rank {rank}/{world}] step {k:>3}/{steps}  local loss {loss.item():.6f}")
    return {name: p.detach().clone() for name, p in net.params.items()}


def _worker(rank: int, world: int, port: int, path: str, batch: str, steps: int, lr: float,
            out: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        module = _load(path)
        params = train(module, torch.load(batch), steps, lr, rank, world, _say)
        if rank == 0:
            torch.save(params, out)
        dist.barrier()  # both ranks done before either tears gloo down (else a rank may abort)
    finally:
        dist.destroy_process_group()


def _say(line: str) -> None:
    print(line, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--samples", type=int, default=256, help="batch rows (a multiple of --processes)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--json", action="store_true", help="print a last line RESULT {...}")
    args = parser.parse_args(argv)

    import torch
    import torch.multiprocessing as mp

    import symbp as sb
    from symbp.examples import example

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        d = sb.derive(example("mlp"))
        path = str(sb.emit(d, Path(folder) / "mlp_torch.py", target="torch"))
        data = sb.compile(d).random_data(rng=1, samples=args.samples)  # the NumPy module's
        batch, out = str(Path(folder) / "batch.pt"), str(Path(folder) / "trained.pt")
        torch.save({k: torch.as_tensor(v) for k, v in data.items()}, batch)
        _say(f"DDP over {args.processes} processes (gloo), {args.samples // args.processes} rows each")
        mp.spawn(_worker, args=(args.processes, _free_port(), path, batch, args.steps, args.lr, out),
                 nprocs=args.processes, join=True)
        distributed = torch.load(out)
        _say("one process, the whole batch:")
        alone = train(_load(path), torch.load(batch), args.steps, args.lr, log=_say)
    gap = max(float((distributed[k] - alone[k]).abs().max()) for k in alone)
    print(f"after {args.steps} steps: largest parameter difference DDP vs one process {gap:.1e}")
    result = {"processes": args.processes, "train_gap": gap}
    if args.json:
        print("RESULT " + json.dumps(result))
    return result


if __name__ == "__main__":
    main()
