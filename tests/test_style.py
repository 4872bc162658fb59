"""The house style, checked with the pinned tools: ruff (lint and format) over the Python, snakefmt and Snakemake's
linter over the rules; and every package that murad imports declared as a dependency."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from .conftest import REPO

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["snakefmt", "--check", "Snakefile", "workflow"]],
    ids=["ruff-check", "ruff-format", "snakefmt"],
)
def test_style(command):
    done = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, f"`{' '.join(command)}` (fix with the same tool):\n{done.stdout}{done.stderr}"


def imported_packages(package_dir: Path) -> set[str]:
    """Top-level names of every module the package imports, at module level or inside functions."""
    names = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__", "murad"}


def test_every_imported_package_is_declared():
    declared = {
        name.lower() for name in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    distributions = packages_distributions()
    missing = {
        module: distributions.get(module)
        for module in imported_packages(REPO / "murad")
        if not {d.lower() for d in distributions.get(module, [module])} & declared
    }
    assert not missing, f"imported by murad but not in pyproject.toml's dependencies: {missing}"


def test_snakemake_lint_finds_nothing(tmp_path):
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    done = subprocess.run(
        [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "Congratulations" in done.stdout + done.stderr, done.stdout + done.stderr


def test_no_function_or_module_of_the_package_is_over_the_house_limits():
    spec = importlib.util.spec_from_file_location("house", REPO / "benchmarks/house.py")
    house = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(house)
    functions, modules = house.measures()
    assert functions[0][0] <= house.FUNCTION_LIMIT, functions[:3]
    assert modules[0][0] <= house.MODULE_LIMIT, modules[:3]
