"""One measurement in its own process; prints one JSON line. Run by ``benchmarks.runner``.

``python -m benchmarks.worker JOB ARGS`` where the first argument of every job
is ``pinned`` (one thread everywhere: threadpoolctl for BLAS and OpenMP,
``torch.set_num_threads(1)``, XLA flags set before JAX is imported) or
``asis`` (the libraries' own thread settings). Jobs:

- ``steady MODE WORKLOAD REPEATS TARGET_S``: every contestant timed round-robin,
  and (pinned) the peak traced memory of one NumPy call.
- ``fresh MODE WORKLOAD CONTESTANT PATH``: seconds of the first three calls (module at PATH).
- ``derive MODE ROUTE HIDDEN``: one cold derivation (``symbp`` or ``naive``).
- ``digits MODE TRAINER EPOCHS``: digits training time and held-out accuracy.
"""

from __future__ import annotations

import json
import os
import sys

XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def pin(mode: str, frameworks: bool):
    """One thread for every library (before any of them is imported); the threadpoolctl guard.
    PyTorch is imported (to set its threads) only where ``frameworks`` run."""
    if mode != "pinned":
        return None
    os.environ["XLA_FLAGS"] = XLA_ONE_THREAD
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"  # libraries loaded later (by PyTorch or JAX) start with one thread
    if frameworks:
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:
            pass
    import numpy  # noqa: F401  (loads NumPy's BLAS: threadpoolctl limits only loaded libraries)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def blas_info() -> list[str]:
    from threadpoolctl import threadpool_info

    return [f"{i.get('internal_api')} {i.get('version') or ''} {i.get('architecture') or ''} "
            f"({i.get('num_threads')} threads)".replace("  ", " ") for i in threadpool_info()]


def contestants(w, module, params, data):
    """``{name: function of no arguments}``, the generated module first; skipped ones in ``notes``."""
    from . import expert, frameworks
    from .models import expert_inputs

    mine, args = expert.make(w), expert_inputs(w, data)
    found = {"symbp generated": lambda: module.loss_and_grad(params, **data),
             "expert NumPy": lambda: mine.loss_and_grad(params, *args)}
    notes = []
    for name, make in frameworks.FRAMEWORKS.items():
        try:
            found[name] = make(w, params, data)
        except ImportError as exc:
            notes.append(f"{name} skipped: {(exc.name or str(exc)).split('.')[0]} is not installed.")
    reference = module.loss_and_grad(params, **data)
    for name in list(found):
        if name != "symbp generated" and not frameworks.agrees(found[name](), reference):
            notes.append(f"{w.name}: {name} disagrees with the generated module.")
    return found, notes


def peak_bytes(func) -> int:
    """Peak bytes traced by tracemalloc during one call (NumPy reports its array data there)."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        result = func()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak


def steady(mode, names, repeats, target_s):
    """Per workload (names joined by ``|``): samples, notes, and (pinned) peak memory."""
    return [_steady(mode, name, repeats, target_s) for name in names.split("|")]


def _steady(mode, name, repeats, target_s):
    from . import expert
    from .models import expert_inputs, find, setup
    from .timing import interleaved

    w = find(name)
    module, params, data = setup(w)
    found, notes = contestants(w, module, params, data)
    samples = interleaved(found, repeats=int(repeats), target_s=float(target_s))
    out = {"workload": name, "samples": samples, "notes": notes, "blas": blas_info()}
    if mode == "pinned":
        args = expert_inputs(w, data)
        out["memory"] = {
            "symbp generated": peak_bytes(lambda: module.loss_and_grad(params, **data)),
            # a new expert: its workspace is allocated inside the measured call
            "expert NumPy": peak_bytes(lambda: expert.make(w).loss_and_grad(params, *args))}
    return out


def fresh(mode, name, contestant, path):
    """The first three calls in this process, which has imported NumPy and the emitted module
    (``symbp emit``) at ``path`` but not SymPy."""
    import importlib.util

    from . import expert
    from .models import expert_inputs, find, setup
    from .timing import now

    spec = importlib.util.spec_from_file_location("generated_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    w = find(name)
    module, params, data = setup(w, module=module)
    if contestant == "expert NumPy":
        mine, args = expert.make(w), expert_inputs(w, data)
        func = lambda: mine.loss_and_grad(params, *args)  # noqa: E731
    else:
        func = lambda: module.loss_and_grad(params, **data)  # noqa: E731
    times = []
    for _ in range(3):
        start = now()
        func()
        times.append(now() - start)
    return {"times": times}


def main(argv: list[str]) -> int:
    job, mode, *args = argv
    guard = pin(mode, frameworks=job in ("steady", "digits"))
    if job == "steady":
        out = steady(mode, *args)
    elif job == "fresh":
        out = fresh(mode, *args)
    elif job == "derive":
        from .coldderive import cold

        out = cold(*args)
    elif job == "digits":
        from .digits import train

        out = train(*args)
    else:
        raise SystemExit(f"unknown job {job!r}")
    if job in ("derive", "digits", "fresh"):
        out["blas"] = blas_info()  # what runner.one_thread checks of a pinned job
    del guard
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
