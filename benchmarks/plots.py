"""PNG plots of the three sections (matplotlib, optional)."""

from __future__ import annotations

from pathlib import Path

from . import derivation, gradcost, runtime


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_runtime(results, path: Path) -> Path:
    plt = _pyplot()
    names = [name for name in ["symbp generated", "PyTorch eager", "JAX jit", "autograd"]
             if any(name in r["ratios"] for r in results)]
    dtypes = sorted({r["dtype"] for r in results}, reverse=True)
    fig, axes = plt.subplots(1, len(dtypes), figsize=(6 * len(dtypes), 4), sharey=True, squeeze=False)
    width = 0.8 / len(names)
    for ax, dtype in zip(axes[0], dtypes, strict=True):
        rows = [r for r in results if r["dtype"] == dtype]
        for i, name in enumerate(names):
            xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(rows))]
            ax.bar(xs, [r["ratios"].get(name, float("nan")) for r in rows], width, label=name)
        ax.axhline(1.0, color="black", linewidth=1, label="NumPy by hand")
        ax.axhline(runtime.TARGET, color="red", linestyle="--", linewidth=1, label="target for symbp")
        ax.set_xticks(range(len(rows)), [f"{r['mlp']}\nbatch {r['batch']}" for r in rows])
        ax.set_yscale("log")
        ax.set_title(f"loss + gradients, {dtype}")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylabel("time / hand-written NumPy time (log)")
    axes[0][-1].legend(fontsize=8)
    return _save(fig, path)


def plot_derivation(scalar, deep, path: Path) -> Path:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    params = [r["params"] for r in scalar]
    left.plot(params, [r["symbp_median"]["total"] for r in scalar], "o-", label="symbp derive + compile")
    naive = [(r["params"], r["naive_median"]["total"]) for r in scalar if r["naive"]]
    if naive:
        left.plot(*zip(*naive, strict=True), "s-", label="sympy diff + cse + lambdify")
    left.axhline(derivation.TARGET_SCALAR, color="red", linestyle="--", linewidth=1,
                 label="target for 16-32-1")
    for r in scalar:
        left.annotate(r["net"], (r["params"], r["symbp_median"]["total"]), textcoords="offset points",
                      xytext=(4, -12), fontsize=8)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("parameters (scalar tanh nets)")
    left.set_ylabel("seconds (log)")
    left.set_title("scalar nets: symbp against the naive SymPy route")
    left.legend(fontsize=8)
    left.grid(which="both", alpha=0.3)

    depths = list(deep["deep"])
    for key, label in (("total", "derive + compile"), ("derive", "derive"), ("compile", "compile"),
                       ("build", "build with helpers")):
        right.plot(depths, [deep["deep"][d][key] for d in depths], "o-", label=label)
    plain = [(d, v) for d, (v, _) in deep["plain"].items() if v is not None]
    if plain:
        right.plot(*zip(*plain, strict=True), "x--", label="build with plain SymPy operators")
    right.set_xlabel("layers (width 8, sigmoid)")
    right.set_ylabel("seconds")
    right.set_title("deep MLPs: cost against depth")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    return _save(fig, path)


def plot_gradcost(results, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(results) + 1.2))
    names = [r["workload"] for r in results]
    values = [r["loss+grad"] / r["loss"] for r in results]
    colors = ["tab:red" if r["builtin"] and v > gradcost.TARGET else "tab:blue"
              for r, v in zip(results, values, strict=True)]
    ax.barh(names, values, color=colors)
    ax.axvline(gradcost.TARGET, color="red", linestyle="--", linewidth=1, label="target (built-in examples)")
    ax.invert_yaxis()
    ax.set_xlabel("(loss + grad time) / (loss time)")
    ax.set_title("gradient cost of the generated module")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path
