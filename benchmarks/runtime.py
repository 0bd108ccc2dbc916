"""Section 1: runtime of loss + all gradients for ReLU MLPs, symbp against its peers."""

from __future__ import annotations

import numpy as np

import symbp as sb
from symbp.examples.models import _relu_mlp

from . import peers
from .tables import Table, ratio, seconds, status
from .timing import interleaved, median, unstable

MLPS = [((784, 256, 256, 10), 128), ((64, 32, 10), 32), ((2, 4, 3), 4)]
DTYPES = [np.float64, np.float32]
TARGET = 1.10  # generated <= 1.10x hand-written NumPy
EARLIER = ("Earlier measurements here (float64): 784-256-256-10: PyTorch eager 1.9x, JAX jit 1.3x, "
           "autograd 4.6x the hand-written time; 64-32-10: PyTorch 6.3x, JAX 5.7x, autograd 12.8x.")


def label(sizes) -> str:
    return "-".join(map(str, sizes))


_modules: dict = {}


def generated_module(sizes):
    """The symbp module for a ReLU MLP of these layer sizes (derived once per process)."""
    if sizes not in _modules:
        model = _relu_mlp(list(sizes), f"mlp_{label(sizes).replace('-', '_')}", f"{label(sizes)} ReLU MLP")
        _modules[sizes] = sb.compile(sb.derive(model))
    return _modules[sizes]


def workload(sizes, batch, dtype):
    """``(module, params, data)`` for one MLP, batch size and dtype."""
    module = generated_module(sizes)
    return (module, module.init_params(rng=0, dtype=dtype),
            module.random_data(rng=1, n=batch, dtype=dtype))


def measure(repeats: int, target_s: float, mlps=MLPS, notes: list[str] | None = None):
    """One result dict per (MLP, dtype): median seconds and ratio to hand-written per contestant."""
    notes = [] if notes is None else notes
    results = []
    for sizes, batch in mlps:
        for dtype in DTYPES:
            module, params, data = workload(sizes, batch, dtype)
            contestants = {"NumPy by hand": peers.make_handwritten(params, data),
                           "symbp generated": peers.make_generated(module, params, data)}
            reference = contestants["symbp generated"]()
            for name, make in peers.PEERS.items():
                try:
                    contestants[name] = make(params, data)
                    contestants[name]()
                except ImportError as exc:
                    package = (exc.name or str(exc)).split(".")[0]
                    _note(notes, f"{name} skipped: {package} is not installed.")
                    contestants.pop(name, None)
                except Exception as exc:  # a broken optional peer is skipped, never fatal
                    _note(notes, f"{name} skipped on {label(sizes)} {np.dtype(dtype).name}: "
                          f"{type(exc).__name__}: {exc}")
                    contestants.pop(name, None)
            for name, func in contestants.items():
                ok, computed = peers.agrees(func(), reference, dtype)
                if not ok or computed != np.dtype(dtype).name:
                    notes.append(f"{label(sizes)} {np.dtype(dtype).name}: {name} disagrees with the "
                                 f"generated module (agrees={ok}, computed in {computed}).")
            samples = interleaved(contestants, repeats=repeats, target_s=target_s)
            times = {k: median(v) for k, v in samples.items()}
            base = times["NumPy by hand"]
            results.append({"mlp": label(sizes), "batch": batch, "dtype": np.dtype(dtype).name,
                            "times": times, "ratios": {k: v / base for k, v in times.items()},
                            "best": {k: min(v) for k, v in samples.items()},
                            "unstable": {k for k, v in samples.items() if unstable(v)}})
            print(f"  runtime {label(sizes)} {np.dtype(dtype).name}: "
                  + ", ".join(f"{k} {seconds(v)}" for k, v in times.items()), flush=True)
    return results


def _note(notes, text):
    if text not in notes:
        notes.append(text)


def tables(results, notes) -> list[Table]:
    names = ["NumPy by hand", "symbp generated", *peers.PEERS]
    t = Table("Runtime: loss + all gradients (median per call; ratio to hand-written NumPy)",
              ["MLP", "batch", "dtype", *names, f"target symbp <= {TARGET:.2f}x"])
    for r in results:
        cells = [f"{seconds(r['times'][k])} ({ratio(r['ratios'][k])})"
                 + (f" † best {seconds(r['best'][k])}" if k in r["unstable"] else "")
                 if k in r["times"] else "skipped" for k in names]
        t.add(r["mlp"], r["batch"], r["dtype"], *cells,
              status(r["ratios"]["symbp generated"] <= TARGET))
    t.notes = [*notes, "Every contestant's loss and gradients were checked once against the generated "
               "module's (np.allclose); PyTorch and JAX return their own tensors, untimed conversion.",
               EARLIER]
    if any(r["unstable"] for r in results):
        t.notes.append("† unstable: the median is over 1.5x the best sample, so the runs were disturbed "
                       "(typically another process on the shared cores; multi-threaded contestants "
                       "suffer most); the best sample is shown for reference.")
    return [t]


def targets(results) -> list[tuple[str, str, bool | None]]:
    return [(f"symbp generated <= {TARGET:.2f}x hand-written NumPy: {r['mlp']} {r['dtype']}",
             ratio(r["ratios"]["symbp generated"]), r["ratios"]["symbp generated"] <= TARGET)
            for r in results]
