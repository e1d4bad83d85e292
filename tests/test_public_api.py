"""The public API is what docs/architecture.md says it is, and the teaching material keeps to it.

A public module has an explicit ``__all__``; every name in it exists and has a docstring
(a class or function its own, a constant a ``#:`` comment or a string after it). The
notebooks, and the Python examples of README.md and docs/, import gradlab names only from
public modules and only names in their ``__all__`` (or public submodules), so that a
learner who copies a cell uses nothing that may change without notice.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: The public modules, as the "Public API" table of docs/architecture.md lists them.
PUBLIC_MODULES = (
    "gradlab",
    "gradlab.errors",
    "gradlab.models",
    "gradlab.data.points",
    "gradlab.data.images",
    "gradlab.data.synthetic",
    "gradlab.optim",
    "gradlab.optim.rules",
    "gradlab.optim.schedules",
    "gradlab.callbacks",
    "gradlab.functions",
    "gradlab.ops",
    "gradlab.engines",
    "gradlab.engines.torch_optim",
    "gradlab.viz.figure",
    "gradlab.viz.descent",
    "gradlab.viz.race",
    "gradlab.viz.activations",
    "gradlab.viz.monitor",
    "gradlab.viz.parallel",
    "gradlab.experiments",
)
#: Public modules that import an optional framework when they load.
NEEDS = {"gradlab.engines.torch_optim": "torch"}


def load(name: str) -> ModuleType:
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    return importlib.import_module(name)


# ------------------------------------------------------------------ the table and the code


def test_the_architecture_doc_lists_the_public_modules() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Public API", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(gradlab[\w.]*)` \|", section, flags=re.MULTILINE)
    assert listed == list(PUBLIC_MODULES)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_a_public_module_has_an_explicit_all_of_existing_public_names(name: str) -> None:
    module = load(name)
    assert "__all__" in vars(module), f"{name} has no __all__"
    exported = module.__all__
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    for attr in exported:
        assert attr == "__version__" or not attr.startswith("_"), f"{name}: {attr} is private"
        assert hasattr(module, attr), f"{name}.__all__ lists {attr!r}, which does not exist"


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_name_has_a_docstring(name: str) -> None:
    module = load(name)
    assert (module.__doc__ or "").strip(), f"{name} has no module docstring"
    missing = [attr for attr in module.__all__ if not documented(module, attr)]
    assert not missing, f"{name}: no docstring for {missing}"


def documented(module: ModuleType, attr: str) -> bool:
    """Whether ``module.attr`` has a docstring of its own."""
    obj = getattr(module, attr)
    if inspect.ismodule(obj):
        return bool((obj.__doc__ or "").strip())
    if inspect.isclass(obj):
        return class_documented(obj)
    if inspect.isroutine(obj):
        return bool((inspect.getdoc(obj) or "").strip())
    return constant_documented(module.__name__, attr)


def class_documented(cls: type) -> bool:
    """A docstring in the class's source, or a ``__doc__ = ...`` there (a docstring built
    from an f-string). ``cls.__doc__`` alone will not do: dataclasses and NamedTuples
    without one make one up from their fields."""
    tree = ast.parse(Path(inspect.getfile(cls)).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            if ast.get_docstring(node):
                return True
            assigned = any(
                isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__doc__" for t in stmt.targets)
                for stmt in node.body
            )
            return assigned and bool((vars(cls).get("__doc__") or "").strip())
    raise AssertionError(f"{cls.__qualname__} is not a top-level class of its module")


def constant_documented(module_name: str, attr: str) -> bool:
    """A module-level assignment to ``attr`` with a ``#:`` comment just above it or a
    string just after it, in ``module_name`` or the module it is imported from there."""
    module = sys.modules[module_name]
    path = Path(module.__file__ or "")
    lines = path.read_text(encoding="utf-8").splitlines()
    body = ast.parse("\n".join(lines)).body
    for i, node in enumerate(body):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if (alias.asname or alias.name) == attr:
                    return constant_documented(node.module, alias.name)
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if not any(isinstance(t, ast.Name) and t.id == attr for t in targets):
            continue
        comment_above = node.lineno >= 2 and lines[node.lineno - 2].lstrip().startswith("#:")
        following = body[i + 1] if i + 1 < len(body) else None
        string_after = (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        )
        return comment_above or string_after
    return False


def test_the_docstring_check_finds_an_undocumented_constant_or_class(tmp_path: Path) -> None:
    (tmp_path / "probe_docs.py").write_text(
        "from dataclasses import dataclass\n"
        '#: documented above\nA = 1\nB = 2\n"""documented after"""\nC = 3\n'
        "@dataclass\nclass D:\n    x: int\n"
        'class E:\n    """Documented."""\n',
        encoding="utf-8",
    )
    sys.path.insert(0, str(tmp_path))
    try:
        probe = importlib.import_module("probe_docs")
        found = {n: documented(probe, n) for n in "ABCDE"}
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("probe_docs", None)
    assert found == {"A": True, "B": True, "C": False, "D": False, "E": True}


# ------------------------------------------------------------------ what the material imports


def public_names(module: str) -> set[str] | None:
    """The names ``module``'s ``__all__`` lists, or None where it is no public module."""
    if module not in PUBLIC_MODULES:
        return None
    if module in NEEDS and importlib.util.find_spec(NEEDS[module]) is None:
        return None  # checked where the framework is installed
    return set(importlib.import_module(module).__all__)


def private_uses(source: str) -> list[str]:
    """Each import of a gradlab name from outside the public API in ``source``, and each
    attribute of an imported gradlab module that is not public, as a line of text."""
    tree = ast.parse(source)
    bad: list[str] = []
    modules: dict[str, str] = {}  # a local name -> the gradlab module it stands for

    def check_member(module: str, name: str, where: int) -> str | None:
        """``module.name`` seen at line ``where``: the module it is when it is a public
        submodule, None when it is a public name, else a complaint."""
        if f"{module}.{name}" in PUBLIC_MODULES:
            return f"{module}.{name}"
        names = public_names(module)
        if names is not None and name not in names:
            bad.append(f"line {where}: {module}.{name} is not in {module}.__all__")
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "gradlab":
                    continue
                if alias.name not in PUBLIC_MODULES:
                    bad.append(f"line {node.lineno}: import {alias.name} (a private module)")
                elif alias.asname:
                    modules[alias.asname] = alias.name
                else:
                    modules["gradlab"] = "gradlab"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "gradlab":
            module = node.module or ""
            if module not in PUBLIC_MODULES:
                bad.append(f"line {node.lineno}: from {module} import ... (a private module)")
                continue
            for alias in node.names:
                if alias.name == "*":
                    continue
                sub = check_member(module, alias.name, node.lineno)
                if sub is not None:
                    modules[alias.asname or alias.name] = sub
    # each outermost chain of attributes on an imported module: gf.minimize, gradlab.ops.relu
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        chain: list[str] = []
        head: ast.expr = node
        while isinstance(head, ast.Attribute):
            chain.insert(0, head.attr)
            head = head.value
        if not isinstance(head, ast.Name) or head.id not in modules:
            continue
        module: str | None = modules[head.id]
        for name in chain:
            assert module is not None
            module = check_member(module, name, node.lineno)
            if module is None:
                break
    return sorted(set(bad))


def notebook_code(path: Path) -> list[tuple[str, str]]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [
        (f"{path.name} cell {i}", "".join(cell["source"]))
        for i, cell in enumerate(cells)
        if cell["cell_type"] == "code"
    ]


def markdown_code(path: Path) -> list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    return [(f"{path.name} python block {i}", block) for i, block in enumerate(blocks)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_notebook_imports_only_public_gradlab_names(path: Path) -> None:
    cells = notebook_code(path)
    assert any("gradlab" in source for _, source in cells)
    bad = [f"{where}, {use}" for where, source in cells for use in private_uses(source)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_the_python_examples_in_the_docs_import_only_public_gradlab_names(path: Path) -> None:
    bad = [
        f"{where}, {use}" for where, source in markdown_code(path) for use in private_uses(source)
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("from gradlab.jobs.compare import compare", "gradlab.jobs.compare import ... (a private"),
        ("import gradlab.engines.tf_engine as t", "import gradlab.engines.tf_engine (a private"),
        ("from gradlab.data.points import check_magnitude", "check_magnitude is not in"),
        ("import gradlab\ngradlab.jobs.compare.compare()", "gradlab.jobs is not in"),
        ("import gradlab.functions as gf\ngf.descent.minimize", "gradlab.functions.descent is"),
        ("from gradlab import experiments\nexperiments.load_problem", "load_problem is not in"),
    ],
)
def test_the_check_finds_a_private_import(source: str, complaint: str) -> None:
    bad = private_uses(source)
    assert len(bad) == 1, bad
    assert complaint in bad[0]


def test_the_check_accepts_public_names_and_submodules() -> None:
    source = (
        "import gradlab.functions as gf\n"
        "from gradlab import ops\n"
        "from gradlab.engines import import_tensorflow\n"
        "from gradlab.experiments import compare, tutorial_torch\n"
        "gf.minimize('x**2', 1.0).plot()\n"
        "ops.mlp_cross_entropy\n"
    )
    assert private_uses(source) == []
