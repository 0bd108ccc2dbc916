"""Shared helpers: one function runs a model against the references."""

import importlib.util

import numpy as np
import pytest
import sympy as sp

import symbp as sb

HAVE = {name: importlib.util.find_spec(name) is not None for name in ("torch", "jax", "autograd")}
AUTODIFF = [r for r in ("autograd", "torch", "jax") if HAVE[r]]

n = sp.Symbol("n", integer=True, positive=True)


def matrices(spec, **shapes):
    """``matrices("X W", X=(n, 3), W=(3, 2))`` -> MatrixSymbols."""
    return [sp.MatrixSymbol(name, *shapes[name]) for name in spec.split()]


def assert_matches(model, references=None, **kwargs):
    """Check ``model`` against each reference; returns the reports."""
    module = sb.compile(sb.derive(model))
    reports = []
    for ref in references or ["fd", *AUTODIFF]:
        reports.append(sb.check(model, ref, module=module, **kwargs))
    return reports


def random_params(model, rng, dims=None):
    dims = dims or {}
    return {p.name: rng.normal(size=tuple(int(sp.sympify(d).subs(dims))
                                          for d in model.shape_of(p)))
            for p in model.params}


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
