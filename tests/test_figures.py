"""Figures show themselves: inline through IPython's display protocol, in a window from a
script, and quietly not at all on a headless machine."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from gradlab.history import History
from gradlab.viz.figure import Figure, is_interactive_backend
from gradlab.viz.save import new_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def small_figure() -> Figure:
    fig = new_figure(3, 2)
    fig.add_subplot().plot([0, 1, 2], [2, 0, 1])
    return fig


def classifier_history() -> History:
    h = History()
    for e in range(1, 4):
        h.append(
            epoch=e,
            train_loss=1 / e,
            train_accuracy=1 - 0.5 / e,
            test_loss=1.1 / e,
            test_accuracy=1 - 0.6 / e,
            seconds=0.01,
        )
    return h


def test_new_figure_is_a_gradlab_figure() -> None:
    assert isinstance(small_figure(), Figure)


def test_every_figure_function_returns_a_figure_that_shows_itself() -> None:
    from gradlab.functions import compare_rates
    from gradlab.viz import curves, descent, images, regression

    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 15, 20), rng.normal(size=20)
    true, pred = rng.integers(0, 3, 6), rng.integers(0, 3, 6)
    made = [
        curves.training_curves(classifier_history().columns),
        descent.descent_panels(compare_rates("x**2", [1.0], [0.1], steps=5)),
        images.prediction_grid(rng.random((6, 4, 4)), true, pred, ["a", "b", "c"]),
        images.confusion_figure(images.confusion_matrix(true, pred, 3), ["a", "b", "c"]),
        regression.fit_line(x, y, [("fit", 1.0, 0.5)]),
        regression.loss_curves([("loss", [3.0, 2.0, 1.0])]),
        regression.loss_surface(x, y, np.array([0.0, 0.5]), np.array([0.0, 0.1])),
        classifier_history().plot(),
    ]
    for fig in made:
        assert isinstance(fig, Figure), type(fig)


def test_display_formatter_sends_a_png_and_the_text_form() -> None:
    formatters = pytest.importorskip("IPython.core.formatters")
    data, _ = formatters.DisplayFormatter().format(small_figure())
    assert base64.b64decode(data["image/png"]).startswith(PNG_MAGIC)
    assert data["text/plain"].startswith("<Figure size 300x200")


def test_mimebundle_honours_include_and_exclude() -> None:
    fig = small_figure()
    assert set(fig._repr_mimebundle_()) == {"image/png", "text/plain"}
    assert set(fig._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}
    assert set(fig._repr_mimebundle_(exclude={"image/png"})) == {"text/plain"}
    assert fig._repr_png_().startswith(PNG_MAGIC)


def test_repr_png_size_follows_repr_dpi() -> None:
    fig = small_figure()
    png = fig.to_png()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (300, 200)  # 3 x 2 inches at 100 dpi


def test_regression_history_plots_its_loss() -> None:
    h = History()
    for e, loss in enumerate([4.0, 2.0, 1.5]):
        h.append(epoch=e, loss=loss, w=0.1 * e, b=0.0)
    fig = h.plot()
    ax = fig.axes[0]
    assert ax.get_ylabel() == "loss (log scale)"
    assert list(ax.lines[0].get_ydata()) == [4.0, 2.0, 1.5]


def test_show_is_quiet_on_a_headless_backend() -> None:
    import matplotlib

    assert not is_interactive_backend(matplotlib.get_backend())  # tests run on Agg
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert small_figure().show() is None


@pytest.mark.parametrize(
    ("backend", "interactive"),
    [("agg", False), ("Agg", False), ("pdf", False), ("svg", False), ("TkAgg", True),
     ("QtAgg", True), ("macosx", True), ("module://some_gui_backend", True)],
)  # fmt: skip
def test_interactive_backends_are_told_from_file_backends(backend: str, interactive: bool) -> None:
    assert is_interactive_backend(backend) is interactive


FAKE_GUI_BACKEND = """
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

EVENTS = []


class FakeManager(FigureManagerBase):
    def show(self):
        EVENTS.append(("window", self.num))

    @classmethod
    def pyplot_show(cls, *, block=None):
        from matplotlib._pylab_helpers import Gcf

        for manager in Gcf.get_all_fig_managers():
            manager.show()
        EVENTS.append(("loop", block))


class FigureCanvas(FigureCanvasAgg):
    manager_class = FakeManager
"""


def test_show_opens_a_window_with_an_interactive_backend(tmp_path: Path) -> None:
    """With a GUI backend, pyplot adopts the figure and runs its event loop; after the
    window is closed, show() opens it again."""
    (tmp_path / "fake_gui_backend.py").write_text(FAKE_GUI_BACKEND)
    script = textwrap.dedent(
        """
        import matplotlib
        matplotlib.use("module://fake_gui_backend")
        import matplotlib.pyplot as plt
        from fake_gui_backend import EVENTS
        from gradlab.viz.save import new_figure

        fig = new_figure(2, 2)
        fig.add_subplot().plot([1, 2])
        fig.show(block=False)
        print(plt.get_fignums(), EVENTS)
        plt.close(fig)
        fig.show()
        print(plt.get_fignums(), EVENTS[2:])
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), SRC])}
    env.pop("MPLBACKEND", None)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    ).stdout.splitlines()
    assert out == [
        "[1] [('window', 1), ('loop', False)]",
        "[1] [('window', 1), ('loop', None)]",
    ]


@pytest.mark.slow
def test_figures_history_and_the_live_monitor_display_in_a_real_kernel() -> None:
    """A notebook run by a real ipykernel: a figure as the last expression of a cell shows
    as a PNG, without pyplot; the kernel is recognised as a notebook, so training shows
    the live monitor, one output updated in place that ends with the last epoch."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    cells = [
        "import sys\nfrom gradlab.viz.save import new_figure\n"
        "fig = new_figure(2, 2)\nfig.add_subplot().plot([1, 2])\nfig",
        "from gradlab.history import History\nh = History()\n"
        "h.append(epoch=1, train_loss=0.5, train_accuracy=0.8, test_loss=0.6, "
        "test_accuracy=0.7, seconds=0.1)\nh.plot()",
        "from gradlab.viz.notebook import in_notebook\n"
        "print(in_notebook(), 'matplotlib.pyplot' in sys.modules)",
        "import numpy as np\nfrom gradlab.models import SoftmaxRegression\n"
        "from gradlab.viz.monitor import monitors\n"
        "rng = np.random.default_rng(0)\ny = rng.integers(0, 3, 60)\n"
        "X = (rng.normal(size=(3, 4))[y] + rng.normal(size=(60, 4))).astype('float32')\n"
        "m = SoftmaxRegression(epochs=3).fit(X, y, eval_set=(X, y), callbacks=monitors())",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env_path) if p)
    try:
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    finally:
        os.environ["PYTHONPATH"] = env_path
    for cell in nb.cells[:2]:
        (output,) = cell.outputs
        assert output["output_type"] == "execute_result"
        assert base64.b64decode(output["data"]["image/png"]).startswith(PNG_MAGIC)
    assert nb.cells[2].outputs[0]["text"].strip() == "True False"
    (live,) = nb.cells[3].outputs
    assert live["output_type"] == "display_data"
    assert "epoch 3/3 (done)" in live["data"]["text/plain"]
    assert live["data"]["image/svg+xml"].startswith("<svg")


def _overlaps_an_axes(fig: Figure) -> list[str]:
    """Names of the legends whose box overlaps the data area of some axes."""
    fig.draw_without_rendering()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    areas = [ax.get_window_extent() for ax in fig.axes if ax.get_label() != "<colorbar>"]
    return [
        ", ".join(t.get_text() for t in leg.get_texts())
        for leg in legends
        if any(leg.get_window_extent().overlaps(area) for area in areas)
    ]


def test_training_curves_have_separate_labelled_axes_a_named_title_and_a_legend_outside() -> None:
    from gradlab.viz.curves import training_curves

    fig = training_curves(classifier_history().columns, epochs=5, model="MLP", dataset="digits")
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_ylabel() == "cross-entropy loss"
    assert acc_ax.get_ylabel() == "accuracy (share correct)"
    assert [line.get_label() for line in loss_ax.lines] == ["train loss (epoch mean)", "test loss"]
    assert [line.get_label() for line in acc_ax.lines] == [
        "train accuracy (epoch mean)",
        "test accuracy",
    ]
    assert fig.get_suptitle() == "MLP on digits: loss and accuracy per epoch"
    assert len(fig.legends) == 1
    assert _overlaps_an_axes(fig) == []


def test_regression_legends_stay_off_the_data() -> None:
    from gradlab.viz.regression import fit_line, loss_curves, loss_surface

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 15, 100)
    y = 1.5 * x + 4 + rng.normal(size=100)
    figures = [
        fit_line(x, y, [("gradient descent", 1.8, 0.3), ("closed form", 1.5, 4.0)]),
        loss_curves([("a", [3.0, 2.0]), ("b", [3.0, 1.0])], floor=("least squares", 0.9)),
        loss_surface(x, y, np.array([0.0, 1.0, 1.49]), np.array([0.0, 2.0, 3.99]),
                     optimum=(1.5, 4.0)),
    ]  # fmt: skip
    for fig in figures:
        assert fig.legends, "no legend"
        assert _overlaps_an_axes(fig) == []


def test_loss_surface_markers_all_show_when_the_descent_ends_on_the_optimum() -> None:
    from gradlab.viz.regression import loss_surface

    x = np.linspace(0, 15, 50)
    y = 1.5 * x + 4
    fig = loss_surface(x, y, np.array([0.0, 1.0, 1.5]), np.array([0.0, 2.0, 4.0]),
                       optimum=(1.5, 4.0))  # fmt: skip
    marks = {line.get_label(): line for line in fig.axes[0].lines}
    star, end = marks["least squares (closed form)"], marks["end of descent"]
    start, path = marks["start"], marks["descent path"]
    assert star.get_markerfacecolor() == "none"  # hollow: what lies under it shows
    assert star.get_markersize() > 2 * end.get_markersize()  # its outline rings the square
    assert end.get_zorder() > star.get_zorder() > path.get_zorder()
    assert start.get_zorder() > path.get_zorder()


def test_confusion_and_grid_titles_name_the_model_and_the_data_set() -> None:
    from gradlab.viz.images import confusion_figure, confusion_matrix, prediction_grid

    true, pred = np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])
    cm = confusion_figure(confusion_matrix(true, pred, 3), "abc", model="MLP", dataset="toy")
    assert cm.axes[0].get_title().startswith("MLP on toy: confusion matrix\naccuracy 0.7500")
    grid = prediction_grid(np.zeros((4, 2, 2)), true, pred, "abc", model="MLP", dataset="toy",
                           test_wrong=7, test_total=40)  # fmt: skip
    assert grid.get_suptitle().startswith("MLP on toy: 1 of 4 shown is wrong (7 of 40 in the")
    wrong_tile = grid.axes[2]
    assert wrong_tile.title.get_color() == "#cc0000"
    assert grid.axes[0].title.get_color() == "black"
