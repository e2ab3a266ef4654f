"""The import contract of `make check` (pyproject.toml, [tool.importlinter]) holds, and it
fails on what it is there to stop: an import up the layers, and a circle inside an app.
Shown on a copy of the package with one line added, never on the package itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "plug2support", tmp_path / "plug2support",
                    ignore=shutil.ignore_patterns("__pycache__", "static", "templates",
                                                  "migrations"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=where, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(where)}, timeout=120,
                          check=False)


def add_line(module: Path, line: str) -> None:
    module.write_text(module.read_text() + f"\n{line}\n")


def test_the_package_keeps_its_layers_and_has_no_circles(copy: Path) -> None:
    result = lint(copy)
    assert result.returncode == 0, result.stdout
    assert "2 kept, 0 broken" in result.stdout


def test_an_import_up_the_layers_breaks_the_contract(copy: Path) -> None:
    """A helper of `lib` asking billing: the lowest layer importing one of the highest."""
    add_line(copy / "plug2support/lib/ids.py",
             "from plug2support.billing.access import communication_block  # noqa")
    result = lint(copy)
    assert result.returncode == 1
    assert "plug2support.lib is not allowed to import plug2support.billing" in " ".join(
        result.stdout.split())


def test_a_circle_inside_an_app_breaks_the_contract(copy: Path) -> None:
    """widgets/cache.py reads the business hours; the hours importing the cache back is the
    kind of circle (cache ↔ fastpath once) the second contract forbids."""
    add_line(copy / "plug2support/widgets/hours.py", "from . import cache  # noqa")
    result = lint(copy)
    assert result.returncode == 1
    assert "No cycles are allowed in plug2support.widgets" in " ".join(result.stdout.split())
