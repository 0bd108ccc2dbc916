"""The symbp command."""

import subprocess
import sys

import pytest

from symbp.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "symbp.cli", *args], capture_output=True,
                          text=True)


def test_demo_checks_every_example():
    result = run("demo", "--plot", "")
    assert result.returncode == 0, result.stderr
    assert "All 13 models agree with autograd" in result.stdout
    assert "held-out accuracy" in result.stdout or "skipped" in result.stdout
    assert "W1_bar" in result.stdout


@pytest.mark.parametrize("spec, message", [
    ("nonexistent_model", "neither a built-in example"),
    ("missing_file.py:model", "does not exist"),
])
def test_bad_model_argument_is_one_line_and_exit_2(spec, message, capsys):
    assert main(["derive", spec]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_model_from_a_file(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text("import sympy as sp, symbp as sb\n"
                    "w, x = sp.symbols('w x')\n"
                    "def build():\n    return sb.Model((w * x - 1) ** 2, params=[w])\n"
                    "number = 3\n")
    assert main(["derive", f"{path}:build"]) == 0
    assert "w_bar" in capsys.readouterr().out
    assert main(["derive", f"{path}:missing"]) == 2
    assert "no attribute 'missing'" in capsys.readouterr().err
    assert main(["derive", f"{path}:number"]) == 2
    assert "not a symbp.Model" in capsys.readouterr().err


def test_check_command_reports_each_reference(capsys):
    assert main(["check", "xor", "--reference", "fd", "autograd"]) == 0
    out = capsys.readouterr().out
    assert "xor vs fd" in out and "xor vs autograd" in out


def test_emit_with_tests_writes_both_files(tmp_path, capsys):
    target = tmp_path / "net.py"
    assert main(["emit", "mlp", "-o", str(target), "--tests"]) == 0
    assert target.exists() and (tmp_path / "test_net.py").exists()
    assert "symbp emit mlp" in target.read_text().splitlines()[0]


def test_emit_refuses_a_foreign_file_with_exit_2(tmp_path, capsys):
    target = tmp_path / "net.py"
    target.write_text("x = 1\n")
    assert main(["emit", "mlp", "-o", str(target)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["emit", "mlp", "-o", str(target), "--force"]) == 0


def test_emit_needs_a_py_path(tmp_path, capsys):
    assert main(["emit", "mlp", "-o", str(tmp_path / "net.txt")]) == 2
    assert "must end in .py" in capsys.readouterr().err


def test_train_runs_the_generated_fit(capsys):
    assert main(["train", "mlp", "--epochs", "2", "--optimizer", "sgd"]) == 0
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and "loss" in out


def test_regenerate_check_lists_stale_files(tmp_path, capsys):
    assert main(["regenerate", "--directory", str(tmp_path), "--check"]) == 1
    assert "stale:" in capsys.readouterr().out
    assert main(["regenerate", "--directory", str(tmp_path)]) == 0
    assert main(["regenerate", "--directory", str(tmp_path), "--check"]) == 0


def test_demo_without_scikit_learn_says_how_to_install(monkeypatch, capsys):
    import symbp.examples.demo as demo

    def no_sklearn(*args, **kwargs):
        raise demo.SymbpError("the digits need scikit-learn: pip install 'symbp[digits]'.")
    monkeypatch.setattr(demo, "digits", no_sklearn)
    assert main(["demo", "--plot", ""]) == 0
    out = capsys.readouterr().out
    assert "skipped: the digits need scikit-learn" in out
    assert out.rstrip().endswith("agree with autograd to rtol 1e-6.")
