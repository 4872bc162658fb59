"""The house measures of the murad package, counted with ``ast``: the longest functions and the largest modules (in
lines, docstrings and comments included), against the house's limits of 80 and 450 lines.

    python benchmarks/house.py [--top 5]
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "murad"
FUNCTION_LIMIT, MODULE_LIMIT = 80, 450


def measures(package: Path = PACKAGE) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(lines, function) for every function and method, (lines, module) for every module, longest first."""
    functions, modules = [], []
    for path in sorted(package.rglob("*.py")):
        source = path.read_text()
        name = path.relative_to(package.parent).as_posix()
        modules.append((len(source.splitlines()), name))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
                functions.append((node.end_lineno - start + 1, f"{name}:{node.name}"))
    return sorted(functions, reverse=True), sorted(modules, reverse=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)
    functions, modules = measures()
    for title, rows, limit in (("functions", functions, FUNCTION_LIMIT), ("modules", modules, MODULE_LIMIT)):
        print(f"longest {title} (limit {limit} lines):")
        for lines, name in rows[: args.top]:
            print(f"  {lines:5d}  {name}{'  OVER' if lines > limit else ''}")


if __name__ == "__main__":
    main()
