"""The notebooks in ``notebooks/`` are sources: stored without outputs, and run here.

Each notebook is executed from a clean state, in a real Jupyter kernel started with this
test's own Python (the kernel's command is given explicitly, not looked up among the
installed kernel specs), with this checkout's ``src`` first on its path and its working
directory in ``notebooks/``, as a learner's Jupyter would start it. A notebook fails on
an error, on anything written to stderr, on any warning, and on a cell that calls a
plotting function but shows no picture.

The harness is reusable: :func:`execute_notebook` returns an :class:`Executed` that keeps
every message the kernel sent for every cell, including the ``update_display_data``
messages by which a live monitor redraws in place (nbclient applies them to the output
and forgets them). A check of one notebook's own results goes in :data:`EXPECTATIONS`,
so that each notebook runs once::

    def _check_06(run: Executed) -> None:
        cell = run.cell_index(tag="live-monitor")
        assert run.display_updates(cell) >= 1   # at least the final, complete chart
        assert run.mime_types(cell) == {"image/svg+xml", "text/plain"}

    EXPECTATIONS["06-softmax-regression.ipynb"] = _check_06

A live monitor throttles its redraws by time, so a count per epoch is not what it
promises; :func:`_check_live_monitor` asserts what it does promise.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import os
import pkgutil
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
DATA_CSV = ROOT.parent / "shared" / "data" / "data.csv"

#: Seconds one cell may run (importing TensorFlow and tracing its graphs on a busy
#: machine is the slowest); a cell that takes longer fails the notebook.
CELL_TIMEOUT = 180
#: Seconds the kernel may take to start.
STARTUP_TIMEOUT = 120

#: A method call that draws: ``.plot(``, ``.plot_fit(``, ``history_.plot(``...
PLOT_METHOD = r"\.plot(?:_\w+)?\("
#: The live monitor, which draws SVG rather than PNG.
MONITOR_CALL = re.compile(r"\bmonitors\(")
#: A warning's text, wherever it was printed: ``UserWarning:``, ``RuntimeWarning: ...``.
WARNING_TEXT = re.compile(r"\b[A-Z]\w*Warning\b")


# ------------------------------------------------------------------ the harness


class _ThisPython(KernelSpecManager):  # type: ignore[misc]
    """One kernel spec, whatever name is asked for: ipykernel run by this very Python."""

    def get_kernel_spec(self, kernel_name: str, *args: Any, **kwargs: Any) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python ({sys.executable})",
            language="python",
            resource_dir="",
        )


class RecordingClient(nbclient.NotebookClient):  # type: ignore[misc]
    """A NotebookClient that keeps every message the kernel sends for each cell.

    ``recorded[i]`` lists, in order of arrival, each message of cell ``i`` as
    ``{"msg_type": ..., "display_id": ... or None, "content": ...}``.
    """

    def __init__(self, nb: Any, **kw: Any) -> None:
        super().__init__(nb, **kw)
        self.recorded: dict[int, list[dict[str, Any]]] = {}

    def create_kernel_manager(self) -> AsyncKernelManager:
        # the kernel's command is this test's Python, given explicitly: an installed
        # "python3" kernel spec (a user's, another environment's) cannot stand in for it
        self.km = AsyncKernelManager(
            kernel_name="python3", kernel_spec_manager=_ThisPython(), config=self.config
        )
        return self.km

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        transient = msg["content"].get("transient") or {}
        self.recorded.setdefault(cell_index, []).append(
            {
                "msg_type": msg["msg_type"],
                "display_id": transient.get("display_id"),
                "content": msg["content"],
            }
        )
        return super().process_message(msg, cell, cell_index)


@dataclass
class Executed:
    """A notebook after execution, with everything the kernel sent for each cell.

    Attributes
    ----------
    path : Path
    nb : NotebookNode
        The notebook with its outputs, as Jupyter would show them.
    messages : dict of int to list of dict
        Per cell index, the kernel's messages in order (see :class:`RecordingClient`).
    seconds : float
        Wall time of the whole execution, kernel start included.
    """

    path: Path
    nb: Any
    messages: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0

    def code_cells(self) -> list[tuple[int, Any]]:
        """``(index, cell)`` of every code cell."""
        return [(i, c) for i, c in enumerate(self.nb.cells) if c.cell_type == "code"]

    def cell_index(self, *, tag: str | None = None, contains: str | None = None) -> int:
        """The index of the one code cell with ``tag`` in its metadata tags, or whose
        source contains ``contains``; an AssertionError unless exactly one matches."""
        found = [
            i
            for i, c in self.code_cells()
            if (tag is None or tag in c.metadata.get("tags", []))
            and (contains is None or contains in c.source)
        ]
        assert len(found) == 1, f"{self.path.name}: cells matching {tag=} {contains=}: {found}"
        return found[0]

    def display_updates(self, cell: int, display_id: str | None = None) -> int:
        """How many ``update_display_data`` messages cell ``cell`` sent (for one display
        id, or for all): how many times a live output was redrawn in place."""
        return sum(
            1
            for m in self.messages.get(cell, [])
            if m["msg_type"] == "update_display_data"
            and (display_id is None or m["display_id"] == display_id)
        )

    def mime_types(self, cell: int) -> set[str]:
        """The MIME types of cell ``cell``'s rich outputs (results and displays)."""
        return {
            mime
            for out in self.nb.cells[cell].outputs
            if out.output_type in ("execute_result", "display_data")
            for mime in out.get("data", {})
        }

    def stream(self, cell: int, name: str = "stdout") -> str:
        """Everything cell ``cell`` printed on ``name`` ("stdout" or "stderr")."""
        return "".join(
            out.text
            for out in self.nb.cells[cell].outputs
            if out.output_type == "stream" and out.name == name
        )

    def stdout(self) -> str:
        """Everything the notebook printed on stdout, cell after cell."""
        return "".join(self.stream(i) for i, _ in self.code_cells())


def kernel_env(ipython_dir: Path) -> dict[str, str]:
    """The kernel's environment: this one, with this checkout's ``src`` first on the path
    and an empty IPython directory (no user profile, no startup scripts)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    env["IPYTHONDIR"] = str(ipython_dir)
    return env


def execute_notebook(
    path: Path, ipython_dir: Path, *, cell_timeout: int = CELL_TIMEOUT, nb: Any = None
) -> Executed:
    """Run every cell of ``path`` (or of ``nb``, run as if it were at ``path``) in a fresh
    kernel whose working directory is the notebook's folder.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        A cell raised; the message holds the cell and the traceback.
    nbclient.exceptions.CellTimeoutError
        A cell ran longer than ``cell_timeout`` seconds.
    """
    notebook = nb if nb is not None else nbformat.read(path, as_version=4)
    client = RecordingClient(
        notebook,
        timeout=cell_timeout,
        startup_timeout=STARTUP_TIMEOUT,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute(env=kernel_env(ipython_dir))
    return Executed(path, notebook, client.recorded, time.perf_counter() - start)


def figure_makers() -> list[str]:
    """Names of the public functions of ``gradlab.viz`` that return a Figure."""
    import gradlab.viz

    names = set()
    for info in pkgutil.iter_modules(gradlab.viz.__path__):
        module = importlib.import_module(f"gradlab.viz.{info.name}")
        for name, fn in vars(module).items():
            if (
                inspect.isfunction(fn)
                and fn.__module__ == module.__name__
                and not name.startswith("_")
                and fn.__annotations__.get("return") in ("Figure", "MplFigure")
            ):
                names.add(name)
    return sorted(names)


def plotting_calls(source: str, makers: list[str]) -> list[str]:
    """The drawing calls in a cell's source: plotting methods and gradlab.viz figures."""
    pattern = PLOT_METHOD + "".join(rf"|\b{re.escape(n)}\(" for n in makers)
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    return re.findall(pattern, code)


def problems(run: Executed, makers: list[str]) -> list[str]:
    """What is wrong with an executed notebook: stderr, warnings, missing pictures."""
    found = []
    for i, cell in run.code_cells():
        where = f"cell {i}"
        err = run.stream(i, "stderr")
        if err:
            found.append(f"{where} wrote to stderr:\n{err}")
        for out in cell.outputs:
            if out.output_type == "stream" and out.name == "stderr":
                continue  # reported whole above
            text = out.get("text", "") or out.get("data", {}).get("text/plain", "")
            if WARNING_TEXT.search(text):
                found.append(f"{where} shows a warning:\n{text}")
        calls = plotting_calls(cell.source, makers)
        mimes = run.mime_types(i)
        if calls and "image/png" not in mimes:
            found.append(f"{where} calls {calls} but shows no image/png")
        if MONITOR_CALL.search(cell.source) and "image/svg+xml" not in mimes:
            found.append(f"{where} starts a live monitor but shows no image/svg+xml")
    return found


# ------------------------------------------------------------------ what each notebook shows


def _has(text: str, *lines: str) -> None:
    for line in lines:
        assert line in text, f"expected {line!r} in the output:\n{text}"


def _check_01(run: Executed) -> None:
    out = run.stdout()
    _has(out, "verdict: converged after 26 steps", "largest difference from the hand-written "
         "loop: 0.0")  # fmt: skip
    for lr, verdict in (("0.001", "too slow"), ("0.01", "converged"), ("0.1", "oscillating"),
                        ("1", "diverged")):  # fmt: skip
        assert re.search(rf"^\s*{re.escape(lr)}\s+{verdict}\s", out, re.M), (lr, verdict, out)


def _check_02(run: Executed) -> None:
    out = run.stdout()
    if DATA_CSV.exists():
        # the tutorial's four printed numbers, reproduced to the last digit by the loops
        _has(out, "Using the tutorial's data.csv: 100 points")
        assert out.count("identical") == 4, out
        _has(out, "w = 1.3224310228, b = 7.9910209823")  # one standardised step
    else:
        _has(out, "data.csv not found", "using generated points instead")


def _check_03(run: Executed) -> None:
    out = run.stdout()
    _has(out, "start: w = 0.77828922, b = 0.7795984", "after 800 steps: w = 2.98927619, "
         "b = 2.09818307", "gradlab: w = 2.98927619, b = 2.09818307")  # fmt: skip
    if importlib.util.find_spec("torch"):
        _has(out, "start: w = 0.2437", "after 800 steps: w = 2.9645, b = 2.1146   (the lesson")
    else:
        _has(out, "PyTorch is not installed")
    if importlib.util.find_spec("tensorflow"):
        _has(out, "TensorFlow: w = 2.98927619, b = 2.09818307")
    else:
        _has(out, "TensorFlow is not installed")


def _check_04(run: Executed) -> None:
    out = run.stdout()
    rows = (("batch", "0.044339", "0.0001"), ("sgd", "0.003642", "0.1259"),
            ("minibatch", "0.003407", "0.0065"))  # fmt: skip
    for method, loss, noise in rows:  # the noise as the notebook's table gives it, rounded
        assert re.search(rf"^{method}\s+\d+\s+{loss}\s+{noise}\s", out, re.M), (method, out)


def _check_05(run: Executed) -> None:
    out = run.stdout()
    _has(out, "z =  40.0, y = 0: textbook formula       inf, softplus form  40.00000",
         "426 tumours to train on, 143 to test on")  # fmt: skip
    assert re.search(r"gradlab, gradient descent at lr = \S+: test accuracy 0\.9[5-9]", out), out


def _number(pattern: str, text: str) -> float:
    """The number that ``pattern``'s one group matches in ``text``."""
    found = re.search(pattern, text, re.M)
    assert found, f"expected {pattern!r} in the output:\n{text}"
    return float(found[1])


def _check_live_monitor(run: Executed) -> None:
    """The cell tagged ``live-monitor`` shows the live chart as SVG, redrawn in place, last
    as the complete chart, and no more often than its throttle allows.

    The notebook prints the monitor's own count of draws and the fit's seconds (``the
    chart was drawn N times in T s of training``). The first draw is a display and each
    later one an update in place, so the kernel sent N - 1 updates. Besides the final
    one, which is always drawn, a redraw needs a finished epoch and at least ``every``
    seconds since the previous draw (the first after the start), so within T seconds
    there are at most ``min(epochs, floor(T / every))`` of them. T printed to 0.01 s
    keeps the bound sound: a multiple of ``every`` (0.5 s) at most T is at most T rounded.
    """
    from gradlab.viz.monitor import JupyterLive

    cell = run.cell_index(tag="live-monitor")
    assert "image/svg+xml" in run.mime_types(cell)
    (chart,) = [o for o in run.nb.cells[cell].outputs if o.output_type == "display_data"]
    done = re.match(r"epoch (\d+)/(\d+) \(done\)", chart.data["text/plain"])
    assert done, chart.data["text/plain"]
    assert done[1] == done[2], chart.data["text/plain"]
    epochs = int(done[2])
    out = run.stdout()
    draws = int(_number(r"the chart was drawn (\d+) times in", out))
    seconds = _number(r"the chart was drawn \d+ times in (\d+\.\d\d) s of training", out)
    every = inspect.signature(JupyterLive).parameters["every"].default
    updates = run.display_updates(cell)
    assert updates == draws - 1, (updates, draws)
    assert 1 <= updates <= 1 + min(epochs, math.floor(seconds / every)), (updates, seconds)


def _check_06(run: Executed) -> None:
    out = run.stdout()
    _check_live_monitor(run)
    # a hand-derived gradient against central differences: O(h^2) + rounding/h ~ 1e-10
    assert _number(r"^gradient check: largest difference (\S+)$", out) < 1e-7
    # float64 softmax regression from scratch, 10 epochs on the digits (seeded)
    scratch = _number(r"^epoch 10  train loss \S+  train acc \S+  test acc (\S+)$", out)
    assert scratch >= 0.9, out
    if importlib.util.find_spec("torch"):
        # same start, same batches, float64: the two differ only by rounding
        assert _number(r"torch and NumPy weights: (\S+)$", out) < 1e-12
        assert _number(r"^torch test accuracy (\S+)$", out) == scratch
    else:
        _has(out, "PyTorch is not installed")
    assert re.search(r"^test accuracy 0\.9[3-9]", out, re.M), out
    _has(out, "the most frequent mistake: ")
    assert _number(r"train loss \S+, test accuracy (\S+)$", out) >= 0.8  # 28x28, notes' settings


def _check_07(run: Executed) -> None:
    out = run.stdout()
    _check_live_monitor(run)
    # inside or outside a circle: a linear model can only guess "outside"; 8 ReLUs can draw it
    outside = _number(r"^share of test points outside the circle:\s+(\S+)$", out)
    assert _number(r"^softmax regression, test accuracy:\s+(\S+)$", out) <= outside + 0.03
    assert _number(r"^one hidden layer of 8 ReLUs, test accuracy:\s+(\S+)$", out) >= 0.95
    _has(out, "three linear layers == one layer with W = W1 @ W2 @ W3: True")
    assert re.search(r"^with ReLUs between them:\s+False$", out, re.M), out
    # the same float64 arithmetic in another order: rounding only; central differences
    # O(h^2) + rounding/h ~ 1e-10
    assert _number(r"reference: loss differs by (\S+),", out) < 1e-12
    assert _number(r"reference: loss differs by \S+, gradients by (\S+)$", out) < 1e-12
    assert _number(r"^central differences: largest difference (\S+)$", out) < 1e-7
    if importlib.util.find_spec("torch"):
        assert _number(r"^autograd: loss differs by (\S+),", out) < 1e-12
        assert _number(r"largest gradient difference (\S+)$", out) < 1e-12
        assert _number(r"DataLoader: input shape \(8, 8\), test accuracy (\S+)$", out) >= 0.95
    else:
        assert out.count("PyTorch is not installed") == 2, out
    assert _number(r"^layers \(64, 200, 200, 10\): test accuracy (\S+)$", out) >= 0.96
    # equal settings: the hidden layers make fewer mistakes than softmax regression
    linear = _number(r"^softmax regression +650 +\S+ +(\S+) ", out)
    assert _number(r"^MLP 64-200-200-10 +55,210 +\S+ +(\S+) ", out) > linear
    # the grid: the two-layer network at the largest rate scores lowest, as the text says
    assert re.search(r"^\(64, 64\) +0\.1 +\S+ +9$", out, re.M), out
    assert _number(r"^best: .*, test accuracy (\S+)$", out) >= 0.95


#: Per notebook, a check of what it must print or show, run after the generic ones.
EXPECTATIONS: dict[str, Callable[[Executed], None]] = {
    "01-gradient-descent.ipynb": _check_01,
    "02-linear-regression.ipynb": _check_02,
    "03-one-model-three-ways.ipynb": _check_03,
    "04-batch-stochastic-minibatch.ipynb": _check_04,
    "05-sigmoid-relu-logistic.ipynb": _check_05,
    "06-softmax-regression.ipynb": _check_06,
    "07-mlp.ipynb": _check_07,
}


# ------------------------------------------------------------------ the tests


def test_there_are_notebooks_numbered_in_order() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names, f"no notebooks in {NOTEBOOK_DIR}"
    numbers = [int(n.split("-", 1)[0]) for n in names]
    assert numbers == list(range(1, len(names) + 1)), names
    assert set(EXPECTATIONS) <= set(names), sorted(set(EXPECTATIONS) - set(names))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_stripped(path: Path) -> None:
    """No outputs, no execution counts, no widget state or run metadata: the file is a
    source, and a diff of it shows only what its author changed."""
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert set(nb.metadata) <= {"kernelspec", "language_info"}, sorted(nb.metadata)
    for i, cell in enumerate(nb.cells):
        assert set(cell.metadata) <= {"tags"}, (i, dict(cell.metadata))
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} is stored with outputs"
            assert cell.execution_count is None, f"cell {i} is stored with an execution count"
        assert "attachments" not in cell, f"cell {i} has attachments"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_ends_with_questions_and_draws_without_pyplot(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert "## Try it" in markdown[-1], "the last markdown cell should hold the questions"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert "pyplot" not in cell.source, f"cell {i}: gradlab figures need no pyplot"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_cleanly_in_a_kernel(path: Path, tmp_path: Path) -> None:
    before = sorted(p.name for p in NOTEBOOK_DIR.iterdir())
    try:
        run = execute_notebook(path, tmp_path)
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} raised:\n{exc}")
    found = problems(run, figure_makers())
    assert not found, f"{path.name}:\n" + "\n\n".join(found)
    check = EXPECTATIONS.get(path.name)
    if check is not None:
        check(run)
    assert sorted(p.name for p in NOTEBOOK_DIR.iterdir()) == before, "the notebook wrote files"


@pytest.mark.slow
def test_the_harness_runs_this_python_and_counts_display_updates(tmp_path: Path) -> None:
    """The kernel is this test's Python with this checkout's gradlab; a display updated
    twice in place is counted twice; stderr, warnings and a missing picture are caught."""
    cells = [
        "import sys, gradlab\nprint(sys.executable)\nprint(gradlab.__file__)",
        "h = display('first', display_id=True)\nh.update('second')\nh.update('third')",
        "import warnings\nwarnings.warn('careful')",
        "from gradlab.history import History\nh = History()\nh.append(epoch=0, loss=1.0)\n"
        "h.append(epoch=1, loss=0.5)\nfig = h.plot()",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    run = execute_notebook(tmp_path / "probe.ipynb", tmp_path, nb=nb)
    executable, module = run.stream(0).splitlines()
    assert Path(executable) == Path(sys.executable)
    assert Path(module).is_relative_to(SRC)
    assert run.display_updates(1) == 2
    assert run.display_updates(1, display_id="no such id") == 0
    (shown,) = run.nb.cells[1].outputs
    assert shown.data["text/plain"] == "'third'"
    assert run.cell_index(contains="warnings.warn") == 2
    found = problems(run, figure_makers())
    assert len(found) == 2, found
    assert found[0].startswith("cell 2 wrote to stderr:")
    assert "UserWarning: careful" in found[0]
    assert found[1] == "cell 3 calls ['.plot('] but shows no image/png"


def test_a_picture_drawn_into_your_pyplot_axes_shows_once(tmp_path: Path) -> None:
    """Given ``ax=`` of a pyplot figure, a plot method returns the Axes: returned, the
    figure showed twice, as the cell's value and again when pyplot's figures are shown."""
    cells = [
        "import numpy as np\nimport matplotlib.pyplot as plt\n"
        "from gradlab.models import LinearRegression\n"
        "X = np.arange(10.0)[:, None]\ny = 2 * X[:, 0] + 1\n"
        "m = LinearRegression(epochs=20).fit(X, y)",
        "fig, ax = plt.subplots()\nm.plot_fit(X, y, ax=ax)",
        "fig, axes = plt.subplots(1, 2)\nm.plot_fit(X, y, ax=axes[0])\nm.plot_loss(ax=axes[1])",
        "m.plot_fit(X, y)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    run = execute_notebook(tmp_path / "probe.ipynb", tmp_path, nb=nb)
    for cell in (1, 2, 3):
        pngs = [o for o in run.nb.cells[cell].outputs if "image/png" in o.get("data", {})]
        assert len(pngs) == 1, (cell, run.nb.cells[cell].outputs)


def test_plotting_calls_are_found_in_code_not_in_comments() -> None:
    makers = figure_makers()
    assert {"descent_panels", "activation_figure", "loss_curves"} <= set(makers)
    source = "m.plot_fit(X, y)  # then m.plot_loss()\ndescent_panels(runs)\nx = 'plot'"
    assert plotting_calls(source, makers) == [".plot_fit(", "descent_panels("]
    assert plotting_calls("# result.plot()\nprint(1)", makers) == []


@pytest.mark.slow
def test_without_data_csv_notebook_02_tells_the_same_story_on_generated_points(
    tmp_path: Path,
) -> None:
    """Its fallback drew points on [0, 15], where the intercept was not slow at all: the
    text's valley, its iteration counts and its exercise's divergence all failed to
    happen beside it."""
    where = tmp_path / "a" / "b"  # ../../shared/data/data.csv does not exist from here
    where.mkdir(parents=True)
    copy = where / "02-linear-regression.ipynb"
    shutil.copy(NOTEBOOK_DIR / copy.name, copy)
    out = execute_notebook(copy, tmp_path / "ipython").stdout()
    _has(out, "data.csv not found", "using generated points instead")
    assert _number(r"descent stopped at \S+ \((\S+)% above\)", out) < 10  # close in error
    assert _number(r"\(ratio (\d+)\)", out) > 10_000  # "a factor of tens of thousands"
    assert _number(r"after 1000 steps (\S+) of it is left", out) > 0.95  # "nearly all"
    assert _number(r"largest stable rate 2/lambda_max = (\S+);", out) < 0.0005  # Q1 diverges
    b_descent = _number(r"^after 1000 iterations: b = (\S+)", out)
    b_best = _number(r"^closed_form: +w = \S+, b = (\S+)$", out)
    assert b_descent < 0.05 * b_best  # "the intercept has barely moved"
