"""Explanations name every path: each fan-out line shows one term per use, each cited
gradient has its own line, and the terms shown add up to what the code computes."""

import importlib
import os
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.examples import EXAMPLES
from symbp.explain import edge_gradients, gradient_paths
from symbp.text import unicode

LANGS = ("en", "zh")
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("SYMBP_UPDATE_GOLDEN") == "1"  # SYMBP_UPDATE_GOLDEN=1 rewrites them


def lines_of(text: str, loss: str) -> dict[str, str]:
    """``x -> the whole (possibly wrapped) line explaining ∂loss/∂x``."""
    out, current = {}, None
    for line in text.splitlines():
        head = re.match(rf"  ∂{re.escape(loss)}/∂(\S+) = ", line)
        if head:
            current = head.group(1)
            out[current] = line
        elif current and line.startswith("   ") and line.lstrip().startswith(("=", "(", "（")):
            out[current] += "\n" + line
        else:
            current = None
    return out


def users_on_the_way_to_the_loss(d, name: str) -> set[str]:
    """The forward steps that read ``name`` and lead to the loss (read off the forward pass)."""
    reach = {d.loss}
    for step in reversed(d.forward):
        if any(step.symbol in r.expr.free_symbols for r in d.forward if r.symbol in reach):
            reach.add(step.symbol)
    symbol = next(s for s in (*d.model.symbols, *(f.symbol for f in d.forward)) if s.name == name)
    # a norm's 1/σ step has no term of its own: the x̂ rule beside it carries the path through it
    return {s.name for s in d.forward if s.symbol in reach and symbol in s.expr.free_symbols
            and s.kind != "istd"}


def numeric(expr, env: dict):
    """``expr`` at random values: every matrix made explicit (independent of symbp's evaluator)."""
    value = expr.xreplace(env)
    if getattr(value, "is_Matrix", False):
        value = value.replace(lambda e: isinstance(e, sp.OneMatrix), lambda e: sp.ones(*e.shape))
        return np.array(sp.N(value.doit().as_explicit()), dtype=float)
    return float(sp.N(value.doit()))


def random_env(exprs, dims) -> dict:
    rng = np.random.default_rng(5)
    env = {dim: sp.Integer(2) for dim in dims}
    for expr in exprs:
        for s in sorted(expr.free_symbols, key=str):
            if s in env:
                continue
            if isinstance(s, sp.MatrixSymbol):
                rows, cols = (int(sp.sympify(k).xreplace(env)) for k in s.shape)
                env[s] = sp.ImmutableMatrix(rng.uniform(0.1, 0.9, size=(rows, cols)).round(2))
            else:
                env[s] = sp.Rational(int(rng.integers(1, 9)), 10)
    return env


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_gradient_cited_on_a_right_hand_side_has_its_own_line(name, lang):
    d = sb.derive(EXAMPLES[name]())
    loss = d.loss.name
    lines = lines_of(d.explain(lang=lang), loss)
    cited = set()
    for line in lines.values():
        rhs = line.split(" = ", 1)[1]
        cited |= set(re.findall(rf"∂{re.escape(loss)}/∂([^\s·⊙=+()ᵀ,，）]+)", rhs))
    assert cited - lines.keys() == set(), f"cited but never explained: {cited - lines.keys()}"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_line_names_each_step_that_uses_the_value(name, lang):
    d = sb.derive(EXAMPLES[name]())
    loss = d.loss.name
    lines = lines_of(d.explain(lang=lang), loss)
    for x, line in lines.items():
        if x == loss:
            continue
        chain = line.split(" = ")[1]
        named = re.findall(rf"∂{re.escape(loss)}/∂(\S+) [·⊙] ∂(\S+)/∂{re.escape(x)}\b", chain)
        assert all(a == b for a, b in named), line
        assert {a for a, _ in named} == users_on_the_way_to_the_loss(d, x), line
        assert len(named) == len({a for a, _ in named}), f"a path is named twice: {line}"


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_the_terms_shown_add_up_to_the_gradient_the_code_computes(name):
    d = sb.derive(EXAMPLES[name]())
    entries = gradient_paths(d)
    steps = {s.of: s for s in d.backward}
    assert {e.of for e in entries if e.role != "inlined"} == set(steps)
    env = random_env([e.expr for e in entries] + [p.expr for e in entries for p in e.paths],
                     d.model.dims)
    text = d.explain()
    partials = {s.symbol: f"∂{d.loss.name}/∂{s.of}" for s in d.backward}
    for entry in entries:
        if entry.role != "inlined":
            assert entry.expr == steps[entry.of].expr
        total = sum(numeric(p.expr, env) for p in entry.paths)
        np.testing.assert_allclose(total, numeric(entry.expr, env), rtol=1e-12, err_msg=entry.of)
        line = lines_of(text, d.loss.name)[entry.of]
        start = line.find(" = ", line.find(" = ") + 3)  # after the chain of partials
        shown = [line.find(unicode(p.expr, partials), start) for p in entry.paths]
        assert -1 not in shown and shown == sorted(shown), line


def test_rnn_bias_names_its_three_paths_and_the_factored_sum():
    line = lines_of(sb.explain(EXAMPLES["rnn"]()), "L")["b"]
    assert line == ("  ∂L/∂b = ∂L/∂Z1 · ∂Z1/∂b + ∂L/∂Z2 · ∂Z2/∂b + ∂L/∂Z3 · ∂Z3/∂b\n"
                    "        = 𝟙ᵀ ∂L/∂Z1 + 𝟙ᵀ ∂L/∂Z2 + 𝟙ᵀ ∂L/∂Z3\n"
                    "        = 𝟙ᵀ (∂L/∂Z1 + ∂L/∂Z2 + ∂L/∂Z3)")


def test_a_value_used_twice_by_the_loss_shows_two_terms_once_each():
    line = lines_of(sb.explain(EXAMPLES["autoencoder"]()), "L")["Z2"]
    assert line.startswith("  ∂L/∂Z2 = ∂L/∂L · ∂L/∂Z2 = Z2 / (6·n) + Z2 / (6·n) = Z2 / (3·n)")
    assert "Z2 appears 2 times in L" in line
    zh = lines_of(sb.explain(EXAMPLES["autoencoder"](), lang="zh"), "L")["Z2"]
    assert "Z2 在 L 中出现 2 次" in zh


@pytest.mark.parametrize("name, x, user", [("xor", "y_hat", "z4"), ("tanh_trace", "A1", "Z2"),
                                           ("autoencoder", "reconstruction", "Z2")])
def test_a_gradient_without_a_step_of_its_own_says_what_it_equals(name, x, user):
    line = lines_of(sb.explain(EXAMPLES[name]()), "L")[x]
    assert line.startswith(f"  ∂L/∂{x} = ∂L/∂{user} · ∂{user}/∂{x} = ∂L/∂{user}")
    assert "no step of its own" in line
    zh = lines_of(sb.explain(EXAMPLES[name](), lang="zh"), "L")[x]
    assert f"直接使用 ∂L/∂{user}" in zh


def test_edge_gradients_give_one_gradient_per_edge_of_the_picture():
    d = sb.derive(EXAMPLES["rnn"]())
    edges = edge_gradients(d)
    for k in (1, 2, 3):
        z_bar = d.step(f"Z{k}_bar").symbol
        assert edges[("b", f"Z{k}")] == sp.MatMul(sp.OneMatrix(1, d.model.dims[0]), z_bar)
    xor = edge_gradients(sb.derive(EXAMPLES["xor"]()))
    assert xor[("y_hat", "z4")] == sp.Symbol("z4_bar")
    assert ("z3", "y_hat") in xor and ("z4", "L") in xor


def test_explain_is_a_function_of_a_model_or_a_derivation():
    model = EXAMPLES["mlp"]()
    d = sb.derive(model)
    assert callable(sb.explain) and "explain" in sb.__all__
    assert sb.explain(model) == sb.explain(d) == d.explain()
    assert sb.explain(model, lang="zh") == d.explain(lang="zh")
    assert importlib.import_module("symbp.explain").step_values  # the module is still there
    with pytest.raises(sb.SymbpError, match="Model or a Derivation"):
        sb.explain("mlp")


def test_values_true_shows_the_model_values_or_random_ones():
    shopping = EXAMPLES["shopping"]()
    assert "total = discount·subtotal = 700" in sb.explain(shopping, values=True)
    d = sb.derive(EXAMPLES["mlp"]())
    text = d.explain(values=True)
    assert text == d.explain(values=True)  # the same numbers every time
    assert re.search(r"^  ∂L/∂W1 = .* = \(4×8, ‖·‖ = [0-9.]+\)$", text, re.M)
    assert re.search(r"^  L = .* = [0-9.]+$", text, re.M)


def test_a_constant_gradient_without_a_step_still_gets_its_line():
    x, w = sp.symbols("x w")
    text = sb.explain(sb.Model((w * x + 1) ** 2 + sp.sin(w * x + 3), params=[w, x]))
    line = lines_of(text, "L")["a1"]
    assert line.startswith("  ∂L/∂a1 = ∂L/∂L · ∂L/∂a1 = 1\n") and "no step of its own" in line
    assert "  ∂L/∂z1 = ∂L/∂z2 · ∂z2/∂z1 + ∂L/∂z3 · ∂z3/∂z1 = ∂L/∂z2 + ∂L/∂z3\n" in text


def test_a_transposed_gradient_is_bracketed():
    g, a = sp.MatrixSymbol("Z_bar", 3, 2), sp.MatrixSymbol("A", 3, 4)
    assert unicode(g.T * a, {g: "∂L/∂Z"}) == "(∂L/∂Z)ᵀ A"
    assert unicode(a.T * g, {g: "∂L/∂Z"}) == "Aᵀ ∂L/∂Z"


@pytest.mark.parametrize("lang, header", [("en", "of the mean loss over the N samples"),
                                          ("zh", "N 个样本的平均损失的梯度")])
def test_scalar_models_say_the_code_averages_gradients_over_the_samples(lang, header):
    assert header in sb.explain(EXAMPLES["xor"](), lang=lang)
    assert header not in sb.explain(EXAMPLES["shopping"](), lang=lang)  # no data: no samples


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name, values", [("rnn", False), ("autoencoder", False), ("xor", True)])
def test_fan_out_and_copied_gradients_read_as_the_golden_lessons(name, values, lang):
    text = sb.explain(EXAMPLES[name](), lang=lang, values=values)
    path = GOLDEN / f"{name}.{lang}.txt"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; rerun with SYMBP_UPDATE_GOLDEN=1"
