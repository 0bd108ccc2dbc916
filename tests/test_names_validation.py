"""Names stay distinct as Python reads them, strings are never evaluated, bad models get a sentence.

Gradients are checked against central finite differences of a loss written by hand in NumPy
below, never through symbp's own code paths.
"""

import io
import keyword
import tokenize
import unicodedata

import numpy as np
import pytest
import sympy as sp
from conftest import n

import symbp as sb
from symbp.naming import Namer, identifier


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def code_names(src: str) -> set[str]:
    """The NAME tokens (identifiers, keywords) of Python source, as written."""
    return {t.string for t in tokenize.generate_tokens(io.StringIO(src).readline)
            if t.type == tokenize.NAME}


def assert_names_distinct_after_nfkc(src: str) -> None:
    by_normal: dict[str, set[str]] = {}
    for name in code_names(src):
        by_normal.setdefault(nfkc(name), set()).add(name)
    clashes = {k: v for k, v in by_normal.items() if len(v) > 1}
    assert not clashes
    assert all(nfkc(name) == name for name in code_names(src))


def central_fd(f, params: dict, h: float = 1e-6) -> dict:
    grads = {}
    for name, value in params.items():
        value = np.asarray(value, dtype=float)
        g = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus, minus = dict(params), dict(params)
            up, down = value.copy(), value.copy()
            up[idx] += h
            down[idx] -= h
            plus[name], minus[name] = up, down
            g[idx] = (f(plus) - f(minus)) / (2 * h)
        grads[name] = g
    return grads


def assert_gradients_match_fd(model, hand_loss, params, data):
    """Compiled loss_and_grad against a hand-written NumPy loss and its finite differences."""
    d = sb.derive(model)
    assert_names_distinct_after_nfkc(sb.generate(d))
    value, grads = sb.compile(d).loss_and_grad(params, **data)
    np.testing.assert_allclose(value, hand_loss(params, **data), rtol=1e-10)
    expected = central_fd(lambda p: hand_loss(p, **data), params)
    assert sorted(grads) == sorted(params)
    for name in params:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-6, atol=1e-7)


# -- identifiers -------------------------------------------------------------

@pytest.mark.parametrize("name", ["𝐱", "ﬁ", "ｎｐ", "ｉｆ", "ｌａｍｂｄａ", "x²", "Ⅸ", "ℌ", "\u0301e",
                                  "x); import os", "_inputs_loss", "1x", "θ", "ᵢ"])
def test_identifier_is_nfkc_normal_and_never_a_keyword_or_reserved(name):
    ident = identifier(name)
    assert ident.isidentifier() and nfkc(ident) == ident
    assert not keyword.iskeyword(ident) and ident not in sb.naming.RESERVED
    assert not ident.startswith("_")


def test_names_equal_after_nfkc_get_distinct_identifiers():
    namer = Namer()
    got = [namer.claim(s) for s in ["x", "𝐱", "fi", "ﬁ", "ｎｐ", "np"]]
    assert len({nfkc(g) for g in got}) == 6
    assert "np" not in got and got[:4] == ["x", "x2", "fi", "fi2"]


def test_namer_compares_taken_names_after_nfkc():
    assert Namer(["𝐱"]).claim("x") != "x"


# -- models whose names coincide after NFKC ------------------------------------

def test_scalar_params_equal_after_nfkc_get_their_own_gradients():
    x, xb, d = sp.symbols("x 𝐱 d")
    fi, lig = sp.symbols("fi ﬁ")
    model = sb.Model((x * d + xb * d**2 - fi) ** 2 + x**2 + 3 * lig * d, params=[x, xb, fi, lig])

    def hand(p, d):
        return np.mean((p["x"] * d + p["𝐱"] * d**2 - p["fi"]) ** 2 + p["x"] ** 2 + 3 * p["ﬁ"] * d)

    rng = np.random.default_rng(0)
    params = {k: rng.normal() for k in ("x", "𝐱", "fi", "ﬁ")}
    assert_gradients_match_fd(model, hand, params, {"d": rng.normal(size=7)})


def test_matrix_params_equal_after_nfkc_get_their_own_gradients():
    X, Y = sp.MatrixSymbol("X", n, 3), sp.MatrixSymbol("Y", n, 2)
    W, Wb = sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("𝐖", 3, 2)
    E = X * W - Y + (X * Wb).applyfunc(sp.tanh)
    model = sb.Model(sp.Trace(E.T * E) / n, params=[W, Wb])

    def hand(p, X, Y):
        E = X @ p["W"] - Y + np.tanh(X @ p["𝐖"])
        return np.sum(E**2) / len(X)

    rng = np.random.default_rng(1)
    params = {"W": rng.normal(size=(3, 2)), "𝐖": rng.normal(size=(3, 2))}
    assert_gradients_match_fd(model, hand, params,
                              {"X": rng.normal(size=(5, 3)), "Y": rng.normal(size=(5, 2))})


def test_a_param_named_fullwidth_np_never_shadows_numpy():
    a, b, d = sp.symbols("ｎｐ np d")
    model = sb.Model(sp.exp(a * d) + (b - d) ** 2, params=[a, b])

    def hand(p, d):
        return np.mean(np.exp(p["ｎｐ"] * d) + (p["np"] - d) ** 2)

    rng = np.random.default_rng(2)
    assert_gradients_match_fd(model, hand, {"ｎｐ": 0.3, "np": -0.2}, {"d": rng.normal(size=6)})


def test_names_that_are_keywords_after_nfkc_compile():
    a, b, d = sp.symbols("ｉｆ ｌａｍｂｄａ ｄｅｆ")
    model = sb.Model((a * d - b) ** 2, params=[a, b])

    def hand(p, **data):
        return np.mean((p["ｉｆ"] * data["ｄｅｆ"] - p["ｌａｍｂｄａ"]) ** 2)

    rng = np.random.default_rng(3)
    assert_gradients_match_fd(model, hand, {"ｉｆ": 0.5, "ｌａｍｂｄａ": 1.5},
                              {"ｄｅｆ": rng.normal(size=4)})


def test_scalar_names_of_generated_temporaries_do_not_collide():
    # z1, z2, L, N, the adjoints: what symbp calls its own steps, spelled plainly and in NFKC variants
    z1, z2, bar, L, N, d = sp.symbols("z1 𝐳2 z1_bar Ｌ N d")
    model = sb.Model((z1 * d - z2) ** 2 + sp.sin(bar * L) + N * d, params=[z1, z2, bar, L, N])

    def hand(p, d):
        return np.mean((p["z1"] * d - p["𝐳2"]) ** 2 + np.sin(p["z1_bar"] * p["Ｌ"]) + p["N"] * d)

    rng = np.random.default_rng(4)
    params = {k: rng.normal() for k in ("z1", "𝐳2", "z1_bar", "Ｌ", "N")}
    assert_gradients_match_fd(model, hand, params, {"d": rng.normal(size=5)})


def test_matrix_names_of_generated_temporaries_do_not_collide():
    # softmax cross-entropy lowers into Z1_shift, Z1_exp, Z1_sum; P1 and the adjoints are steps
    X, Y = sp.MatrixSymbol("X", n, 3), sp.MatrixSymbol("Y", n, 2)
    W, S, P = sp.MatrixSymbol("𝐙1_shift", 3, 2), sp.MatrixSymbol("Z1_sum", 3, 2), \
        sp.MatrixSymbol("Ｐ1", 1, 2)
    model = sb.Model(sb.softmax_cross_entropy(X * (W + S) + sp.OneMatrix(n, 1) * P, Y),
                     params=[W, S, P])

    def hand(p, X, Y):
        Z = X @ (p["𝐙1_shift"] + p["Z1_sum"]) + p["Ｐ1"]
        Z = Z - Z.max(axis=1, keepdims=True)
        return -np.sum(Y * (Z - np.log(np.exp(Z).sum(axis=1, keepdims=True)))) / len(X)

    rng = np.random.default_rng(5)
    params = {"𝐙1_shift": rng.normal(size=(3, 2)), "Z1_sum": rng.normal(size=(3, 2)),
              "Ｐ1": rng.normal(size=(1, 2))}
    data = {"X": rng.normal(size=(6, 3)), "Y": np.eye(2)[[0, 1, 1, 0, 1, 0]]}
    assert_gradients_match_fd(model, hand, params, data)
