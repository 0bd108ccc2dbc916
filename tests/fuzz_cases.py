"""A seeded generator of random shape-typed SymPy matrix losses for the fuzz test.

``make_case(seed)`` draws a matrix expression (``fuzz_builder``) and wraps it in a loss:
``Trace(E.T*E)/n``, ``Trace(R.T*E)``, softmax cross-entropy with data labels, ``mse``, the sum
of all entries ``𝟙ᵀ E 𝟙``, ``Trace(E)``, elements, or scalars built from traces and elements;
the parameters are a random nonempty subset of its matrices (sometimes with scalars).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import sympy as sp
from fuzz_builder import ONE, Builder, N

import symbp as sb


@dataclass
class Case:
    """One generated loss; ``labels`` are data whose rows must sum to one.

    ``refused`` is symbp's error where one of its builders (``sb.mse``, ...) refused the
    valid expression it was given; ``loss`` is then ``None``.
    """

    seed: int
    loss: sp.Expr | None
    params: tuple
    labels: tuple
    n: int
    tags: Counter = field(default_factory=Counter)
    refused: str = ""
    refused_call: str = ""


def _shape(rng):
    rows = rng.choice([N, N, N, 1, 2, 3])
    return rows, rows if rng.random() < 0.25 else rng.choice([1, 2, 3, 3, N])


def _data(b, prefix, shape):
    sym = sp.MatrixSymbol(f"{prefix}{b.count}", *shape)
    b.count += 1
    return sym


def _mean_square(b, e, shape):
    rows, cols = shape
    scale = N if N in shape else rows * cols
    return sp.Trace(e.T * e) / scale


def _call(builder, prediction, target):
    """``builder(prediction, target)``; its refusal carries the call as source text."""
    try:
        return builder(prediction, target)
    except sb.SymbpError as exc:
        exc.fuzz_call = f"sb.{builder.__name__}({sp.srepr(prediction)}, {sp.srepr(target)})"
        raise


def _softmax_ce(b, e, shape):
    labels = _data(b, "Y", shape)
    b.labels.append(labels)
    return _call(sb.softmax_cross_entropy, e, labels)


def _sum_all(b, e, shape):
    """The sum of all entries, ``𝟙ᵀ E 𝟙``: ones on both sides, as a 1 x 1 matrix or its trace."""
    total = ONE(1, shape[0]) * e * ONE(shape[1], 1)
    return sp.Trace(total) if b.rng.random() < 0.5 else total


LOSSES = {
    "mean_square": (3, _mean_square, lambda s: True),
    "readout": (2, lambda b, e, s: sp.Trace(_data(b, "R", s).T * e), lambda s: True),
    "softmax_ce": (2, _softmax_ce, lambda s: s[1] != 1),
    "mse": (1, lambda b, e, s: _call(sb.mse, e, _data(b, "T", s)), lambda s: True),
    "sum_all": (1.5, _sum_all, lambda s: True),
    "trace": (1, lambda b, e, s: sp.Trace(e), lambda s: s[0] == s[1]),
}


def _loss(b: Builder):
    r = b.rng.random()
    if r < 0.1:
        b.tags["loss_element"] += 1
        return b.element(2) ** 2 + b.element(1)
    if r < 0.16:
        b.tags["loss_scalar"] += 1
        return b.scalar(3) ** 2
    shape = _shape(b.rng)
    names = [k for k, (_, _, ok) in LOSSES.items() if ok(shape)]
    name = b.rng.choices(names, weights=[LOSSES[k][0] for k in names])[0]
    b.tags["loss_" + name] += 1
    loss = LOSSES[name][1](b, b.matrix(shape, b.rng.choice([2, 3, 3, 4])), shape)
    if b.rng.random() < 0.15:
        b.tags["loss_plus_scalar"] += 1
        loss = (sp.Trace(loss) if loss.is_Matrix else loss) + b.coefficient(2) * b.scalar(2)
    return loss


def _matrix_symbols(expr):
    return sorted((s for s in expr.free_symbols if isinstance(s, sp.MatrixSymbol)), key=str)


def make_case(seed: int) -> Case:
    """The case of ``seed``: a loss SymPy accepts, params a nonempty subset of its matrices."""
    rng = random.Random(seed)
    retries = 0
    while True:
        b = Builder(rng)
        n = rng.choice([4, 4, 5, 5, 5, 1, 2])
        try:
            loss = _loss(b)
        except sb.SymbpError as exc:  # a symbp builder refused a valid expression
            return Case(seed, None, (), (), n, b.tags, refused=str(exc),
                        refused_call=getattr(exc, "fuzz_call", ""))
        except (ValueError, TypeError, NotImplementedError) as exc:  # SymPy refused to build it
            retries += 1
            if retries > 50:
                raise RuntimeError(f"seed {seed}: no buildable expression ({exc})") from exc
            continue
        candidates = [s for s in _matrix_symbols(loss) if s not in b.labels]
        if b.scalars and rng.random() < 0.2:
            b.tags["scalar_params"] += 1
            candidates += sorted((s for s in b.scalars if s in loss.free_symbols), key=str)
        if not candidates or getattr(loss, "is_Matrix", False) and loss.shape != (1, 1):
            retries += 1
            continue
        params = tuple(sorted(rng.sample(candidates, rng.randint(1, len(candidates))), key=str))
        b.tags["retries"] += retries
        return Case(seed, loss, params, tuple(b.labels), n, b.tags)
