"""The README's commands are the ones CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    cmd = next(line for line in ci if line.startswith("pip install"))
    assert cmd in (ROOT / "README.md").read_text()
    assert "pytest" in cmd and "torch==2.13.0" in cmd
