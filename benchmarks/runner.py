"""Runs the measurements, each in fresh worker processes (``benchmarks.worker``), and collects them.

Every worker inherits this process's environment; ``pinned`` workers limit every library to
one thread, ``asis`` workers leave the threads as the libraries set them.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .models import emit, key

ROOT = Path(__file__).resolve().parent.parent
NUMPY = ("symbp generated", "expert NumPy")
NOISY = 0.10   # an IQR above 10% of the median marks the median as disturbed


class WorkerFailed(RuntimeError):
    pass


def call(args: list[str], timeout: float):
    """The JSON printed by ``python -m benchmarks.worker ARGS``."""
    try:
        done = subprocess.run([sys.executable, "-m", "benchmarks.worker", *map(str, args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise WorkerFailed(f"over {timeout:g} s") from exc
    if done.returncode != 0:
        raise WorkerFailed(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_thread(result: dict) -> dict:
    """A pinned worker's ``result``, once its report of the BLAS libraries says one thread each."""
    loose = [info for info in result.get("blas") or ["no BLAS reported"] if "(1 threads)" not in info]
    if loose:  # not a failed measurement: a broken harness, which stops the run
        raise RuntimeError(f"a pinned worker ran with {'; '.join(loose)}")
    return result


def stats(values: list[float]) -> dict:
    """Median, best, and the interquartile range relative to the median (the noise)."""
    med = statistics.median(values)
    if len(values) >= 4:
        q1, _, q3 = statistics.quantiles(values, n=4)
    else:
        q1, q3 = min(values), max(values)
    return {"median": med, "best": min(values), "iqr": (q3 - q1) / med, "n": len(values),
            "disturbed": (q3 - q1) / med > NOISY}


def steady(workloads, repeats: int, target_s: float, retries: int, modes=("pinned", "asis")) -> dict:
    """``{mode: {workload key: result}}``: one worker per mode times every workload; the pinned
    workloads whose NumPy medians are disturbed are timed again in a new worker, up to ``retries``
    times, and the least noisy run is kept (``tries`` counts the runs made)."""
    out = {mode: {} for mode in modes}
    for mode in modes:
        pending = list(workloads)
        for attempt in range(1 + (retries if mode == "pinned" else 0)):
            runs = call(["steady", mode, "|".join(key(w) for w in pending), repeats, target_s],
                        timeout=300 + 120 * len(pending))
            for run in runs:
                if mode == "pinned":
                    one_thread(run)
                _summarise(run)
                kept = out[mode].get(run["workload"])
                if kept is None or run["noise"] < kept["noise"]:
                    out[mode][run["workload"]] = kept = run
                kept["tries"] = attempt + 1
            pending = [w for w in pending if _disturbed(out[mode][key(w)])]
            print(f"  steady {mode}, run {attempt + 1}: " + "; ".join(
                f"{run['workload']}: {_ratio(run):.2f}x" for run in runs), flush=True)
            if not pending:
                break
    return out


def _summarise(run):
    samples = run.pop("samples")
    run["stats"] = {k: stats(v) for k, v in samples.items()}
    run["paired"] = stats([g / e for g, e in zip(*(samples[k] for k in NUMPY), strict=True)])
    run["noise"] = max(run["stats"][k]["iqr"] for k in NUMPY)


def _disturbed(run) -> bool:
    return any(run["stats"][k]["disturbed"] for k in NUMPY)


def _ratio(run) -> float:
    s = run["stats"]
    return s["symbp generated"]["median"] / s["expert NumPy"]["median"]


def fresh(workloads, rounds: int) -> dict:
    """``{workload key: {contestant: [median seconds of call 1, 2, 3]}}``; the contestants' fresh
    processes alternate, ``rounds`` each, pinned to one thread."""
    out = {}
    folder = tempfile.mkdtemp(prefix="symbp_bench_")
    for w in workloads:
        path = emit(w, folder)
        times = {name: [] for name in NUMPY}
        for r in range(rounds):
            for name in (NUMPY if r % 2 == 0 else NUMPY[::-1]):
                result = call(["fresh", "pinned", key(w), name, path], timeout=300)
                times[name].append(one_thread(result)["times"])
        out[key(w)] = {name: [statistics.median(t[i] for t in runs) for i in range(3)]
                       for name, runs in times.items()}
        out[key(w)]["rounds"] = rounds
        first = out[key(w)]
        print(f"  fresh {key(w)}: {sum(first[NUMPY[0]]) / sum(first[NUMPY[1]]):.2f}x", flush=True)
    return out


def derive(nets, rounds: int, budget_s: float) -> list[dict]:
    """Cold derivations of scalar nets, symbp and the naive route alternating in fresh processes;
    the naive route stops at the first net over ``budget_s``."""
    results, over = [], False
    for inputs, hidden in nets:
        r = {"net": f"{inputs}-{hidden}-1", "symbp": [], "naive": [], "state": "ok"}
        for _ in range(rounds):
            r["symbp"].append(one_thread(call(["derive", "pinned", "symbp", inputs, hidden], timeout=300)))
            if over:
                r["state"] = "skipped (a smaller net was over the budget)"
                continue
            try:
                r["naive"].append(one_thread(call(["derive", "pinned", "naive", inputs, hidden],
                                                  timeout=budget_s)))
            except WorkerFailed as exc:
                r["state"], over = f"stopped: {exc}", True
        results.append(r)
        print(f"  cold derivation {r['net']}: {r['state']}", flush=True)
    return results


def digits(epochs: int, rounds: int) -> dict:
    """``{trainer: [runs]}``, each run in a fresh process pinned to one thread, alternating."""
    out = {name: [] for name in ("symbp generated", "JAX jit", "PyTorch eager")}
    for r in range(rounds):
        for name in (list(out) if r % 2 == 0 else list(out)[::-1]):
            try:
                out[name].append(one_thread(call(["digits", "pinned", name, epochs], timeout=600)))
            except WorkerFailed as exc:
                out[name].append({"error": str(exc)})
    print("  digits: " + ", ".join(f"{k} {[round(x.get('seconds', -1), 2) for x in v]}"
                                   for k, v in out.items()), flush=True)
    return out
