"""The floors of coach, and the arrows allowed between them (docs/ARCHITECTURE.md).

Every import counts: at module level, inside functions, under TYPE_CHECKING. Only the
production packages (the wheel's, pyproject.toml) are checked; tests/, bench/ and tools/
may import anything. And no module outside tests/ (the packages, tools/, bench/, deploy/)
is over 300 lines.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
    "targets"
]["wheel"]["packages"]
FIRST_PARTY = {p.parent.name for p in REPO.glob("*/__init__.py")}

ALLOWED: dict[str, set[str]] = {
    # ground floors: the event contract and the WOD's rules import nothing of ours
    "events": set(),
    "wod": set(),
    # configuration: the settings and the values derived from them (roles use events' Role)
    "config": {"events"},
    # the projection: SQL and transactions live here only
    "store": {"events", "wod", "config"},
    # the two processes over the store; the api never sees Kafka, the consumer or a replay
    "api": {"events", "wod", "config", "store"},
    "consumer": {"events", "wod", "config", "store"},
    "replay": {"events", "wod", "config", "store", "consumer"},
    # the monolith's kit (installed by the Flask monolith): the contract only, never the
    # service, so that the monolith imports none of coach's service code
    "monolith_kit": {"events"},
    # progressive delivery (shadow gate, canary): an operator's tools over HTTP, nginx and
    # its access log; they may read the contract and the WOD's rules, never the service
    "rollout": {"events", "wod", "config"},
    # the command line and composition root: imports every floor, imported by none
    "coach": {"events", "wod", "config", "store", "api", "consumer", "replay", "rollout"},
}


def imported_packages(path: Path, package: str) -> dict[str, list[str]]:
    """First-party package -> the `module:line` imports of `path` that reach it."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [package if node.level else (node.module or "")]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in FIRST_PARTY and top != package:
                found.setdefault(top, []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_every_package_has_a_floor():
    assert set(PACKAGES) == set(ALLOWED), (
        f"pyproject's wheel packages and the floors differ: {sorted(set(PACKAGES) ^ set(ALLOWED))}"
    )


def test_each_package_imports_only_the_floors_below_it():
    wrong = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for target, where in imported_packages(path, package).items():
                if target not in ALLOWED[package]:
                    wrong += [f"{w}: {package} -> {target}" for w in where]
    assert not wrong, "imports across the floors:\n" + "\n".join(wrong)


def test_nothing_imports_the_composition_root():
    assert not any("coach" in allowed for p, allowed in ALLOWED.items() if p != "coach")


def test_the_floors_have_no_cycle():
    seen: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(package: str, path: list[str]) -> None:
        if seen.get(package) == 1:
            raise AssertionError("a cycle of floors: " + " -> ".join([*path, package]))
        if seen.get(package) == 2:
            return
        seen[package] = 1
        for target in ALLOWED[package]:
            visit(target, [*path, package])
        seen[package] = 2

    for package in ALLOWED:
        visit(package, [])


def test_the_domain_imports_only_the_standard_library():
    """wod/ is pure: no I/O library, no framework (sqlite3 and asyncio are stdlib, so
    they are named here)."""
    forbidden = {"sqlite3", "asyncio", "socket", "subprocess", "os"}
    wrong = []
    for path in sorted((REPO / "wod").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "wod" and (top not in sys.stdlib_module_names or top in forbidden):
                    wrong.append(f"{path.relative_to(REPO)}:{node.lineno}: {name}")
    assert not wrong, "wod/ imports beyond the standard library:\n" + "\n".join(wrong)


def test_sql_only_in_store():
    """Every statement and transaction goes through store/ (store/db.py for BEGIN, COMMIT,
    SAVEPOINT and pragmas). monolith_kit/ is not coach's: its SQL is the monolith's outbox
    in the monolith's PostgreSQL, on the monolith's connection."""
    calls = {"execute", "executemany", "executescript", "connect"}
    wrong = []
    for package in PACKAGES:
        if package in ("store", "monolith_kit"):
            continue
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in calls
                    and not (
                        isinstance(node.func.value, ast.Name)
                        and node.func.value.id != "sqlite3"
                        and node.func.attr == "connect"
                    )
                ):
                    wrong.append(f"{path.relative_to(REPO)}:{node.lineno}: .{node.func.attr}(")
    assert not wrong, "SQL outside store/:\n" + "\n".join(wrong)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The first-party modules `path` imports by name (every import, as above): `from a
    import b` reaches the module a.b when there is one, else a itself."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != name}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
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
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return cycles


def test_import_cycle_finder_finds_one():
    """The cycle finder itself: a -> b -> c -> a is found, a DAG gives nothing."""
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycle_between_modules():
    """No two modules of coach's packages import each other, directly or round a loop
    (every import counts, TYPE_CHECKING and function-level ones too): a cycle is a seam in
    the wrong place."""
    paths = [p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))]
    modules = {module_name(p) for p in paths}
    graph = {module_name(p): imported_modules(p, modules) for p in paths}
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


MAX_LINES = 300
NOT_PRODUCTION = {"tests", "site", "node_modules"}  # plus every hidden folder (.venv, .kafka...)


def production_modules() -> list[Path]:
    """Every Python file of the checkout outside tests/ (the packages, tools/, bench/,
    deploy/, rehearsal/): what `make` and the service run."""
    found = []
    for top in sorted(REPO.iterdir()):
        if top.name in NOT_PRODUCTION or top.name.startswith("."):
            continue  # never walked: .venv/, .kafka/ and .cdc/ hold thousands of files
        candidates = [top] if top.suffix == ".py" else sorted(top.rglob("*.py"))
        found += [
            p for p in candidates if not any(s.startswith(".") for s in p.relative_to(REPO).parts)
        ]
    return found


def test_no_production_module_over_300_lines():
    """A module over 300 lines holds more than one thing: split it by what it does."""
    assert any(p.relative_to(REPO).parts[0] == "tools" for p in production_modules())
    long = [
        f"{p.relative_to(REPO)}: {n} lines"
        for p in production_modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, f"modules over {MAX_LINES} lines:\n" + "\n".join(long)
