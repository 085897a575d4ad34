"""The shape of the package: no import cycles, one name per module, small modules, and a
``docs/architecture.md`` that names only folders and modules that exist."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ragterm"
MAX_LINES = 400

# Modules still over MAX_LINES, at their current length. Shrink-only: a listed module may not
# grow, and once it is under MAX_LINES it must leave this list (the test says so).
TOO_LONG: dict[str, int] = {}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: Path) -> dict[str, Path]:
    return {_module_name(p, package.parent): p for p in sorted(package.rglob("*.py"))}


def _resolve(module: str | None, level: int, here: str, is_package: bool) -> str:
    """The absolute name of ``from <level dots><module> import ...`` written in ``here``."""
    if level == 0:
        return module or ""
    base = here.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of ours."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the project modules it imports, wherever the import statement sits (top level,
    inside a function, under ``TYPE_CHECKING``)."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node.module, node.level, name, is_package)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in modules else base)
            for target in targets:
                found = _known(target, modules)
                if found and found != name:
                    graph[name].add(found)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_one_cycle(graph, set(c)) for c in components]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A path start -> ... -> start inside the component, to print."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return sorted(component)  # unreachable for a strongly connected component


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_and_type_checking_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import X\n"
    )
    (pkg / "c.py").write_text("import pkg.a\nimport os\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.c"] == {"pkg.a"}
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_module_names_are_unique():
    """A name says what a module holds, once: no two ``chat.py`` in different folders."""
    names = Counter()
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if path.name in ("__init__.py", "__main__.py"):
            name = path.parent.name  # a package's name counts too
        else:
            name = path.stem
        names[name] += 1
        where.setdefault(name, []).append(rel)
    dupes = {n: where[n] for n, c in names.items() if c > 1 and not _is_package_init_only(where[n])}
    assert dupes == {}


def _is_package_init_only(paths: list[str]) -> bool:
    # a package's __init__.py and __main__.py name the same package
    return len({str(Path(p).parent) for p in paths}) == 1


def _too_long() -> dict[str, int]:
    sizes = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        sizes[str(path.relative_to(ROOT))] = lines
    return sizes


def test_modules_stay_small():
    sizes = _too_long()
    over = {p: n for p, n in sizes.items() if n > MAX_LINES and p not in TOO_LONG}
    assert over == {}, f"modules over {MAX_LINES} lines: split them"
    grew = {p: (sizes.get(p), limit) for p, limit in TOO_LONG.items() if sizes.get(p, 0) > limit}
    assert grew == {}, "listed modules grew (now, allowed): split them instead"
    done = [p for p, limit in TOO_LONG.items() if sizes.get(p, 0) <= MAX_LINES]
    assert done == [], f"under {MAX_LINES} lines now (or gone): remove from TOO_LONG"


DOC = ROOT / "docs" / "architecture.md"


def _doc_tree() -> tuple[list[str], list[str]]:
    """The folders the tree in docs/architecture.md draws (rebuilt from its indentation), and the
    modules each line's description names in that folder."""
    block = DOC.read_text(encoding="utf-8").split("```\n")[1]
    folders: list[str] = []
    modules: list[str] = []
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        name, _, described = line.strip().partition(" ")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        here = "".join(n for _, n in stack)
        if name.endswith("/"):
            stack.append((indent, name))
            folders.append(here + name)
            here += name
        elif name.endswith(".py"):
            modules.append(here + name)
        modules += [here + m for m in re.findall(r"(?<![\w<>/])(\w+\.py)\b", described)]
    return folders, modules


def test_architecture_page_draws_every_package():
    folders, _ = _doc_tree()
    packages = sorted(str(p.parent.relative_to(ROOT)) + "/" for p in PACKAGE.rglob("__init__.py"))
    assert sorted(set(packages) - set(folders)) == [], "packages missing from the tree"
    assert [f for f in folders if not (ROOT / f).is_dir()] == [], "folders that do not exist"


def test_architecture_page_names_only_modules_that_exist():
    """Paths in backticks exist: in full (``ragterm/...``, ``tests/...``) or as the tail of a
    path in the package (``parse/``, ``store/chats.py``)."""
    _, modules = _doc_tree()
    assert modules, "the tree names no module"
    missing = [m for m in modules if not (ROOT / m).exists()]
    known = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*") if "__pycache__" not in p.parts]
    known += [k + "/" for k in known]
    for token in re.findall(r"`([\w./<>]+)`", DOC.read_text(encoding="utf-8")):
        if "/" not in token or "<" in token or token.startswith("/"):
            continue  # not a path, a pattern (<name>_cmd.py) or a slash command
        if (ROOT / token).exists() or any(k.endswith("/" + token) for k in known):
            continue
        missing.append(token)
    assert sorted(set(missing)) == []


LAZY = re.compile(r"#\s*lazy:")
LAZY_PENDING: set[str] = set()


def _says_why(lines: list[str], node: ast.stmt) -> bool:
    """``# lazy: why`` on the import's line, or above the group of imports it belongs to."""
    i = node.lineno - 1
    if LAZY.search(lines[i]):
        return True
    for text in (line.strip() for line in reversed(lines[:i])):
        if LAZY.search(text):
            return True
        continuing = text.endswith((",", "(")) or text == ")"  # a parenthesised import
        if not (text == "" or text.startswith(("from ", "import ", "#")) or continuing):
            return False
    return False


def test_imports_inside_functions_say_why():
    """An import inside a function is there to keep start-up fast (or because a module exists
    only on some platforms), and a ``# lazy: ...`` comment says which."""
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel in LAZY_PENDING:
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for func in ast.walk(ast.parse(text)):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                missing += [
                    f"{rel}:{node.lineno}"
                    for node in ast.walk(func)
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and not _says_why(lines, node)
                ]
    assert sorted(set(missing)) == []


def test_the_lazy_check_wants_a_reason():
    code = (
        "def f():\n"
        "    import os\n"
        "    x = 1\n"
        "    # lazy: torch is slow to import\n"
        "    import torch\n"
        "\n"
        "    from numpy import (\n"
        "        array,\n"
        "    )\n"
        "    from gguf import GGUFReader  # lazy: gguf brings numpy\n"
    )
    lines = code.splitlines()
    found = [n for n in ast.walk(ast.parse(code)) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert {n.lineno: _says_why(lines, n) for n in found} == {2: False, 5: True, 7: True, 10: True}
