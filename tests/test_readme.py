"""The README's examples stay true."""

import re
from pathlib import Path

import sympy as sp

import symbp as sb

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def test_readme_derivation_output_is_current():
    code = _blocks("python")[0]
    namespace = {"sp": sp, "sb": sb, "print": lambda *a: None}
    exec(code, namespace)
    assert str(namespace["d"]) + "\n" in _blocks("text")


def test_readme_quick_start_is_the_two_commands():
    quick = _blocks("bash")[0]
    assert 'pip install ".[test]" && symbp demo' in quick
    assert 'pip install ".[test]" && pytest' in quick
