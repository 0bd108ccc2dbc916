"""The examples in symbp's docstrings run as written."""

import doctest
import importlib

import pytest

MODULES = ["symbp", "symbp.functions"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
