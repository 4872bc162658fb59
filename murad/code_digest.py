"""The murad code a workflow stage runs, as one digest, so that Snakemake re-runs a stage when that code changes.

Snakemake re-runs a job when its script (``workflow/scripts/*.py``), params, inputs or software environment changed,
but it does not look into the murad package that the scripts call. So every rule passes
``murad_code_digest(<its script>)`` as a param: an edit to murad code the stage runs changes the param, Snakemake
re-runs the stage, and whatever uses its outputs follows.

What a stage runs is read from the source, statically. It starts at what the script imports from murad and takes
each name's whole definition (a function, class, constant or import), then follows every name that definition uses
and that murad defines: definitions of the same module, names imported from other murad modules (at the top of a
module or inside a function, through any number of re-imports), and ``module.name`` on an imported murad module.
A module used other than through ``.name`` (``import murad.x``, ``from .x import *``, passed around) counts whole,
as does a module's code outside definitions (``matplotlib.use("Agg")``) with any definition taken from it. Which
names a function uses comes from Python's own symbol table, so its local variables and parameters never pull in a
same-named definition. A data file of the package counts where reached code reads it as murad does,
``resources.files("murad.reference").joinpath(<file name, or an f-string matching it>)``: by its content.

The digest is taken over the syntax trees without docstrings: comments, docstrings, blank lines and formatting
change nothing; any other edit of a definition the stage reaches (a line of code, a constant, a default argument,
an import) re-runs it, including an edit to a part of a constant (one entry of a table) the stage does not read.
Code reached only at run time is not followed: ``getattr`` with a computed name, ``importlib``, a registry that
decorators fill; murad has none of these.

Snakemake parses the workflow on every command, so the digests are kept in a cache file (the workflow's is in the
working directory's ``.snakemake/``): a command that finds the script and the package's files as they were (path,
size and modification time) reads them from there and analyses nothing.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import symtable
import uuid
from dataclasses import dataclass, field
from functools import cache
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
    star_imports: list[str] = field(default_factory=list)  # modules it imports everything of (`from .x import *`)
    scopes: dict[tuple[str, int], symtable.SymbolTable] = field(default_factory=dict)  # (def name, line) -> scope


def murad_code_digest(script: str | Path, package_dir: str | Path, cache: str | Path | None = None) -> str:
    """A short hex digest of every murad definition that ``script`` reaches in the package at ``package_dir``.

    With ``cache`` (a JSON file), a digest taken before of the same files is read from there instead of being taken
    anew: the same files are the script and every file of the package, each at the same path with the same size and
    modification time (ns), what Python's own bytecode cache trusts (to the second). A cache that cannot be read is
    taken anew; one that cannot be written is left as it is (the digest is the same either way)."""
    if cache is None:
        return _digest(script, package_dir)
    cache = Path(cache)
    package_key, script_key = _file_states(package_dir), _file_states(script)
    stored = _read_cache(cache)
    scripts = stored["scripts"] if stored.get("package") == package_key else {}
    digest = scripts.get(script_key)
    if not isinstance(digest, str):
        digest = _digest(script, package_dir)
        _write_cache(cache, {"package": package_key, "scripts": {**scripts, script_key: digest}})
    return digest


def _digest(script: str | Path, package_dir: str | Path) -> str:
    code = reached_code(script, package_dir)
    text = "\n".join(f"{key}\n{value}" for key, value in sorted(code.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_states(path: str | Path) -> str:
    """The path of ``path`` and, for it or each file under it (``__pycache__`` aside), its size and modification
    time in ns, as one hash."""
    root = Path(path).resolve()
    states = [str(root)]
    for folder, folders, files in os.walk(root) if root.is_dir() else [(root.parent, [], [root.name])]:
        folders[:] = sorted(name for name in folders if name != "__pycache__")
        for name in sorted(files):
            try:
                stat = os.stat(Path(folder, name))
            except OSError:  # gone since the listing (an editor's temporary file): then it is not code
                continue
            states.append(f"{Path(folder, name).relative_to(root)}\t{stat.st_size}\t{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(states).encode(errors="surrogateescape")).hexdigest()  # (any bytes)


def _read_cache(cache: Path) -> dict:
    try:
        stored = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) and isinstance(stored.get("scripts"), dict) else {}


def _write_cache(cache: Path, stored: dict) -> None:
    """Write ``stored`` to ``cache`` whole (a reader never sees half of it), or leave it as it is."""
    temporary = cache.with_name(f".{cache.name}.{uuid.uuid4().hex}")  # (its own name: another parse may write too)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "x") as file:  # (with the user's umask, as Snakemake's own records are)
            json.dump(stored, file)
        os.replace(temporary, cache)
    except OSError:
        with contextlib.suppress(OSError):  # (not made, or its folder is not one)
            temporary.unlink()


def reached_code(script: str | Path, package_dir: str | Path) -> dict[str, str]:
    """Every murad definition ``script`` reaches, as ``{"murad.train.train_model#0": <its syntax tree>}``; also
    ``"<module>:"`` for a module's definition-free statements, ``"<module>.<name>="`` for an import binding and
    ``"file:<path>"`` (its content's hash) for a data file of the package that reached code names."""
    entries: list[Target] = []
    for node in ast.walk(ast.parse(Path(script).read_text(), str(script))):
        if isinstance(node, ast.Import):  # `import murad.jobs`: that module, whole
            entries += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            entries += _import_bindings(node, "").values()
            entries += [(_import_base(node, ""), None)] if any(alias.name == "*" for alias in node.names) else []
    return package(Path(package_dir).resolve()).reach(entries)


@cache
def package(folder: Path) -> Package:
    """The one :class:`Package` of ``folder`` in this process: Snakemake's parse asks it for every rule's digest, and
    each statement's analysis is done once, not once per rule that reaches it."""
    return Package(folder)


class Package:
    """The murad modules under one folder. Each statement's references and dump are kept (with the statement, so
    its id is never reused) until its module's file changes, which parses it anew."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._analysed: dict[int, tuple] = {}
        self._modules: dict[str, Module | None] = {}  # looked up in this reach (files are stat'ed once per reach)

    @property
    def data_files(self) -> list[Path]:
        return sorted(
            path
            for path in self.folder.rglob("*")
            if path.is_file() and path.suffix != ".py" and "__pycache__" not in path.parts
        )

    def _analysis(self, module: Module, statement: ast.stmt) -> tuple[list[Target], list[Target], str, tuple]:
        """What ``statement`` refers to in murad, the import bindings it goes through, its dump and the strings that
        could name a data file (:meth:`_data_parts`); once."""
        if id(statement) not in self._analysed:
            nodes = list(ast.walk(statement))  # walked once: every question below is asked of this list
            analysis = (*self._uses(module, statement, nodes), _dump(statement), _file_names(nodes))
            self._analysed[id(statement)] = (statement, *analysis)
        return self._analysed[id(statement)][1:]

    def module(self, name: str) -> Module | None:
        """The module ``name`` (``murad.x``), or None where the folder has no such file."""
        if name not in self._modules:
            self._modules[name] = self._find_module(name)
        return self._modules[name]

    def _find_module(self, name: str) -> Module | None:
        relative = name.split(".")[1:]
        for path in (
            self.folder.joinpath(*relative).with_suffix(".py") if relative else None,
            self.folder.joinpath(*relative, "__init__.py"),
        ):
            if path is not None and path.is_file():
                stat = path.stat()
                return _parse_module(path, name, stat.st_mtime_ns, stat.st_size)
        return None

    def reach(self, entries: list[Target]) -> dict[str, str]:
        parts: dict[str, str] = {}  # what the stage reaches, each by a key naming it
        pending: list[Target] = []
        data_files = self.data_files
        self._modules = {}  # a file edited since the last reach is parsed anew
        for entry in entries:
            end, passed = self._resolve(entry)
            pending += [end] if end else []
            parts.update(self._binding_parts(passed))
        seen: set[Target] = set()
        while pending:
            target = pending.pop()
            if target in seen:
                continue
            seen.add(target)
            module = self.module(target[0])
            if module is None:
                continue
            statements = []
            if (module.name, "") not in seen:  # the module's own code runs whenever any of it is used
                seen.add((module.name, ""))
                if module.preamble:
                    parts[f"{module.name}:"] = "\n".join(self._analysis(module, s)[2] for s in module.preamble)
                statements += module.preamble
                pending += [(star, None) for star in module.star_imports]
            names = [*module.definitions, *module.imports] if target[1] is None else [target[1]]
            for name in names:
                if name in module.imports:
                    parts.update(self._binding_parts([(module.name, name)]))
                for index, statement in enumerate(module.definitions.get(name, [])):  # (positions never count)
                    parts[f"{module.name}.{name}#{index}"] = self._analysis(module, statement)[2]
                    statements.append(statement)
            for statement in statements:
                uses, passed, _, names = self._analysis(module, statement)
                pending += uses
                parts.update(self._binding_parts(passed))
                parts.update(self._data_parts(names, data_files))
        return parts

    def _binding_parts(self, bindings: list[Target]) -> dict[str, str]:
        """The import bindings a stage's code goes through: `np = numpy` is part of the code."""
        found = {}
        for module_name, name in bindings:
            module = self.module(module_name)
            if module is not None and name in module.imports:
                found[f"{module_name}.{name}="] = ":".join(map(str, module.imports[name]))
        return found

    def _data_parts(self, names: tuple[set[str], list[str]], data_files: list[Path]) -> dict[str, str]:
        """The package's data files a statement reads the way murad does, ``resources.files("murad.reference")``
        with a file name (an f-string's pattern too; ``names``: :func:`_file_names`): each as the hash of its
        content (the paper's tables)."""
        texts, patterns = names
        found = {}
        for path in data_files:
            package = ".".join([PACKAGE, *path.parent.relative_to(self.folder).parts])
            if package in texts and any(re.fullmatch(pattern, path.name) for pattern in patterns):
                relative = path.relative_to(self.folder).as_posix()
                found[f"file:{relative}"] = hashlib.sha256(path.read_bytes()).hexdigest()  # (content only)
        return found

    def _resolve(self, target: Target) -> tuple[Target | None, list[Target]]:
        """What ``target`` is in murad: a definition ``(module, name)``, a whole module ``(module, None)``, or None
        (outside murad, or no such thing); and the import bindings passed on the way (``from .a import b`` where
        ``a`` itself imported ``b``)."""
        passed: list[Target] = []
        while _inside(target[0]):
            module_name, name = target
            if name is not None and self.module(f"{module_name}.{name}") is not None:  # `from . import cam`
                return (f"{module_name}.{name}", None), passed
            module = self.module(module_name)
            if module is None:
                return None, passed
            if name is None or name in module.definitions or name not in module.imports or target in passed:
                return target, passed
            passed.append(target)
            target = module.imports[name]
        return None, passed

    def _uses(self, module: Module, statement: ast.stmt, nodes: list[ast.AST]) -> tuple[list[Target], list[Target]]:
        """What ``statement``, a top-level statement of ``module`` (``nodes``: all its nodes), refers to in murad,
        and the import bindings it goes through."""
        local_imports: dict[str, Target] = {}
        attributes: dict[str, set[str]] = {}  # name -> the .attr used on it
        attribute_bases = set()
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)) and node is not statement:
                local_imports.update(_import_bindings(node, module.package))
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                attributes.setdefault(node.value.id, set()).add(node.attr)
                attribute_bases.add(id(node.value))
        names = {node.id for node in nodes if isinstance(node, ast.Name)}
        bare = {node.id for node in nodes if isinstance(node, ast.Name) and id(node) not in attribute_bases}

        uses: list[Target] = []
        passed: list[Target] = []
        for name in self._global_names(module, statement, names) | set(local_imports):
            if name in local_imports:
                bound = local_imports[name]
            elif name in module.definitions:
                uses.append((module.name, name))
                continue
            elif name in module.imports:
                bound = (module.name, name)
            else:
                continue  # a builtin, or a name bound only at run time
            end, through = self._resolve(bound)
            passed += through
            if end is None:
                continue
            if end[1] is not None or name in bare:  # a definition, or a module used as a whole
                uses.append(end)
                continue
            for attribute in attributes.get(name, ()):  # `cams.compute_maps`: only what is used of the module
                inner, through = self._resolve((end[0], attribute))
                passed += through
                uses += [inner] if inner else []
        return uses, passed

    def _global_names(self, module: Module, statement: ast.stmt, every_name: set[str]) -> set[str]:
        """Module-level names ``statement`` uses: for a def or class, its symbol table's globals plus what its
        decorators, defaults, annotations and bases use (they run in the module's scope); otherwise every name
        (``every_name``)."""
        if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return every_name
        outside: list[ast.AST] = list(statement.decorator_list)
        if isinstance(statement, ast.ClassDef):
            outside += statement.bases + statement.keywords
        else:
            arguments = statement.args
            outside += arguments.defaults + [d for d in arguments.kw_defaults if d is not None]
            outside += [
                a.annotation
                for a in (
                    *arguments.posonlyargs,
                    *arguments.args,
                    *arguments.kwonlyargs,
                    arguments.vararg,
                    arguments.kwarg,
                )
                if a is not None and a.annotation
            ]
            if statement.returns is not None:
                outside.append(statement.returns)
        names = {node.id for tree in outside for node in ast.walk(tree) if isinstance(node, ast.Name)}
        scope = module.scopes.get((statement.name, statement.lineno))
        if scope is None:  # not found in the symbol table: take every name (only ever more, never less)
            return names | every_name
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
    base = _import_base(node, package)
    for alias in node.names:
        if alias.name != "*":
            bindings[alias.asname or alias.name] = (base, alias.name)
    return bindings


def _import_base(node: ast.ImportFrom, package: str) -> str:
    """The module a ``from ... import`` imports from, a relative one resolved in ``package``."""
    if not node.level:
        return node.module or ""
    parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


@cache
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
                if isinstance(statement, ast.ImportFrom) and any(alias.name == "*" for alias in statement.names):
                    module.star_imports.append(_import_base(statement, module.package))
        else:  # if / try / with / an expression at top level: always part of the module's code
            module.preamble.append(statement)
    top = symtable.symtable(source, str(path), "exec")
    module.scopes = {(child.get_name(), child.get_lineno()): child for child in top.get_children()}
    return module


def _file_names(nodes: list[ast.AST]) -> tuple[set[str], list[str]]:
    """The strings among a statement's ``nodes`` (a package's name among them) and, as patterns, its strings and
    f-strings."""
    texts, patterns = set(), []
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.add(node.value)
            patterns.append(re.escape(node.value))
        elif isinstance(node, ast.JoinedStr):
            patterns.append(
                "".join(re.escape(part.value) if isinstance(part, ast.Constant) else ".+" for part in node.values)
            )
    return texts, patterns


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
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
