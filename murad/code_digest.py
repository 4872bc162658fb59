"""The murad code a workflow stage runs, as one digest, so that Snakemake re-runs a stage when that code changes.

Snakemake re-runs a job when its script (``workflow/scripts/*.py``), params, inputs or software environment changed,
but it does not look into the murad package that the scripts call. So every rule passes
``murad_code_digest(<its script>)`` as a param: an edit to murad code the stage runs changes the param, Snakemake
re-runs the stage, and whatever uses its outputs follows.

What a stage runs is read from the source, statically. It starts at the names the script imports from murad and
takes each one's whole definition (a function, class, constant or import), then follows every name that definition
uses and that murad defines: definitions of the same module, names imported from other murad modules (at the top of
a module or inside a function), and ``module.name`` on an imported murad module (a module used other than through
``.name`` counts whole). A module's top-level statements that define nothing (``matplotlib.use("Agg")``) count with
every definition taken from it. Which names a function uses comes from Python's own symbol table, so its local
variables and parameters never pull in a same-named definition.

The digest is taken over the syntax trees without docstrings: comments, docstrings, blank lines and formatting
change nothing; any other edit of a definition the stage reaches (a line of code, a constant, a default argument,
an import) re-runs it. Code reached only dynamically (``getattr`` with a computed name, ``importlib``) would not be
followed; murad has none.
"""

from __future__ import annotations

import ast
import hashlib
import symtable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PACKAGE = "murad"

# What a name refers to: a module (name None) or one name in a module; the module may be outside murad.
Target = tuple[str, str | None]


@dataclass
class Module:
    name: str  # dotted, "murad.metrics"
    package: str  # the package its relative imports start from: "murad" for murad/metrics.py and murad/__init__.py
    definitions: dict[str, list[ast.stmt]] = field(default_factory=dict)  # top-level name -> the statements binding it
    imports: dict[str, Target] = field(default_factory=dict)  # top-level name -> what its import binds
    preamble: list[ast.stmt] = field(default_factory=list)  # top-level statements that define nothing by name
    scopes: dict[tuple[str, int], symtable.SymbolTable] = field(default_factory=dict)  # (def name, line) -> scope


def murad_code_digest(script: str | Path, package_dir: str | Path) -> str:
    """A short hex digest of every murad definition that ``script`` reaches in the package at ``package_dir``."""
    code = reached_code(script, package_dir)
    text = "\n".join(f"{key}\n{value}" for key, value in sorted(code.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reached_code(script: str | Path, package_dir: str | Path) -> dict[str, str]:
    """Every murad definition ``script`` reaches, as ``{"murad.train.train_model#0": <its syntax tree>}`` (also
    ``"<module>:"`` for a module's definition-free statements and ``"<module>.<name>="`` for an import binding)."""
    tree = ast.parse(Path(script).read_text(), str(script))
    entries = [target for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
               for target in _import_bindings(node, "").values()]
    return Package(Path(package_dir).resolve()).reach(entries)


class Package:
    """The murad modules under one folder."""

    def __init__(self, folder: Path):
        self.folder = folder

    def module(self, name: str) -> Module | None:
        """The module ``name`` (``murad.x``), or None where the folder has no such file."""
        relative = name.split(".")[1:]
        for path in (self.folder.joinpath(*relative).with_suffix(".py") if relative else None,
                     self.folder.joinpath(*relative, "__init__.py")):
            if path is not None and path.is_file():
                stat = path.stat()
                return _parse_module(path, name, stat.st_mtime_ns, stat.st_size)
        return None

    def reach(self, entries: list[Target]) -> dict[str, str]:
        parts: dict[str, str] = {}  # what the stage reaches, each by a key naming it
        pending = [followed for target in entries for followed in self._follow(target)]
        seen: set[Target] = set()
        while pending:
            target = pending.pop()
            if target in seen:
                continue
            seen.add(target)
            module = self.module(target[0])
            if module is None:
                continue
            if module.preamble and f"{module.name}:" not in parts:
                parts[f"{module.name}:"] = "\n".join(_dump(statement) for statement in module.preamble)
                for statement in module.preamble:
                    pending.extend(self._uses(module, statement))
            names = [*module.definitions, *module.imports] if target[1] is None else [target[1]]
            for name in names:
                if name in module.imports:  # the binding itself counts: `np = numpy` is part of the code
                    parts[f"{module.name}.{name}="] = ":".join(map(str, module.imports[name]))
                    # a module bound to a name is taken whole only with its whole importer; _uses takes what of it
                    # each definition uses
                    pending.extend(followed for followed in self._follow(module.imports[name])
                                   if followed[1] is not None or target[1] is None)
                for index, statement in enumerate(module.definitions.get(name, [])):  # (positions never count)
                    parts[f"{module.name}.{name}#{index}"] = _dump(statement)
                    pending.extend(self._uses(module, statement))
        return parts

    def _follow(self, target: Target) -> list[Target]:
        """``target`` as murad definitions to take (none outside murad); a submodule imported by name
        (``from . import cam``) is that module."""
        module_name, name = target
        if not _inside(module_name):
            return []
        if name is not None and self.module(f"{module_name}.{name}") is not None:
            return [(f"{module_name}.{name}", None)]
        return [target]

    def _uses(self, module: Module, statement: ast.stmt) -> list[Target]:
        """What ``statement``, a top-level statement of ``module``, refers to in murad."""
        local_imports: dict[str, Target] = {}
        for node in ast.walk(statement):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and node is not statement:
                local_imports.update(_import_bindings(node, module.package))
        attributes: dict[str, set[str]] = {}  # name -> the .attr used on it
        attribute_bases = set()
        for node in ast.walk(statement):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                attributes.setdefault(node.value.id, set()).add(node.attr)
                attribute_bases.add(id(node.value))
        bare = {node.id for node in ast.walk(statement)
                if isinstance(node, ast.Name) and id(node) not in attribute_bases}

        targets: list[Target] = []
        for name in self._global_names(module, statement) | set(local_imports):
            if name in local_imports:
                bound = local_imports[name]
            elif name in module.definitions or name in module.imports:
                targets.append((module.name, name))
                bound = module.imports.get(name)
                if bound is None:
                    continue
            else:
                continue  # a builtin, or a name bound only at run time
            for followed_module, followed_name in self._follow(bound):
                if followed_name is None:  # a murad module: `cams.compute_maps` takes only what is used
                    if name in bare:
                        targets.append((followed_module, None))
                    else:
                        targets.extend((followed_module, attribute) for attribute in attributes.get(name, ()))
                elif name in local_imports:  # (a top-level import's name is followed by reach())
                    targets.append((followed_module, followed_name))
        return targets

    def _global_names(self, module: Module, statement: ast.stmt) -> set[str]:
        """Module-level names ``statement`` uses: for a def or class, its symbol table's globals plus what its
        decorators, defaults, annotations and bases use (they run in the module's scope); otherwise every name."""
        if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return {node.id for node in ast.walk(statement) if isinstance(node, ast.Name)}
        outside: list[ast.AST] = list(statement.decorator_list)
        if isinstance(statement, ast.ClassDef):
            outside += statement.bases + statement.keywords
        else:
            arguments = statement.args
            outside += arguments.defaults + [d for d in arguments.kw_defaults if d is not None]
            outside += [a.annotation for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                               arguments.vararg, arguments.kwarg) if a is not None and a.annotation]
            if statement.returns is not None:
                outside.append(statement.returns)
        names = {node.id for tree in outside for node in ast.walk(tree) if isinstance(node, ast.Name)}
        scope = module.scopes.get((statement.name, statement.lineno))
        if scope is None:  # not found in the symbol table: take every name (only ever more, never less)
            return names | {node.id for node in ast.walk(statement) if isinstance(node, ast.Name)}
        return names | _globals_used(scope)


def _globals_used(scope: symtable.SymbolTable) -> set[str]:
    names = {symbol.get_name() for symbol in scope.get_symbols() if symbol.is_global() and symbol.is_referenced()}
    for child in scope.get_children():
        names |= _globals_used(child)
    return names


def _inside(module_name: str) -> bool:
    return module_name == PACKAGE or module_name.startswith(PACKAGE + ".")


def _import_bindings(node: ast.Import | ast.ImportFrom, package: str) -> dict[str, Target]:
    """The names an import statement binds and what each refers to; relative imports start from ``package``."""
    bindings: dict[str, Target] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:  # `import murad.metrics` binds `murad`; `import murad.metrics as m`, `m`
            top = alias.name.split(".")[0]
            bindings[alias.asname or top] = (alias.name if alias.asname else top, None)
        return bindings
    if node.level:
        parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    for alias in node.names:
        if alias.name != "*":
            bindings[alias.asname or alias.name] = (base, alias.name)
    return bindings


@lru_cache(maxsize=None)
def _parse_module(path: Path, name: str, mtime_ns: int, size: int) -> Module:
    """The module ``name`` from ``path``, parsed once per version of the file (its mtime and size are the key)."""
    source = path.read_text()
    tree = _without_docstrings(ast.parse(source, str(path)))
    module = Module(name, package=name if path.name == "__init__.py" else name.rpartition(".")[0])
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            module.definitions.setdefault(statement.name, []).append(statement)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        module.definitions.setdefault(node.id, []).append(statement)
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            if not (isinstance(statement, ast.ImportFrom) and statement.module == "__future__"):
                module.imports.update(_import_bindings(statement, module.package))
        else:  # if / try / with / an expression at top level: always part of the module's code
            module.preamble.append(statement)
    top = symtable.symtable(source, str(path), "exec")
    module.scopes = {(child.get_name(), child.get_lineno()): child for child in top.get_children()}
    return module


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


def _dump(node: ast.AST) -> str:
    """The node's structure: its type and non-empty fields, without positions (so formatting never counts, and a
    Python release that adds a field that is empty here does not change the digest)."""
    if isinstance(node, ast.AST):
        fields = []
        for name, value in ast.iter_fields(node):
            if value is None or value == []:
                continue
            fields.append(f"{name}={_dump(value)}")
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, list):
        return "[" + ", ".join(_dump(item) for item in node) + "]"
    return repr(node)
