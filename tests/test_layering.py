"""The package's layers point one way, and no module imports itself back through others.

The layers are those of docs/architecture.md, lowest first. A module may import modules
of its own layer or of a lower one, at module level or inside a function. The one
exception is drawing: the objects a learner holds draw themselves (``History.plot``,
``LinearRegression.plot_fit``, ...) through an import of ``gradlab.viz`` inside the
method, so pictures stay out of the import of every lower layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gradlab

ROOT = Path(gradlab.__file__).parent

#: Each layer's modules, by prefix (a prefix names the module and everything under it).
LAYERS: list[tuple[str, ...]] = [
    (
        "gradlab.errors",
        "gradlab.params",
        "gradlab.io",
        "gradlab.ops",
        "gradlab.history",
        "gradlab.process",
    ),
    ("gradlab.data", "gradlab.functions", "gradlab.optim", "gradlab.distributed"),
    ("gradlab.engines", "gradlab.train", "gradlab.governor", "gradlab.callbacks"),
    ("gradlab.models", "gradlab.checkpoint"),
    ("gradlab.viz",),
    ("gradlab.jobs", "gradlab.experiments", "gradlab.bench"),
    ("gradlab.tour", "gradlab.commands"),
    ("gradlab.cli", "gradlab.__main__"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def resolve(name: str) -> str:
    """The gradlab module that ``import name`` loads (``gradlab.x.y`` may be a name in x)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def layer_of(module: str) -> int:
    if module == "gradlab":
        return 0  # the package's own __init__ imports nothing
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(module-level imports, imports inside functions) of gradlab modules, without the
    ``if TYPE_CHECKING:`` ones, which never run."""
    top: set[str] = set()
    lazy: set[str] = set()

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names = [f"{child.module}.{alias.name}" for alias in child.names]
            for name in names:
                if name == "gradlab" or name.startswith("gradlab."):
                    (lazy if inside else top).add(resolve(name))
            walk(child, inside)

    walk(ast.parse(path.read_text()), False)
    return top, lazy


GRAPH = {name: imports(path) for name, path in MODULES.items()}


def test_every_module_belongs_to_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_only_its_own_or_lower_layers(module: str) -> None:
    top, lazy = GRAPH[module]
    rank = layer_of(module)
    upward = sorted(m for m in top if layer_of(m) > rank)
    upward += sorted(
        m for m in lazy - top if layer_of(m) > rank and not m.startswith("gradlab.viz")
    )
    assert not upward, f"{module} (layer {rank}) imports {upward} from higher layers"


def test_no_import_cycle_at_module_level() -> None:
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = " -> ".join([*path[path.index(module) :], module])
            raise AssertionError(f"import cycle: {cycle}")
        if module in done:
            return
        for target in sorted(GRAPH.get(module, (set(), set()))[0]):
            if target != module:
                visit(target, [*path, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check above must be able to fail: feed it a graph with a cycle."""
    fake = {"a": ({"b"}, set()), "b": ({"c"}, set()), "c": ({"a"}, set())}
    saved = dict(GRAPH)
    GRAPH.clear()
    GRAPH.update(fake)
    try:
        with pytest.raises(AssertionError, match="import cycle: a -> b -> c -> a"):
            test_no_import_cycle_at_module_level()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_commands_import_no_other_command() -> None:
    """A command imports shared helpers (``commands._args``, ``commands._classifiers``),
    never another command: running one command loads no other."""
    commands = {m for m in MODULES if m.startswith("gradlab.commands.")}
    for module in sorted(commands):
        top, lazy = GRAPH[module]
        others = sorted(
            m for m in (top | lazy) & commands if m != module and m.split(".")[-1][0] != "_"
        )
        assert not others, f"{module} imports the commands {others}; share a _helper instead"
