"""A generated module keeps the memory a call frees for the next call (``KEEP_FREED_MEMORY``):
without it glibc hands each freed array above 128 KiB back to the system and every later call
page-faults it in again."""

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="glibc's malloc settings: Linux only")

SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import sympy as sp
    import symbp as sb

    n = sp.Symbol("n", integer=True, positive=True)
    X, W = sp.MatrixSymbol("X", n, 784), sp.MatrixSymbol("W", 784, 128)
    b, c = sp.MatrixSymbol("b", 1, 128), sp.MatrixSymbol("c", 1, 784)
    code = sb.sigmoid(X * W + b)  # a tied autoencoder: arrays of 800 KB
    module = sb.compile(sb.derive(sb.Model(sb.mse(code * W.T + c, X), [W, b, c])))
    module.KEEP_FREED_MEMORY = sys.argv[1] == "keep"
    params, X = module.init_params(rng=0), np.random.default_rng(1).normal(size=(128, 784))
    for _ in range(3):
        module.loss_and_grad(params, X=X)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        module.loss_and_grad(params, X=X)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
""")


def _faults_per_call(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


def test_later_calls_reuse_the_freed_memory_instead_of_faulting_it_back():
    kept, released = _faults_per_call("keep"), _faults_per_call("release")
    assert released > 200  # several 800 KB arrays mapped afresh (4 KiB pages) in every call
    assert kept < 20
