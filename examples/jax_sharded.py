"""Data-parallel training of a symbp model with JAX: the batch sharded over several devices.

The JAX export (``sb.emit(d, path, target="jax")``) runs its derived forward and backward
under ``jax.jit``; with the data placed by a ``NamedSharding`` along the batch axis, XLA splits
every statement over the devices and sums the gradient's batch reductions across them. On a
CPU, ``--xla_force_host_platform_device_count`` makes JAX show several host devices (it must
be set before JAX is imported, as this script does).

    python examples/jax_sharded.py --devices 8 --samples 256 --steps 20

It checks that the sharded ``loss_and_grad`` equals the single-device one, and that the
data-parallel SGD loop ends where single-process training (the NumPy module) ends.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _force_host_devices(count: int) -> None:
    flag = f"--xla_force_host_platform_device_count={count}"
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()
    if "jax" in sys.modules:
        raise RuntimeError("set the host device count before JAX is imported")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--samples", type=int, default=256, help="batch rows (a multiple of --devices)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--json", action="store_true", help="print a last line RESULT {...}")
    args = parser.parse_args(argv)
    _force_host_devices(max(args.devices, 8))

    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    import symbp as sb
    from symbp.examples import example

    jax.config.update("jax_enable_x64", True)
    d = sb.derive(example("mlp"))
    exported, single = sb.compile(d, target="jax"), sb.compile(d)  # JAX export, NumPy module
    params = single.init_params(rng=0)
    data = single.random_data(rng=1, samples=args.samples)

    mesh = Mesh(np.array(jax.devices()[:args.devices]), ("batch",))
    rows, everywhere = NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(mesh, PartitionSpec())
    sharded = {k: jax.device_put(v, rows) for k, v in data.items()}  # rows split over devices
    replicated = {k: jax.device_put(v, everywhere) for k, v in params.items()}
    print(f"{args.devices} devices; X is split as {sharded['X'].sharding.spec} into "
          f"{len(sharded['X'].addressable_shards)} shards of {sharded['X'].addressable_shards[0].data.shape}")

    loss_and_grad = jax.jit(exported.loss_and_grad)
    value, grads = loss_and_grad(replicated, **sharded)
    one_value, one_grads = loss_and_grad(params, **data)  # NumPy inputs: one device
    grad_gap = max(float(np.max(np.abs(np.asarray(grads[k]) - np.asarray(one_grads[k])))) for k in grads)
    print(f"loss_and_grad sharded vs one device: loss {float(value):.12f} vs {float(one_value):.12f}, "
          f"largest gradient difference {grad_gap:.1e}")

    custom = jax.jit(jax.grad(exported.loss))(replicated, **sharded)  # through the custom VJP
    grad_gap = max(grad_gap, *(float(np.max(np.abs(np.asarray(custom[k]) - one_grads[k]))) for k in custom))
    print(f"jax.grad of the custom_vjp loss, sharded: largest difference {grad_gap:.1e}")

    step = jax.jit(exported.sgd_step)
    trained, reference = replicated, {k: v.copy() for k, v in params.items()}
    for k in range(1, args.steps + 1):
        trained, batch_loss = step(trained, args.lr, **sharded)
        single.train_step(reference, {}, lr=args.lr, **data)  # the same step in one process
        if k == 1 or k % max(1, args.steps // 5) == 0 or k == args.steps:
            print(f"step {k:>3}/{args.steps}  loss {float(batch_loss):.6f}")
    train_gap = max(float(np.max(np.abs(np.asarray(trained[k]) - reference[k]))) for k in reference)
    print(f"after {args.steps} data-parallel SGD steps: largest parameter difference from "
          f"single-process NumPy training {train_gap:.1e}")
    result = {"devices": args.devices, "shards": len(sharded["X"].addressable_shards),
              "loss_gap": abs(float(value) - float(one_value)), "grad_gap": grad_gap,
              "train_gap": train_gap}
    if args.json:
        print("RESULT " + json.dumps(result))
    return result


if __name__ == "__main__":
    main()
