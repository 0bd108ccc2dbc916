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


def test_data_equal_after_nfkc_are_read_from_their_own_arrays():
    w, d, db = sp.symbols("w d 𝐝")
    model = sb.Model((w * d - db) ** 2, params=[w])

    def hand(p, **data):
        return np.mean((p["w"] * data["d"] - data["𝐝"]) ** 2)

    rng = np.random.default_rng(7)
    assert_gradients_match_fd(model, hand, {"w": 0.8},
                              {"d": rng.normal(size=5), "𝐝": rng.normal(size=5)})


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


def test_params_named_like_keyword_arguments_get_their_own_gradients():
    lr, lr_wide, d = sp.symbols("lr ｌｒ d")
    model = sb.Model((lr * d - lr_wide) ** 2, params=[lr, lr_wide])

    def hand(p, d):
        return np.mean((p["lr"] * d - p["ｌｒ"]) ** 2)

    rng = np.random.default_rng(6)
    assert_gradients_match_fd(model, hand, {"lr": 0.7, "ｌｒ": -0.4}, {"d": rng.normal(size=5)})


# -- strings are never evaluated -----------------------------------------------

w, x = sp.symbols("w x")
X3 = sp.MatrixSymbol("X", n, 3)
W3 = sp.MatrixSymbol("W", 3, 1)
MSE = sp.Trace((X3 * W3).T * (X3 * W3)) / n


def one_sentence(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.endswith(".") and "_symbp" not in text
    return text


@pytest.mark.parametrize("where", ["loss", "outputs", "outputs dict", "names key", "value",
                                   "values key", "matrix value entry"])
def test_a_string_that_runs_a_command_is_refused_unrun(where, tmp_path):
    marker = tmp_path / "pwned_X"
    probe = f"__import__('os').system('touch {marker}') or 1"
    build = {
        "loss": lambda: sb.Model(probe, params=[w]),
        "outputs": lambda: sb.Model(w * x, params=[w], outputs=probe),
        "outputs dict": lambda: sb.Model(w * x, params=[w], outputs={"y": probe}),
        "names key": lambda: sb.Model(w * x + 1, params=[w], names={probe: "z"}),
        "value": lambda: sb.Model(w * x, params=[w], values={w: probe, x: 1}),
        "values key": lambda: sb.Model(w * x, params=[w], values={probe: 1}),
        "matrix value entry": lambda: sb.Model(MSE, params=[W3], values={W3: [[probe]] * 3}),
    }[where]
    with pytest.raises(sb.SymbpError) as exc:
        build()
    one_sentence(exc)
    assert not marker.exists()


def test_values_may_name_a_symbol_by_its_exact_name():
    model = sb.Model((w * x - 1) ** 2, params=[w], values={"w": 0.5, x: sp.Rational(3, 2)})
    assert model.values == {w: sp.Float(0.5), x: sp.Rational(3, 2)}
    assert "w = 0.5" in sb.derive(model).explain(values=model.values)


def test_values_of_a_matrix_keep_the_array():
    value = np.arange(3.0).reshape(3, 1)
    model = sb.Model(MSE, params=[W3], values={W3: value})
    assert model.values[W3] is value


# -- validation ----------------------------------------------------------------

def test_a_dimension_listed_as_a_parameter_is_named():
    with pytest.raises(sb.SymbpError) as exc:
        sb.Model(MSE, params=[W3, n])
    text = one_sentence(exc)
    assert text.startswith("n sizes the matrix X")


@pytest.mark.parametrize("constant, shown", [(sp.oo, "contains oo"), (-sp.oo, "contains -oo"),
                                             (sp.zoo, "contains zoo"), (sp.nan, "contains nan"),
                                             (float("inf"), "contains oo"),
                                             (sp.I * w, "imaginary unit I")])
def test_a_loss_that_is_not_finite_and_real_is_named(constant, shown):
    with pytest.raises(sb.SymbpError) as exc:
        sb.Model(w * x + constant, params=[w])
    assert shown in one_sentence(exc)


def test_an_output_that_is_not_finite_is_named():
    with pytest.raises(sb.SymbpError) as exc:
        sb.Model(w * x, params=[w], outputs={"y": sp.oo * w})
    assert "the output 'y'" in one_sentence(exc)


@pytest.mark.parametrize("fn", [sp.floor, sp.zeta, lambda e: sp.Function("g")(e, w)])
def test_a_missing_derivative_never_shows_internal_placeholders(fn):
    with pytest.raises(sb.SymbpError) as exc:
        sb.derive(sb.Model(fn(w * x) + w**2, params=[w]))
    assert "w*x" in one_sentence(exc)


def test_symbp_error_never_shows_internal_placeholder_names():
    assert str(sb.SymbpError("no derivative of Mod(_symbp_s0, _symbp_s1) at _symbp_u.")) == \
        "no derivative of Mod(x1, x2) at u."


BAD_MODELS = [
    (lambda: sb.Model(w * x, params=2 * w), "params must be a list of Symbols"),
    (lambda: sb.Model(w * x, params=5), "params must be a list of Symbols"),
    (lambda: sb.Model(w * x, params="w"), "params is the string 'w'"),
    (lambda: sb.Model(w * x, params={w, x}), "params is a set"),
    (lambda: sb.Model(w * x, params=[w, "x"]), "params entry 'x' is not a Symbol"),
    (lambda: sb.Model("w*x", params=[w]), "the loss is the string 'w*x'"),
    (lambda: sb.Model(None, params=[w]), "the loss is None, not a SymPy expression"),
    (lambda: sb.Model([w * x], params=[w]), "the loss is [w*x], not a SymPy expression"),
    (lambda: sb.Model(w * x > 0, params=[w]), "a StrictGreaterThan"),
    (lambda: sb.Model(sp.Matrix([[w, x]]), params=[w]), "shape (1, 2)"),
    (lambda: sb.Model(w * x, params=[w], description=5), "the description 5 must be a string"),
    (lambda: sb.Model(w * x, params=[w], outputs={"y": None}), "the output 'y' is None"),
    (lambda: sb.Model(w * x, params=[w], outputs={"y": "w"}), "the output 'y' is the string"),
    (lambda: sb.Model(w * x, params=[w], values=[1, 2]), "values must be a dict"),
    (lambda: sb.Model(w * x, params=[w], values={w: x, x: 1}), "value given for w is x"),
    (lambda: sb.Model(w * x, params=[w], values={w: None, x: 1}), "value given for w is None"),
    (lambda: sb.Model(w * x, params=[w], values={w: [1, 2], x: 1}), "is [1, 2], not a finite"),
    (lambda: sb.Model(w * x, params=[w], values={w: sp.oo, x: 1}), "is oo, not a finite"),
    (lambda: sb.Model(w * x, params=[w], values={sp.Symbol("q"): 1}), "for q, which is not a"),
    (lambda: sb.Model((w * sp.Symbol("ｌｒ")) ** 2, params=[w]), "data symbol 'ｌｒ' clashes"),
    (lambda: sb.Model(w * sp.Symbol("_symbp_u", real=True), params=[w]), "'_symbp_u' starts"),
    (lambda: sb.Model(sp.Symbol("W") * MSE, params=[W3]), "both named 'W'"),
]


@pytest.mark.parametrize("build, message", BAD_MODELS, ids=[m for _, m in BAD_MODELS])
def test_bad_model_inputs_get_one_sentence(build, message):
    with pytest.raises(sb.SymbpError) as exc:
        build()
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert str(exc.value).endswith(".")
