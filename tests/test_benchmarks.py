"""The benchmark harness runs (a smoke run; timings are never asserted in unit tests)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_its_report(tmp_path):
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "gradcost",
                             "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    assert "Gradient cost" in report and "python -m benchmarks" in report
