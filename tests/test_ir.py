"""The IR stands alone: roles are an enum, steps know their kind and inputs, the graph prints."""

import ast
from pathlib import Path

import symbp as sb
from symbp.examples import EXAMPLES
from symbp.ir import VIEWS, Role

PACKAGE = Path(sb.__file__).parent


def _imports(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    return {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level}


def test_roles_compare_and_print_as_their_strings():
    d = sb.derive(EXAMPLES["mlp"]())
    grads = [s for s in d.backward if s.role == "gradient"]
    assert [s.of for s in grads] == ["b2", "W2", "b1", "W1"]
    assert all(s.role is Role.GRADIENT for s in grads)
    assert f"{Role.ADJOINT}" == "adjoint" and str(Role.LOSS) == "loss"


def test_steps_know_their_node_kind_and_what_they_read():
    d = sb.derive(EXAMPLES["mlp"]())
    loss = d.step("L")
    assert (loss.role, loss.kind, loss.inputs) == ("loss", "sce", ("Y", "Z2"))
    assert d.step("W1_bar").inputs == ("X", "Z1_bar")


def test_the_graph_has_a_text_form_one_line_per_node():
    d = sb.derive(EXAMPLES["mlp"]())
    lines = str(d.graph).splitlines()
    assert len(lines) == len(d.graph.nodes)
    assert lines[2] == "%2 = matmul(%0, %1)  (n, 8)"
    assert lines[-1].endswith("<- loss") and "sce(" in lines[-1]


def test_the_ir_imports_none_of_its_consumers():
    assert _imports(PACKAGE / "ir.py") <= {"errors", "model", "text"}
    assert not {"ir", "explain", "derive"} & _imports(PACKAGE / "text.py")


def test_views_are_registered_by_their_modules_and_serve_the_methods():
    assert set(VIEWS) == {"explain", "latex", "markdown"}
    d = sb.derive(EXAMPLES["xor"]())
    assert d.explain() == sb.explain(d)
    assert d.latex().startswith("\\begin{align*}")
