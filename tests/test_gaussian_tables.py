"""The normal CDF the generated code computes without ``erf`` (symbp/primitives/gaussian.py):
its tables are what mpmath's Chebyshev interpolation gives, and Φ is accurate to the last bits
against mpmath at 50 digits, in the runtime helper and in plain ``lambdify`` alike."""

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.primitives.gaussian import ERF_TABLES, NormalCDF

X = np.concatenate([np.linspace(-12, 12, 24001), [0.0, -0.0, 1e-300, -5e-8, 2.12132, -2.12132]])


def _reference(x):
    with mp.workdps(50):
        return np.array([float(mp.ncdf(mp.mpf(float(v)))) for v in x])


REF = _reference(X)


def _interpolant(f, interval, size):
    return tuple(float(c) for c in mp.chebyfit(f, interval, size))


def test_tables_are_the_chebyshev_interpolants_of_erf_and_of_the_scaled_erfc():
    cut, far = mp.mpf(ERF_TABLES["cut"]), mp.mpf(ERF_TABLES["far"])
    with mp.workdps(50):  # erf(z)/z in z², and e^(b²) erfc(b) b in t = 1/b
        small = _interpolant(lambda u: mp.erf(mp.sqrt(u)) / mp.sqrt(u) if u else 2 / mp.sqrt(mp.pi),
                             [0, cut**2], len(ERF_TABLES["small"]))
        tail = _interpolant(lambda t: mp.erfc(1 / t) * mp.exp(1 / t**2) / t, [1 / far, 1 / cut],
                            len(ERF_TABLES["tail"]))
    assert ERF_TABLES["small"] == small
    assert ERF_TABLES["tail"] == tail


def _runtime_cdf():
    """The helper ``_normal_cdf`` of a generated module that reads Φ (a GELU layer's)."""
    n = sp.Symbol("n", integer=True, positive=True)
    Z, W = sp.MatrixSymbol("Z", n, 1), sp.MatrixSymbol("W", 1, 1)
    module = sb.compile(sb.derive(sb.Model(sb.mse(sb.gelu(Z * W), sp.ZeroMatrix(n, 1)), [W])))
    return lambda x: module._normal_cdf(np, x)


def _lambdified_cdf():
    u = sp.Symbol("u", real=True)
    return sp.lambdify(u, NormalCDF(u), "numpy")


@pytest.mark.parametrize("cdf", [_runtime_cdf, _lambdified_cdf], ids=["runtime", "lambdify"])
def test_normal_cdf_is_accurate_to_the_last_bits_and_keeps_the_lower_tail(cdf):
    got = cdf()(X)
    np.testing.assert_allclose(got, REF, rtol=0, atol=2.3e-16)
    tail = (X < 0) & (X > -8.4)
    np.testing.assert_allclose(got[tail], REF[tail], rtol=2e-14, atol=0)
    far = X < -8.4  # below 1e-17: held to 2%, decreasing to 0
    np.testing.assert_allclose(got[far], REF[far], rtol=0.02, atol=0)
    assert got[X == 0][0] == 0.5 and np.all(got[X > 8.5] == 1.0)
    assert list(cdf()(np.array([-40.0, -np.inf, np.inf]))) == [0.0, 0.0, 1.0]
    assert np.isnan(cdf()(np.array([np.nan]))).all()
