"""numba's cache keys a kernel by the contents of its own file only. A kernel module that
compiles in jitted helpers from another gradlab module names their digest
(``HELPERS_SHA256``), so that editing a helper means editing the kernel's file too, and
the cached kernels are compiled again instead of running the old helper.

These checks read the sources; they need no numba."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

import gradlab

PACKAGE = Path(gradlab.__file__).parent
KERNEL_FILES = sorted(PACKAGE.rglob("_numba_*.py"))


def _module_name(path: Path) -> str:
    return "gradlab." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


FILES = {_module_name(p): p for p in KERNEL_FILES}


def _imported_kernel_modules(path: Path) -> set[str]:
    """The ``gradlab...._numba_*`` modules that ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in FILES:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in FILES)
    return found


def helpers_of(module: str) -> list[str]:
    """Every kernel module that ``module`` compiles in, directly or through another."""
    seen: set[str] = set()
    todo = list(_imported_kernel_modules(FILES[module]))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imported_kernel_modules(FILES[name]))
    seen.discard(module)
    return sorted(seen)


def helpers_digest(helpers: list[str]) -> str:
    """SHA-256 over each helper's name and file contents, in name order."""
    digest = hashlib.sha256()
    for name in helpers:
        digest.update(name.encode() + b"\0" + FILES[name].read_bytes() + b"\0")
    return digest.hexdigest()


def declared_digest(path: Path) -> str | None:
    """The string assigned to ``HELPERS_SHA256`` at the top level of ``path``, or None."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Assign):
            targets = node.targets
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "HELPERS_SHA256" for t in targets):
            assert isinstance(node.value, ast.Constant), "HELPERS_SHA256 is not a literal"
            return str(node.value.value)
    return None


def test_the_kernel_modules_are_found():
    assert {"gradlab.engines._numba_mlp", "gradlab.engines._numba_blocks"} <= set(FILES)
    assert helpers_of("gradlab.engines._numba_mlp") == [
        "gradlab.engines._numba_blocks",
        "gradlab.engines._numba_gemm",
    ]


@pytest.mark.parametrize("module", sorted(FILES))
def test_a_kernel_module_names_the_digest_of_the_helpers_it_compiles_in(module):
    helpers = helpers_of(module)
    declared = declared_digest(FILES[module])
    if not helpers:
        assert declared is None, f"{module} imports no kernel module but has HELPERS_SHA256"
        return
    expected = helpers_digest(helpers)
    assert declared == expected, (
        f"{FILES[module].name} compiles in {', '.join(helpers)}, which changed (or it has "
        f'no HELPERS_SHA256): set HELPERS_SHA256 = "{expected}" in it, so that numba '
        "compiles its cached kernels again"
    )


def test_the_digest_changes_with_any_byte_of_a_helper(tmp_path, monkeypatch):
    name = "gradlab.engines._numba_blocks"
    before = helpers_digest([name])
    copy = tmp_path / "blocks.py"
    copy.write_bytes(FILES[name].read_bytes() + b" ")
    monkeypatch.setitem(FILES, name, copy)
    assert helpers_digest([name]) != before
