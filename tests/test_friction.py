"""What a newcomer meets first: a bare ``pip install .``, missing references, training
output that means something, help text, and errors that say what to do."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import symbp as sb
from symbp.cli import main, parser

ROOT = Path(__file__).resolve().parent.parent


def run_without(packages: str, *args) -> subprocess.CompletedProcess:
    """``symbp ARGS`` in a fresh interpreter where importing each of ``packages`` fails."""
    code = ("import sys\n"
            f"for name in {packages.split(',')!r}:\n    sys.modules[name] = None\n"
            "from symbp.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_check_without_autograd_falls_back_to_finite_differences():
    result = run_without("autograd", "check", "xor")
    assert result.returncode == 0, result.stderr
    assert "the package autograd is not installed (pip install autograd)" in result.stdout
    assert "checking against central finite differences (fd) instead" in result.stdout
    assert "OK: the loss and every gradient of xor agree with fd" in result.stdout


def test_demo_without_autograd_checks_every_example_with_finite_differences():
    result = run_without("autograd", "demo", "--plot", "")
    assert result.returncode == 0, result.stderr
    assert "autograd is not installed" in result.stdout and "pip install autograd" in result.stdout
    assert result.stdout.rstrip().endswith("All 13 models agree with fd to rtol 1e-5.")


def test_check_skips_a_missing_reference_with_a_note_and_checks_the_others():
    result = run_without("torch", "check", "xor", "--reference", "fd", "torch")
    assert result.returncode == 0, result.stderr
    assert "skipping the torch reference: the package torch is not installed" in result.stdout
    assert "agree with fd" in result.stdout and "agree with torch" not in result.stdout


def test_library_check_names_the_package_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "autograd", None)
    monkeypatch.setitem(sys.modules, "autograd.numpy", None)
    with pytest.raises(sb.SymbpError, match=r"needs the package autograd.*pip install autograd\."):
        sb.check(sb.examples.example("xor"), reference="autograd")


def test_check_prints_a_verdict_line_when_it_passes(capsys):
    assert main(["check", "xor", "--reference", "fd"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("OK: the loss and every gradient of xor agree with fd")


def _accuracy(out: str) -> float:
    return float(re.search(r"accuracy ([\d.]+)%", out).group(1))


def test_train_mlp_fits_the_iris_flowers_and_reports_held_out_accuracy(capsys):
    assert main(["train", "mlp"]) == 0
    out = capsys.readouterr().out
    assert "random" not in out and "(held out)" in out
    assert _accuracy(out) >= 90.0


def test_train_on_random_data_says_so_and_reports_no_accuracy(capsys):
    assert main(["train", "autoencoder", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "random data" in out and "no accuracy" in out
    assert not re.search(r"^accuracy", out, re.M)


def test_train_xor_with_its_defaults_learns_xor(capsys):
    assert main(["train", "xor"]) == 0
    out = capsys.readouterr().out
    final = float(re.search(r"loss [\d.]+ -> ([\d.]+)", out).group(1))
    assert final < 0.01 and _accuracy(out) == 100.0


def _subparsers():
    sub = next(a for a in parser()._actions if a.choices and "demo" in a.choices)
    return sub.choices


def test_help_text_shows_no_markup():
    texts = [parser().format_help()] + [p.format_help() for p in _subparsers().values()]
    assert all("`" not in text for text in texts)  # no ``literal`` or `code` markup


def test_every_option_has_help():
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}"
               for name, p in _subparsers().items() for a in p._actions
               if not a.help and a.dest != "help"]
    assert missing == []


def test_demo_suggests_only_options_it_has(tmp_path, capsys):
    from symbp.examples.demo import plot_history

    pytest.importorskip("matplotlib")
    foreign = tmp_path / "mine.png"
    foreign.write_bytes(b"my own picture")
    plot_history([1.0, 0.5], str(foreign))
    out = capsys.readouterr().out
    suggested = set(re.findall(r"--[a-z-]+", out))
    demo_options = {o for a in _subparsers()["demo"]._actions for o in a.option_strings}
    assert suggested and suggested <= demo_options
    assert foreign.read_bytes() == b"my own picture"


M, Y = sp.MatrixSymbol("M", 3, 2), sp.MatrixSymbol("Y", 3, 2)


@pytest.mark.parametrize("build", [
    lambda: sb.mse(sp.tanh(M), Y),
    lambda: sb.softmax_cross_entropy(sp.tanh(M), Y),
    lambda: sb.sigmoid(sp.tanh(M)),
    lambda: sb.dense(sp.tanh(M), sp.MatrixSymbol("W", 2, 2)),
], ids=["mse", "softmax_cross_entropy", "sigmoid", "dense"])
def test_a_sympy_function_of_a_matrix_says_apply_it_elementwise(build):
    with pytest.raises(sb.SymbpError) as info:
        build()
    message = str(info.value)
    assert "tanh(M)" in message and "M.applyfunc(sp.tanh) or sb.tanh(M)" in message
    assert "needs both" not in message


def test_train_without_scikit_learn_says_why_the_data_are_random():
    result = run_without("sklearn", "train", "mlp", "--epochs", "1")
    assert result.returncode == 0, result.stderr
    assert "random data of its shapes (the iris flowers need scikit-learn" in result.stdout
    assert "no accuracy" in result.stdout and not re.search(r"^accuracy", result.stdout, re.M)
