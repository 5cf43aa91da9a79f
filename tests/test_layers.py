"""The package's layers, checked on every import the code makes (function-level and TYPE_CHECKING ones included).

    base <- api <- engine <- {kit, run} <- report <- commands;  testing <- {api, kit, run}
    plugins/ import only `lvrbench.api` and `lvrbench.kit`, like a third party

A module may import its own layer and the layers its row allows; no module-level import circle anywhere.
"""
from __future__ import annotations

import ast
from pathlib import Path

import lvrbench.api
import lvrbench.kit

REPO = Path(__file__).resolve().parents[1]
#: Which folders of lvrbench/ each folder may import (besides the standard library and third parties).
ALLOWED = {
    "base": {"base"},
    "api": {"base", "api"},
    "engine": {"base", "api", "engine"},
    "kit": {"base", "api", "engine", "kit"},
    "run": {"base", "api", "engine", "run"},
    "report": {"base", "api", "engine", "kit", "run", "report"},
    "commands": {"base", "api", "engine", "kit", "run", "report", "commands", "testing"},
    "testing": {"base", "api", "engine", "kit", "run", "testing"},
}
#: Deprecated 0.4 paths kept for one release: they may import anything, and nothing may import them.
SHIMS = {"lvrbench.kinds", "lvrbench.networks", "lvrbench.priors", "lvrbench.registry", "lvrbench.training"}
#: The package root holds the version only; its one lazy import is the deprecated `lvrbench.hookimpl`.
ROOT_ALLOWED = {"lvrbench.api.hookspecs"}
#: What a plugin may import: the two public faces and the modules they offer whole (`from lvrbench.kit import headlines`).
PUBLIC = {"lvrbench.api", "lvrbench.kit", *(f"lvrbench.api.{m}" for m in lvrbench.api._MODULES),
          *(f"lvrbench.kit.{m}" for m in lvrbench.kit._MODULES)}


def modules() -> dict[str, Path]:
    """Every module of lvrbench and of the first-party plugins, by dotted name."""
    out = {}
    for path in sorted((REPO / "lvrbench").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in sorted((REPO / "plugins").glob("*.py")):
        out["lvrbench_plugins" + ("" if path.stem == "__init__" else f".{path.stem}")] = path
    return out


def imports(name: str, path: Path) -> list[tuple[int, str, bool]]:
    """(line, imported module, at module level) for every lvrbench import in a module, relative ones resolved.

    `from X import y` counts as importing X.y where X.y is a module, else X."""
    known = modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = ast.parse(path.read_text())
    level0 = {id(n) for n in top.body} | {id(n) for stmt in top.body if isinstance(stmt, ast.If) for n in stmt.body}
    out = []
    for node in ast.walk(top):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out += [(node.lineno, t, id(node) in level0) for t in targets if t.split(".")[0] in ("lvrbench", "lvrbench_plugins")]
    return out


def folder(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "lvrbench" and len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_every_import_points_down_the_layers():
    wrong = []
    for name, path in modules().items():
        for line, target, _ in imports(name, path):
            where = f"{path.relative_to(REPO)}:{line} imports {target}"
            if target in SHIMS and name not in SHIMS:
                wrong.append(f"{where}, a deprecated path")
            elif name.startswith("lvrbench_plugins"):
                if target not in PUBLIC:
                    wrong.append(f"{where}: a plugin imports lvrbench.api and lvrbench.kit only")
            elif name in SHIMS:
                continue
            elif name == "lvrbench":
                if target not in ROOT_ALLOWED:
                    wrong.append(f"{where}: the package root holds the version only")
            elif name == "lvrbench.__main__":
                if not target.startswith("lvrbench.commands"):
                    wrong.append(where)
            else:
                mine, theirs = folder(name), folder(target)
                if target == "lvrbench":
                    continue  # the root holds only the version: a leaf
                if theirs is None or theirs not in ALLOWED[mine]:
                    wrong.append(f"{where}: {mine} may import {', '.join(sorted(ALLOWED[mine]))} only")
    assert wrong == []


def test_no_module_level_import_circle():
    graph = {name: {t for _, t, top in imports(name, path) if top and t in modules() and t != name}
             for name, path in modules().items()}
    circles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_the_checks_catch_an_arrow_up(tmp_path, monkeypatch):
    """The walker sees function-level and TYPE_CHECKING imports, and an arrow up fails (a check that cannot fail
    proves nothing)."""
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..run.env import RunEnv\n"
              "def f():\n    from ..report.pages import build\n")
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = [(t, top) for _, t, top in imports("lvrbench.api.probe", path)]
    assert found == [("lvrbench.run.env", True), ("lvrbench.report.pages", False)]
    assert all(folder(t) not in ALLOWED["api"] for t, _ in found)


def test_plugin_code_is_caught_in_one_place():
    """Plugin failures are caught by `lvrbench.base.guard.guarded` alone: any other `except BaseException` re-raises
    (a cleanup), so no caller keeps its own pair."""
    own = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Name) and node.type.id == "BaseException":
                reraises = bool(node.body) and isinstance(node.body[-1], ast.Raise) and node.body[-1].exc is None
                if name != "lvrbench.base.guard" and not reraises:
                    own.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert own == []
