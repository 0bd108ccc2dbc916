"""Section 3: the cost of the gradient, (loss + grad time) / (loss time), of generated modules."""

from __future__ import annotations

import symbp as sb
from symbp.examples import EXAMPLES

from . import runtime
from .tables import Table, ratio, seconds, status
from .timing import interleaved, median

TARGET = 3.0  # on every built-in example


def _ratio(module, params, data, repeats, target_s):
    samples = interleaved({"loss": lambda: module.loss(params, **data),
                           "loss+grad": lambda: module.loss_and_grad(params, **data)},
                          repeats=repeats, target_s=target_s)
    return median(samples["loss"]), median(samples["loss+grad"])


def measure(repeats: int, target_s: float, mlps=runtime.MLPS):
    results = []
    for name, build in EXAMPLES.items():
        module = sb.compile(sb.derive(build()))
        params = module.init_params(rng=0, **{dim: 64 for dim in module.DIMS})
        data = module.random_data(rng=1)
        loss, both = _ratio(module, params, data, repeats, target_s)
        results.append({"workload": name, "builtin": True, "loss": loss, "loss+grad": both})
        print(f"  gradient cost {name}: {both / loss:.2f}", flush=True)
    for sizes, batch in mlps:
        module, params, data = runtime.workload(sizes, batch, runtime.DTYPES[0])
        loss, both = _ratio(module, params, data, repeats, target_s)
        results.append({"workload": f"MLP {runtime.label(sizes)}, batch {batch}", "builtin": False,
                        "loss": loss, "loss+grad": both})
        print(f"  gradient cost {runtime.label(sizes)}: {both / loss:.2f}", flush=True)
    return results


def tables(results) -> list[Table]:
    t = Table("Gradient cost of the generated module: (loss + grad) / loss, float64",
              ["model", "loss", "loss + grad", "ratio", f"target <= {TARGET:g} (built-in examples)"])
    for r in results:
        value = r["loss+grad"] / r["loss"]
        t.add(r["workload"], seconds(r["loss"]), seconds(r["loss+grad"]), ratio(value),
              status(value <= TARGET) if r["builtin"] else "-")
    t.notes = ["Built-in examples: `init_params(rng=0, n=64)` and `random_data(rng=1)` (64 samples); "
               "scalar models take arrays of 64 samples and scalar parameters.",
               "The MLPs are section 1's workloads; their ratio is reported, not targeted.",
               "Loss and loss + grad run alternately; median per call."]
    return [t]


def targets(results) -> list[tuple[str, str, bool | None]]:
    builtin = [r for r in results if r["builtin"]]
    ratios = {r["workload"]: r["loss+grad"] / r["loss"] for r in builtin}
    worst = max(ratios, key=ratios.get)
    missed = [f"{name} {ratio(value)}" for name, value in ratios.items() if value > TARGET]
    shown = f"worst {worst} {ratio(ratios[worst])}" + (f"; over: {', '.join(missed)}" if missed else "")
    return [(f"gradient cost <= {TARGET:g} on every built-in example", shown, not missed)]
