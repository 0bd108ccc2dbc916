"""The README runs as written.

Every ```python block of README.md runs, in order, in one namespace, in an empty temporary
working directory (which is also on ``sys.path``, so ``import mlp`` finds the file the README
emitted there), with the installed package.

Convention: a ```text or ```latex block separated from the ```python block before it by
blank lines only (no prose) is that block's output and must equal what it printed; a
python block that prints must have one. Other ```text blocks (the command reference) and
```console blocks (command output with timings) are illustrative and not run.
"""

import contextlib
import io
import re
import sys
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


def readme_blocks() -> list[tuple[str, str | None]]:
    """``(python source, expected output or None)`` for every python block, in order."""
    blocks, fences = [], list(FENCE.finditer(README))
    for k, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        expected = None
        if k + 1 < len(fences):
            after = fences[k + 1]
            if after.group(1) in ("text", "latex") and not README[fence.end():after.start()].strip():
                expected = after.group(2)
        blocks.append((fence.group(2), expected))
    return blocks


def test_every_python_block_runs_and_prints_what_the_readme_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mlp", raising=False)  # generated/mlp.py must not answer
    namespace = {"__name__": "readme"}
    blocks = readme_blocks()
    assert len(blocks) >= 5
    for number, (source, expected) in enumerate(blocks, start=1):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(source, f"README python block {number}", "exec"), namespace)
        if expected is None:
            assert out.getvalue() == "", f"block {number} prints but the README shows no output"
        else:
            assert out.getvalue() == expected, f"block {number}'s output differs from the README"
    assert not (tmp_path / "generated").exists()


def test_readme_quick_start_is_the_two_commands():
    quick = re.findall(r"```bash\n(.*?)```", README, re.S)[0]
    assert 'pip install ".[test]" && symbp demo' in quick
    assert 'pip install ".[test]" && pytest' in quick


def test_readme_links_the_bad_input_tables():
    assert "(docs/bad_inputs.md)" in README
    assert (Path(__file__).resolve().parent.parent / "docs" / "bad_inputs.md").is_file()
