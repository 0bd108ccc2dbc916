"""Teaching outputs: explanations (en, zh), LaTeX that compiles, graph pictures, op counts."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import symbp as sb
from symbp.cli import main
from symbp.compare import compare
from symbp.examples import EXAMPLES

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("SYMBP_UPDATE_GOLDEN") == "1"  # SYMBP_UPDATE_GOLDEN=1 pytest rewrites them


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; see tests/test_teaching.py"


@pytest.mark.parametrize("name", ["mlp", "shopping"])
def test_explanation_and_latex_match_golden_files(name):
    model = EXAMPLES[name]()
    d = sb.derive(model)
    values = model.values or None
    golden(f"{name}.en.txt", d.explain(values=values))
    golden(f"{name}.zh.txt", d.explain(lang="zh", values=values))
    golden(f"{name}.tex", d.latex() + "\n")


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_example_is_explained_in_english_and_chinese(name):
    d = sb.derive(EXAMPLES[name]())
    english = d.explain()
    assert "Forward pass" in english and "Backward pass" in english and "chain rule" in english
    for step in d.backward:
        assert f"∂{d.loss.name}/∂{step.of} =" in english
    chinese = d.explain(lang="zh")
    for term in ("计算图", "前向传播", "链式法则", "反向传播", "梯度", "误差", "权重更新"):
        assert term in chinese


def test_shopping_explanation_shows_the_lessons_numbers(capsys):
    assert main(["explain", "shopping"]) == 0
    out = capsys.readouterr().out
    assert "total = discount·subtotal = 700" in out
    for partial, number in [("discount", "1000"), ("shirt_price", "0.7"), ("pants_price", "1.4"),
                            ("pants_count", "210")]:
        assert re.search(rf"∂total/∂{partial} = .* = {re.escape(number)}$", out, re.M), partial


def test_apples_explanation_shows_saitos_numbers():
    model = EXAMPLES["apples"]()
    text = sb.derive(model).explain(values=model.values)
    assert "total = subtotal·tax = 715" in text
    for partial, number in [("apple_price", "2.2"), ("apple_count", "110"),
                            ("orange_price", "3.3"), ("orange_count", "165"), ("tax", "650")]:
        assert re.search(rf"∂total/∂{partial} = .* = {re.escape(number)}$", text, re.M), partial


def test_explained_numbers_agree_with_the_generated_module():
    model = EXAMPLES["xor"]()
    d = sb.derive(model)
    values = {s: v for s, v in zip((*model.params, *model.data),
                                   np.round(np.random.default_rng(3).normal(size=12), 2),
                                   strict=True)}
    text = d.explain(values=values)
    loss, grads = sb.compile(d).loss_and_grad({p.name: float(values[p]) for p in model.params},
                                              **{s.name: float(values[s]) for s in model.data})
    assert re.search(rf"L = z4\^2 = {float(loss):.6g}$", text, re.M)
    for name in ("w11", "v2", "c"):
        assert re.search(rf"∂L/∂{name} = .* = {float(grads[name]):.6g}$", text, re.M), name


def test_unknown_language_is_named():
    with pytest.raises(sb.SymbpError, match="'fr'"):
        sb.derive(EXAMPLES["mlp"]()).explain(lang="fr")


def test_latex_block_uses_textbook_notation():
    tex = sb.derive(EXAMPLES["mlp"]()).latex()
    assert tex.startswith(r"\begin{align*}") and tex.endswith(r"\end{align*}")
    for piece in (r"\mathbf{1} b_{1}", r"\sigma\left(Z_{1}\right)", r"\odot", r"X^{\top}",
                  r"\overline{W}_{1}", r"\operatorname{softmax}"):
        assert piece in tex


def test_markdown_and_jupyter_reprs():
    d = sb.derive(EXAMPLES["mlp"]())
    md = d.markdown()
    assert "### Forward pass" in md and "$$" in md and "### Update rule" in md
    assert d._repr_latex_().startswith("$$\\begin{aligned}") and d._repr_markdown_() == md


def test_long_lines_are_broken():
    d = sb.derive(EXAMPLES["tanh_4_8_1"]())
    equations = [line for line in sb.latex_document(d).splitlines() if "&" in line]
    assert equations and all(len(line) < 120 for line in equations)
    assert any(line.startswith(r"&\quad +") for line in equations)


needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None,
                                    reason="pdflatex not installed (CI installs texlive)")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz not installed (CI installs graphviz)")


@needs_pdflatex
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_latex_document_compiles_with_pdflatex(name, tmp_path):
    d = sb.derive(EXAMPLES[name]())
    tex = tmp_path / f"{name}.tex"
    tex.write_text(sb.latex_document(d, title=f"{name} & co_1"))
    result = subprocess.run(["pdflatex", "-no-shell-escape", "-interaction=nonstopmode",
                             "-halt-on-error", tex.name],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / f"{name}.pdf").stat().st_size > 1000


@needs_pdflatex
def test_latex_command_builds_the_pdf(tmp_path, capsys):
    assert main(["latex", "mlp", "-o", str(tmp_path / "grads.tex"), "--pdf"]) == 0
    assert (tmp_path / "grads.pdf").exists()
    assert main(["latex", "mlp", "-o", str(tmp_path / "grads.tex"), "--pdf"]) == 0


def test_graph_dot_has_one_node_per_operation_and_left_to_right_edges():
    d = sb.derive(EXAMPLES["mlp"]())
    dot = sb.graph_dot(d)
    assert "rankdir=LR" in dot
    for step in d.forward:
        assert f'"{step.name}" [shape=ellipse' in dot
    assert '"X" -> "Z1"' in dot and '"Z1" -> "A1"' in dot and '"A1" -> "Z2"' in dot


def test_graph_with_values_shows_forward_values_and_gradients():
    model = EXAMPLES["shopping"]()
    dot = sb.graph_dot(sb.derive(model), model.values)
    assert '"discount" -> "total" [label=<0.7<br/><font color="#c0392b">1000</font>>]' in dot
    assert '"pants_count" -> "pants_cost" [label=<2<br/><font color="#c0392b">210</font>>]' in dot
    assert '"total" -> "output" [label=<700<br/><font color="#c0392b">1</font>>]' in dot


@needs_dot
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_graph_renders_with_graphviz(name, tmp_path):
    path = sb.render_graph(sb.derive(EXAMPLES[name]()), tmp_path / f"{name}.svg")
    assert "<svg" in path.read_text() and "Generated by symbp" in path.read_text()


@needs_dot
def test_graph_command_writes_png_and_refuses_foreign_files(tmp_path, capsys):
    target = tmp_path / "shop.png"
    assert main(["graph", "shopping", "-o", str(target), "--values"]) == 0
    assert target.read_bytes().startswith(b"\x89PNG")
    assert main(["graph", "shopping", "-o", str(target)]) == 0  # its own picture
    other = tmp_path / "photo.png"
    other.write_bytes(b"\x89PNG my holiday")
    assert main(["graph", "shopping", "-o", str(other)]) == 2
    assert other.read_bytes() == b"\x89PNG my holiday"
    assert "--force" in capsys.readouterr().err


def test_render_graph_without_graphviz_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(sb.SymbpError, match="install Graphviz"):
        sb.render_graph(sb.derive(EXAMPLES["mlp"]()), tmp_path / "g.svg")


def test_compare_shows_backprop_reuses_intermediate_results():
    result = compare(EXAMPLES["tanh_4_8_1"](), budget=60)
    assert result.naive_complete
    assert result.naive_ops > 10 * (result.forward_ops + result.backward_ops)
    assert result.backward_ops <= 3 * result.forward_ops
    assert "sympy.diff per parameter" in str(result)


def test_compare_stops_at_its_time_budget():
    result = compare(EXAMPLES["tanh_4_8_1"](), budget=0.0)
    assert result.naive_params_done < result.params and "time budget" in str(result)


def test_compare_command(capsys):
    assert main(["compare", "xor"]) == 0
    assert "symbp backward pass" in capsys.readouterr().out
