"""`make lint`'s check of how the packages import each other (ARCHITECTURE.md's rules):

- no import cycle inside a package, direct or through others;
- no service imports another service;
- a service's `services/` (use cases) and `db/` import no web framework, Kafka or Celery
  client: those belong to `api/`, the entry points and the adapters.

Imports under `if TYPE_CHECKING:` are left out: they never run.

    python infra/lint/import_rules.py      (exit 1 and one line per broken rule)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    **{p.name: p for p in ROOT.glob("libs/*/src/*") if (p / "__init__.py").exists()},
    **{p.name: p for p in ROOT.glob("services/*/src/*") if (p / "__init__.py").exists()},
    "stack": ROOT / "infra/native/stack",
}
SERVICES = {p.name for p in ROOT.glob("services/*/src/*") if (p / "__init__.py").exists()}
# What a use case or a repository must not reach for.
TRANSPORTS = ("fastapi", "starlette", "confluent_kafka", "celery", "kombu", "httpx")


def module_name(package: str, path: Path) -> str:
    parts = [package, *path.relative_to(PACKAGES[package]).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that runs (those under `if TYPE_CHECKING:` do not)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules `module` imports (absolute names; `from a import b` counts `a.b` when it is a
    module, else `a`)."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if path.name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, *([base] if base else [])])
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            found.add(candidate if candidate in known else base)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        on_stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = on_stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def problems() -> list[str]:
    files = {
        module_name(package, path): (package, path)
        for package, folder in PACKAGES.items()
        for path in folder.rglob("*.py")
    }
    known = set(files)
    graph: dict[str, set[str]] = {}
    found: list[str] = []
    for module, (package, path) in sorted(files.items()):
        imported = imports_of(module, path, known)
        graph[module] = {m for m in imported if m in known and m != module}
        for target in sorted(imported):
            top = target.split(".")[0]
            if package in SERVICES and top in SERVICES and top != package:
                found.append(f"{module} imports another service: {target}")
            layer = module.split(".")[1:2]
            if package in SERVICES and layer in (["services"], ["db"]) and top in TRANSPORTS:
                found.append(f"{module} (a use case or repository) imports {target}")
    found += [f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(graph)]
    return found


def main() -> int:
    found = problems()
    for line in found:
        sys.stderr.write(f"{line}\n")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
