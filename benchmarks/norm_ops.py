"""The derived backward passes of layer norm, batch norm and attention against careful
hand-written ones: array operations counted in the source, and wall time.

``OMP_NUM_THREADS=1 python -m benchmarks.norm_ops`` prints a table (one BLAS thread: on a
shared machine threaded BLAS times are noise). An *array operation* is an arithmetic
operator, a negation or a call (``np.mean``, ``.sum``) in the statements after the loss;
``.T`` (a view) is free. Each model's loss is ``tr(Cᵀ Y)``, so the upstream adjoint of the
block is the data ``C`` and the backward is the block's alone.
"""

from __future__ import annotations

import ast
import inspect
import time

import numpy as np
import sympy as sp

import symbp as sb

__all__ = ["count_ops", "generated_backward_ops", "hand_backward_ops", "HAND", "models", "main"]


def count_ops(source: str) -> int:
    """The number of operators and calls in ``source`` (Python statements); a negative
    literal (``axis=-1``) is no operation."""
    tree = ast.parse(source)
    return sum(isinstance(n, (ast.BinOp, ast.Call)) or (
        isinstance(n, ast.UnaryOp) and not isinstance(n.operand, ast.Constant))
        for n in ast.walk(tree))


def generated_backward_ops(module) -> int:
    """The operations of the generated ``loss_and_grad`` after the loss ``L = ...``."""
    lines = inspect.getsource(module.loss_and_grad).splitlines()
    start = next(k for k, line in enumerate(lines) if line.strip().startswith("L = ")) + 1
    stop = next(k for k, line in enumerate(lines) if line.strip().startswith("grads = {"))
    return count_ops("\n".join(line.strip() for line in lines[start:stop]))


def hand_layer_norm(X, g, b, C, axis=-1, eps=1e-5):
    """Forward and backward of ``tr(Cᵀ (x̂ γ + β))`` written by hand (axis -1: layer norm,
    0: batch norm)."""
    mu = X.mean(axis=axis, keepdims=True)
    xc = X - mu
    r = 1 / np.sqrt((xc * xc).mean(axis=axis, keepdims=True) + eps)
    h = xc * r
    loss = np.vdot(C, h * g + b)
    # backward
    gh = C * g
    dX = r * (gh - gh.mean(axis=axis, keepdims=True) - h * (gh * h).mean(axis=axis, keepdims=True))
    return loss, {"X": dX, "g": (C * h).sum(axis=0, keepdims=True), "b": C.sum(axis=0, keepdims=True)}


def hand_attention(Q, K, V, C, causal=True):
    """Forward and backward of ``tr(Cᵀ softmax(Q Kᵀ/√d) V)`` written by hand."""
    scale = 1 / np.sqrt(Q.shape[1])
    S = Q @ K.T * scale
    if causal:
        S = np.where(np.tri(*S.shape, dtype=bool), S, -np.inf)
    E = np.exp(S - S.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    loss = np.vdot(C, P @ V)
    # backward
    dP = C @ V.T
    dS = P * (dP - (dP * P).sum(axis=1, keepdims=True)) * scale
    return loss, {"Q": dS @ K, "K": dS.T @ Q, "V": P.T @ C}


def hand_batch_norm(X, g, b, C):
    """Batch norm: the layer norm above over the rows."""
    return hand_layer_norm(X, g, b, C, axis=0)


HAND = {"layer_norm": hand_layer_norm, "batch_norm": hand_batch_norm, "attention": hand_attention}
HAND_FUNCTIONS = {**HAND, "batch_norm": hand_layer_norm}  # whose source holds the backward


def hand_backward_ops(name: str) -> int:
    """The operations of the hand-written function's backward: its lines after
    ``# backward``, the returned gradients included."""
    lines = inspect.getsource(HAND_FUNCTIONS[name]).splitlines()
    start = next(k for k, line in enumerate(lines) if line.strip() == "# backward") + 1
    body = [line.strip().removeprefix("return ") for line in lines[start:]]
    return count_ops("\n".join(body))


def models(T: int, d: int) -> dict:
    """The three blocks as symbp models with loss ``tr(Cᵀ Y)``."""
    X, C = sp.MatrixSymbol("X", T, d), sp.MatrixSymbol("C", T, d)
    g, b = sp.MatrixSymbol("g", 1, d), sp.MatrixSymbol("b", 1, d)
    Q, K, V = (sp.MatrixSymbol(s, T, d) for s in "QKV")
    out = {name: sb.Model(sp.Trace(C.T * f(X, g, b)), params=[X, g, b], name=name)
           for name, f in (("layer_norm", sb.layer_norm), ("batch_norm", sb.batch_norm))}
    out["attention"] = sb.Model(sp.Trace(C.T * sb.attention(Q, K, V, causal=True)),
                                params=[Q, K, V], name="attention")
    return out


def _seconds(fn, repeat: int = 30) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(T: int = 256, d: int = 64) -> list[tuple]:
    rng = np.random.default_rng(0)
    rows = []
    for name, model in models(T, d).items():
        module = sb.compile(sb.derive(model))
        params = {p.name: rng.normal(size=tuple(int(k) for k in p.shape)) for p in model.params}
        C = rng.normal(size=(T, d))
        ours, theirs = generated_backward_ops(module), hand_backward_ops(name)
        t_gen = _seconds(lambda m=module, p=params, c=C: m.loss_and_grad(p, C=c))
        t_hand = _seconds(lambda f=HAND[name], p=params, c=C: f(*p.values(), c))
        rows.append((name, ours, theirs, ours / theirs, t_gen, t_hand))
    print(f"T={T}, d={d}: generated vs hand-written backward (ops counted; best of 30 runs)")
    print("| block | generated ops | hand ops | ratio | generated ms | hand ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, ours, theirs, ratio, tg, th in rows:
        print(f"| {name} | {ours} | {theirs} | {ratio:.2f} | {1e3 * tg:.3f} | {1e3 * th:.3f} |")
    return rows


if __name__ == "__main__":
    main()
