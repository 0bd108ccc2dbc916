"""LaTeX that looks like a textbook and that no symbol name can break or hijack."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.examples import EXAMPLES
from symbp.latex import MathPrinter, compile_pdf
from symbp.naming import latex_name
from symbp.nielsen import nielsen_layers

needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None,
                                    reason="pdflatex not installed (CI installs texlive)")
needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                     reason="pdftotext not installed (poppler-utils)")

DOCUMENTS = {name: sb.latex_document(sb.derive(EXAMPLES[name]())) for name in EXAMPLES}
_WORD_GROUPS = re.compile(r"\\(?:mathrm|operatorname|text|mathbf|section\*|emph)\{[^{}]*\}")


def _math(tex: str) -> str:
    """The bodies of the align* blocks, the part typeset as equations."""
    return "\n".join(re.findall(r"\\begin\{align\*\}(.*?)\\end\{align\*\}", tex, re.S))


def _italic_runs(math: str) -> list[str]:
    """Runs of two or more letters that LaTeX would set as a product of italic letters."""
    bare = _WORD_GROUPS.sub("", math.replace(r"\{", "").replace(r"\}", ""))
    bare = re.sub(r"\\[A-Za-z]+", "", bare)
    return re.findall(r"[A-Za-z]{2,}", bare)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_example_follows_the_textbook_rules(name):
    tex = DOCUMENTS[name]
    assert r"\mathbb" not in tex  # amssymb has no blackboard one: it draws a different glyph
    assert not re.search(r"\\bar\{", tex)  # \bar spans one letter; \overline spans the name
    assert _italic_runs(_math(tex)) == []
    assert tex.isascii()
    assert r"$\mathbf{1}$ is the column of ones" in tex


def _glued(math: str) -> list[str]:
    """Factors juxtaposed with a multi-letter word and no separator (``\\,``, ``\\cdot``)."""
    word = r"(?:\\overline\{)?\\mathrm\{[^{}][^{}]"
    before = [m.group(0) for m in re.finditer(r"(\\[A-Za-z]+|[A-Za-z0-9})])[ ]*(?=" + word + ")", math)
              if not m.group(1).startswith("\\")]
    after = re.findall(r"\\mathrm\{[^{}]{2,}\}\}?(?:[_^]\{[^{}]*\})*[ ]*(?=[A-Za-z(]|\\mathbf|\\delta)",
                       math)
    return before + after


def test_glued_factors_are_detected():
    assert _glued(r"\mathrm{discount} \mathrm{subtotal}") and _glued(r"X_{1} \mathrm{Wx}")
    assert _glued(r"\mathrm{Wh} A_{1}") and not _glued(r"X_{1} \, \mathrm{Wx} + \mathrm{a} \cdot b")


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_no_two_factors_are_glued_together(name):
    assert _glued(_math(DOCUMENTS[name])) == []


def test_shopping_reads_as_words_with_whole_name_accents():
    tex = DOCUMENTS["shopping"]
    for piece in (r"\mathrm{total} &= \mathrm{discount} \cdot \mathrm{subtotal}",
                  r"\mathrm{pants\_cost} &= \mathrm{pants\_count} \cdot \mathrm{pants\_price}",
                  r"\overline{\mathrm{shirt\_price}} &= \overline{\mathrm{subtotal}}",
                  r"\overline{\mathrm{discount}} &= \mathrm{subtotal}",
                  r"$\overline{x} = \partial \mathrm{total} / \partial x$"):
        assert piece in tex


def test_matrix_factors_with_words_are_separated_and_indices_are_subscripts():
    tex = DOCUMENTS["rnn"]
    assert r"Z_{2} &= X_{2} \, \mathrm{Wx} + \mathbf{1} b + A_{1} \, \mathrm{Wh}" in tex
    assert r"\overline{\mathrm{Wh}} &=" in tex and r"\overline{Z}_{3}" in tex
    assert r"Z_{1} &= X W_{1} + \mathbf{1} b_{1}" in DOCUMENTS["mlp"]


@pytest.mark.parametrize("name, tex", [
    ("W1", "W_{1}"), ("W1_bar", r"\overline{W}_{1}"), ("w1_2", "w_{1,2}"), ("x", "x"),
    ("alpha", r"\alpha"), ("pants_cost", r"\mathrm{pants\_cost}"),
    ("pants_cost_bar", r"\overline{\mathrm{pants\_cost}}"), ("Wx", r"\mathrm{Wx}"),
    ("café", r"\mathrm{caf\text{\'{e}}}"), ("α", r"\mathrm{\alpha{}}"),
    ("价格", r"\mathrm{[U{+}4EF7][U{+}683C]}"), ("a\u2028b", r"\mathrm{a[U{+}2028]b}"),
    (r"\input{/f}", r"\mathrm{\backslash{}input\{/f\}}"),
    ("$%#&", r"\mathrm{\$\%\#\&}"),
])
def test_names_are_typeset_as_escaped_words_with_index_subscripts(name, tex):
    assert latex_name(name) == tex


def test_scalar_products_of_words_use_a_centre_dot_and_letters_stay_juxtaposed():
    x, y, rate = sp.symbols("x y rate")
    assert MathPrinter().doprint(2 * x * y) == "2 x y"
    assert MathPrinter().doprint(rate * x) == r"\mathrm{rate} \cdot x"


HOSTILE = ["价格", "a\u2028b", "$ % # & { } ^ ~", "x\x07y", "café", "α", "end\\", "}{", "%"]


def _hostile_document(tmp_path):
    names = [r"\input{secret}", "my-name", *HOSTILE]
    params = [sp.Symbol(name) for name in names]
    loss = sum((p - k) ** 2 for k, p in enumerate(params))
    model = sb.Model(loss, params=params, name="hostile",
                     description="Prices in \u4ef7\u683c\u2028 \\input{x} $5 & 10% off #1")
    tex = tmp_path / "hostile.tex"
    tex.write_text(sb.latex_document(sb.derive(model), title=r"A \include{x} title }"))
    return tex


@needs_pdflatex
def test_hostile_names_compile_without_reading_any_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where pdflatex would find secret.tex
    (tmp_path / "secret.tex").write_text("\\SECRETundefined")  # stops pdflatex if it is read
    tex = _hostile_document(tmp_path)
    assert tex.read_text().isascii()
    assert compile_pdf(tex).stat().st_size > 1000


@needs_pdflatex
@needs_pdftotext
def test_hostile_names_are_shown_literally(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.tex").write_text("SECRETCONTENTS")
    pdf = compile_pdf(_hostile_document(tmp_path))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "SECRETCONTENTS" not in text
    for shown in ("\\input{secret}", "my-name", "[U+4EF7][U+683C]", "a[U+2028]b", "$ % # & { }",
                  "x[U+0007]y", "\\include{x}", "$5 & 10% off #1"):
        assert shown in text


GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", ["shopping", "mlp", "rnn"])
def test_documents_match_golden_files(name):
    body = DOCUMENTS[name].split("\n", 1)[1]  # after the version line
    path = GOLDEN / f"{name}.document.tex"
    if os.environ.get("SYMBP_UPDATE_GOLDEN") == "1":
        path.write_text(body, encoding="utf-8")
    assert body == path.read_text(encoding="utf-8"), f"{path.name} changed (SYMBP_UPDATE_GOLDEN=1)"


def test_pdflatex_runs_without_shell_escape(tmp_path, monkeypatch):
    calls = []

    def fake_run(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, 1, stdout="! stop here", stderr="")

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/pdflatex")
    monkeypatch.setattr(subprocess, "run", fake_run)
    (tmp_path / "a.tex").write_text("x")
    with pytest.raises(sb.SymbpError, match="stop here"):
        compile_pdf(tmp_path / "a.tex")
    assert "-no-shell-escape" in calls[0]


@needs_pdflatex
def test_jupyter_latex_is_valid_latex(tmp_path):
    shown = sb.derive(EXAMPLES["shopping"]())._repr_latex_()
    assert shown.startswith(r"$$\begin{aligned}") and shown.endswith(r"\end{aligned}$$")
    assert r"\intertext" not in shown
    doc = tmp_path / "nb.tex"
    doc.write_text("\\documentclass{article}\\usepackage{amsmath}\\usepackage{amssymb}\n"
                   f"\\begin{{document}}\n{shown}\n\\end{{document}}\n")
    assert compile_pdf(doc).stat().st_size > 1000


def test_repr_is_a_one_line_summary():
    d = sb.derive(EXAMPLES["digits_mlp"]())
    assert repr(d) == ("<Derivation of digits_mlp: 5 forward and 7 backward steps; gradients "
                       "of W1, b1, W2, b2; print() shows them>")


def test_nielsen_layers_of_an_mlp_are_read_off_the_backward_steps():
    d = sb.derive(EXAMPLES["mlp_relu"]())
    layers = nielsen_layers(d)
    sym = {s.name: s.symbol for s in d.steps} | {p.name: p for p in d.model.params}
    assert [la.z for la in layers] == [sym["Z1"], sym["Z2"], sym["Z3"]]
    assert [la.delta for la in layers] == [sym["Z1_bar"], sym["Z2_bar"], sym["Z3_bar"]]
    hidden = layers[1]
    assert hidden.input == sym["A1"] and (hidden.weight, hidden.bias) == (sym["W2"], sym["b2"])
    assert isinstance(hidden.delta_expr, sp.HadamardProduct)
    assert hidden.delta_expr.args[0] == sym["Z3_bar"] * sym["W3"].T  # (delta_3 W_3^T) ⊙ relu'
    assert hidden.weight_grad == sym["A1"].T * sym["Z2_bar"]
    ones, delta = hidden.bias_grad.args
    assert isinstance(ones, sp.OneMatrix) and ones.shape[0] == 1 and delta == sym["Z2_bar"]
    assert layers[-1].delta_expr == d.step("Z3_bar").expr  # BP1: the output error as derived


@pytest.mark.parametrize("name", ["shopping", "xor", "softmax_regression", "autoencoder", "rnn",
                                  "tanh_trace"])
def test_models_that_are_no_layer_chain_have_no_nielsen_equations(name):
    d = sb.derive(EXAMPLES[name]())
    assert nielsen_layers(d) == [] and "four equations" not in DOCUMENTS[name]


def test_mlp_document_states_nielsens_four_equations():
    tex = DOCUMENTS["mlp"]
    for row in (r"\delta_{2} = \overline{Z}_{2} &= \frac{\mathrm{probs} \odot "
                r"\left(Y \mathbf{1} \mathbf{1}^{\top}\right) - Y}{n} && \text{(BP1)}",
                r"\delta_{1} = \overline{Z}_{1} &= \left(\delta_{2} W_{2}^{\top}\right) \odot "
                r"\left(A_{1} \odot \left(1 - A_{1}\right)\right) && \text{(BP2)}",
                r"\overline{b}_{1} &= \mathbf{1}^{\top} \delta_{1} && \text{(BP3)}",
                r"\overline{W}_{1} &= X^{\top} \delta_{1} && \text{(BP4)}"):
        assert row in tex


def test_nielsen_equations_give_the_finite_difference_gradients_of_an_mlp(rng):
    """Evaluate delta_2, delta_1 and BP3/BP4 as read off the derivation, against central differences."""
    model = EXAMPLES["mlp"]()
    d = sb.derive(model)
    dims = {"X": (3, 4), "Y": (3, 3), "W1": (4, 8), "b1": (1, 8), "W2": (8, 3), "b2": (1, 3)}
    value = {name: rng.normal(size=shape) for name, shape in dims.items()}
    value["Y"] = np.eye(3)[[0, 2, 1]]

    def forward(v):
        a1 = 1 / (1 + np.exp(-(v["X"] @ v["W1"] + v["b1"])))
        z2 = a1 @ v["W2"] + v["b2"]
        p = np.exp(z2 - z2.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return a1, p, -np.mean(np.sum(v["Y"] * np.log(p), 1))

    a1, probs, _ = forward(value)
    known = {s: sp.Matrix(value[s.name]) for s in model.symbols if s.name in value}
    known.update({d.step("A1").symbol: sp.Matrix(a1), d.step("probs").symbol: sp.Matrix(probs),
                  next(s for s in d.step("Z2_bar").expr.free_symbols if s.name == "n"): 3})
    for layer in reversed(nielsen_layers(d)):
        known[layer.delta] = sp.Matrix(layer.delta_expr.xreplace(known).doit())
        for param, expr in ((layer.bias, layer.bias_grad), (layer.weight, layer.weight_grad)):
            got = np.array(sp.Matrix(expr.xreplace(known).doit()), dtype=float)
            want = np.zeros_like(value[param.name])
            for index in np.ndindex(want.shape):
                up, down = ({**value, param.name: value[param.name].copy()} for _ in range(2))
                up[param.name][index] += 1e-6
                down[param.name][index] -= 1e-6
                want[index] = (forward(up)[2] - forward(down)[2]) / 2e-6
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


@needs_pdflatex
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_document_fits_its_pages(name, tmp_path):
    """No formula runs off the right edge or into the page number (pdflatex's overfull boxes):
    the transformer's GELU backward once did both."""
    (tmp_path / "doc.tex").write_text(sb.latex_document(sb.derive(EXAMPLES[name]())))
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-no-shell-escape", "doc.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert "Overfull" not in log, [line for line in log.splitlines() if "Overfull" in line]
