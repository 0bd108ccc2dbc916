"""The same generated module on a GPU (CuPy, PyTorch CUDA, JAX) against NumPy on the CPU.

Run on a machine with a GPU: ``python -m benchmarks.gpu [--out gpu.md]``. For each workload it
compiles the generated module once, draws parameters and a batch, and times one
``loss_and_grad`` call (median of repeats after warm-up calls, the device synchronised before
the clock stops) on NumPy (the CPU, as-is threads), CuPy, torch on CUDA and JAX on the GPU
(``jax.jit`` of the module's function), in float32 and float64. Every GPU result is first
compared with NumPy's (loss and every gradient). Where no GPU is present it says so and
measures nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

WORKLOADS = [  # (title, example or benchmark model, batch)
    ("MLP relu 784-256-256-10", "mlp784", 1024),
    ("MLP relu 784-256-256-10", "mlp784", 8192),
    ("digits_cnn (conv 1->32 3x3, pool 2, dense 10)", "digits_cnn", 1024),
]


def _model(name):
    from symbp.examples import example

    if name == "mlp784":
        from benchmarks.models import mlp
        return mlp([784, 256, 256, 10])
    return example(name)


def _backends():
    """``name -> (to_array(np) -> array, synchronise(), to_numpy(array))`` for the GPU libraries
    present."""
    out = {}
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount():
            out["cupy"] = (cupy.asarray, lambda: cupy.cuda.Device().synchronize(), cupy.asnumpy)
    except Exception:  # noqa: BLE001  (no CuPy, or no device: the backend is absent)
        pass
    try:
        import torch
        if torch.cuda.is_available():
            out["torch.cuda"] = (lambda a: torch.as_tensor(a, device="cuda"), torch.cuda.synchronize,
                                 lambda t: t.detach().cpu().numpy())
    except ImportError:
        pass
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_default_matmul_precision", "highest")  # no TF32: float32 is float32
        if any(d.platform == "gpu" for d in jax.devices()):
            gpu = [d for d in jax.devices() if d.platform == "gpu"][0]
            out["jax.jit (gpu)"] = (lambda a: jax.device_put(a, gpu), lambda: None, np.asarray)
    except (ImportError, RuntimeError):
        pass
    return out


def _time(call, sync, repeats):
    for _ in range(3):
        call()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _block(result):
    """Wait for a lazy (JAX) result: its loss and gradients as they come back."""
    loss, grads = result
    for value in (loss, *grads.values()):
        if hasattr(value, "block_until_ready"):
            value.block_until_ready()
    return result


def _caller(fn, label, params, data):
    """A no-argument call of ``fn`` on the arrays given (jitted for JAX, blocking on the result)."""
    if label.startswith("jax"):
        import jax
        jitted = jax.jit(lambda p, x: fn(p, **x))
        return lambda: _block(jitted(params, data))
    return lambda: fn(params, **data)


def _agrees(result, want, back, tol) -> bool:
    (loss, grads), (want_loss, want_grads) = result, want
    scale = max(1.0, abs(float(want_loss)))
    return abs(float(back(loss)) - float(want_loss)) <= tol * scale and all(
        np.allclose(back(grads[k]), want_grads[k], rtol=tol, atol=tol * 1e-2) for k in want_grads)


def _row(module, title, batch, dtype, backends, repeats) -> dict:
    params = {k: v.astype(dtype) for k, v in module.init_params(rng=0).items()}
    data = {k: (v.astype(dtype) if v.dtype.kind == "f" else v)
            for k, v in module.random_data(rng=1, samples=batch).items()}
    base, want = _time(_caller(module.loss_and_grad, "numpy", params, data), lambda: None, repeats)
    row = {"workload": f"{title}, batch {batch}", "dtype": np.dtype(dtype).name, "numpy (cpu)": base}
    tol = 1e-4 if dtype == np.float32 else 1e-9
    for label, (to, sync, back) in backends.items():
        arrays = ({k: to(v) for k, v in params.items()}, {k: to(v) for k, v in data.items()})
        try:
            seconds, result = _time(_caller(module.loss_and_grad, label, *arrays), sync, repeats)
        except Exception as exc:  # noqa: BLE001  (reported in the table, not raised)
            row[label] = f"fails: {type(exc).__name__}: {str(exc)[:60]}"
            continue
        row[label] = seconds if _agrees(result, want, back, tol) else "wrong result"
    return row


def measure(repeats=20):
    import symbp as sb

    backends = _backends()
    if not backends:
        return None
    rows = []
    for title, name, batch in WORKLOADS:
        module = sb.compile(sb.derive(_model(name)))
        for dtype in (np.float32, np.float64):
            rows.append(_row(module, title, batch, dtype, backends, repeats))
    return rows, list(backends)


def table(rows, names) -> str:
    head = ["workload", "dtype", "numpy (cpu)", *names]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [row["workload"], row["dtype"], f"{row['numpy (cpu)'] * 1e3:.2f} ms"]
        for name in names:
            t = row[name]
            cells.append(t if isinstance(t, str) else f"{t * 1e3:.2f} ms ({row['numpy (cpu)'] / t:.1f}x)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the table (Markdown) to this file")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    measured = measure(args.repeats)
    if measured is None:
        print("No GPU library with a device was found (CuPy, torch CUDA, JAX GPU): nothing measured.")
        return 0
    text = ("Per-call `loss_and_grad` of the same generated module; in brackets the speed-up "
            "over NumPy on this machine's CPU.\n\n" + table(*measured))
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
