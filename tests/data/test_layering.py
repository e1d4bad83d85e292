"""The data layer imports nothing above params, errors and io, and has no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import gradlab.data

DATA = Path(gradlab.data.__file__).parent
#: What data/ may import from gradlab besides its own modules (docs/architecture.md).
ALLOWED_BELOW = {"gradlab.errors", "gradlab.params", "gradlab.io"}


def gradlab_imports(path: Path) -> set[str]:
    """Every ``gradlab...`` module that ``path`` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("gradlab"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gradlab"):
            assert node.module is not None
            for alias in node.names:  # "from gradlab import io" imports gradlab.io
                candidate = f"{node.module}.{alias.name}"
                sub = DATA.parent / Path(*candidate.split(".")[1:])
                is_module = sub.with_suffix(".py").is_file() or sub.is_dir()
                found.add(candidate if is_module else node.module)
    return found


def module_graph() -> dict[str, set[str]]:
    return {f"gradlab.data.{p.stem}": gradlab_imports(p) for p in DATA.glob("*.py")}


def test_data_imports_only_the_layers_below_it() -> None:
    for module, imports in module_graph().items():
        above = {m for m in imports if not m.startswith("gradlab.data") and m not in ALLOWED_BELOW}
        assert not above, f"{module} imports {sorted(above)}, above the data layer"


def test_data_modules_do_not_import_each_other_in_a_cycle() -> None:
    graph = module_graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = " -> ".join([*path[path.index(module) :], module])
            raise AssertionError(f"import cycle: {cycle}")
        if module in done or module not in graph:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
