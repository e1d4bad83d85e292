"""What can be checked of the descent pictures without eyes: views, keys, titles, marks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from gradlab.functions import compare_rates, minimize, parse_function
from gradlab.viz.descent import descent_panels, formula_title
from gradlab.viz.save import save_figure

TUTORIAL_RATES = [0.001, 0.01, 0.1, 1.0]


@pytest.fixture(scope="module")
def tutorial() -> Any:
    runs = compare_rates("x**2*sin(x)", [4.0], TUTORIAL_RATES)
    assert [r.verdict for r in runs] == ["too slow", "converged", "oscillating", "diverged"]
    return runs, descent_panels(runs)


def panels(fig: Any) -> list[Any]:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def colour_bars(fig: Any) -> list[Any]:
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def line(ax: Any, label: str) -> Any:
    (found,) = [ln for ln in ax.lines if ln.get_label() == label]
    return found


def texts(ax: Any) -> str:
    return "\n".join(t.get_text() for t in ax.texts)


def test_diverged_panel_shows_the_function_not_the_runaway_values(tutorial: Any) -> None:
    runs, fig = tutorial
    ax = panels(fig)[3]
    curve = ax.lines[0]  # the function, drawn first
    xs, ys = curve.get_xdata(), curve.get_ydata()
    (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
    assert x_lo <= xs.min()
    assert xs.max() <= x_hi
    assert y_lo <= ys.min()  # the whole plotted curve is in view
    assert ys.max() <= y_hi
    assert y_hi - y_lo < 2 * (ys.max() - ys.min())  # ... and fills it
    runaway = runs[3]
    assert runaway.x_final[0] > 5e4
    assert runaway.f_final < -2e9
    assert not x_lo <= runaway.x_final[0] <= x_hi
    assert not y_lo <= runaway.f_final <= y_hi
    # every panel shares the view of the bounded runs
    for other in panels(fig)[:3]:
        assert other.get_xlim() == ax.get_xlim()


def test_the_escape_is_an_arrow_off_the_plot_with_its_step_and_the_value_reached(
    tutorial: Any,
) -> None:
    _, fig = tutorial
    ax = panels(fig)[3]
    arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 1
    head = np.array(arrows[0].xy)  # in axes fractions: on the edge of the view
    assert np.all((head >= -1e-9) & (head <= 1 + 1e-9))
    assert np.any(np.isclose(head, 0.0) | np.isclose(head, 1.0))
    words = texts(ax)
    assert "step 1" in words  # x0 = 4 -> 20.5 is outside the view at once
    assert "leaves the view at step 1" in words
    assert "at step 4: x = 5.35e+04" in words
    assert "f = -2.06e+09; diverged at step 5" in words


def test_every_panel_has_a_colour_bar_of_the_step(tutorial: Any) -> None:
    runs, fig = tutorial
    bars = colour_bars(fig)
    assert len(bars) == len(runs)
    for bar, run in zip(bars, runs, strict=True):
        assert bar.get_ylabel() == "step"
        assert bar.get_ylim() == (0.0, float(run.steps_taken))


def test_labels_and_a_mathtext_title(tutorial: Any) -> None:
    _, fig = tutorial
    for ax in panels(fig):
        assert ax.get_ylabel() == "f(x)"
        assert ax.get_xlabel() == "x"
    title = fig.get_suptitle()
    assert title == r"Gradient descent on $f(x) = x^{2} \sin{\left(x \right)}$"
    assert [ax.get_title() for ax in panels(fig)] == [
        "lr = 0.001: too slow after 200 steps",
        "lr = 0.01: converged in 53 steps",
        "lr = 0.1: oscillating after 200 steps",
        "lr = 1: diverged at step 5",
    ]


def test_one_key_below_the_panels(tutorial: Any) -> None:
    _, fig = tutorial
    (key,) = fig.legends
    labels = [t.get_text() for t in key.get_texts()]
    assert labels[0] == "path (of a bounce, the first 6 steps)"
    assert {"start", "end"} <= set(labels)
    assert any("last 20 steps" in label for label in labels)


def test_oscillating_run_draws_its_first_bounces_and_a_step_plot(tutorial: Any) -> None:
    runs, fig = tutorial
    calm, bouncing = panels(fig)[1], panels(fig)[2]
    path = bouncing.lines[1]
    assert len(path.get_xdata()) == 7  # the first 6 steps, not 200 overlapping lines
    (inset,) = bouncing.child_axes
    assert inset.get_xlabel() == "step"
    np.testing.assert_array_equal(inset.lines[0].get_ydata(), runs[2].points[:, 0])
    assert len(bouncing.patches) == 1  # the band the last steps bounce across
    # a run that does not bounce: its whole path, no step plot
    assert len(calm.lines[1].get_xdata()) == len(runs[1].points)
    assert calm.child_axes == []


def test_formula_falls_back_to_plain_text_when_mathtext_cannot_set_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from matplotlib import mathtext

    f = parse_function("x^2 + 3*y^2")
    assert formula_title(f) == "$f(x, y) = x^{2} + 3 y^{2}$"

    def refuse(self: object, s: str, *args: object, **kwargs: object) -> None:
        raise ValueError(f"cannot set {s}")

    monkeypatch.setattr(mathtext.MathTextParser, "parse", refuse)
    assert formula_title(f) == "f(x, y) = x^2 + 3*y^2"


def test_long_formula_is_plain_text_in_at_most_three_lines() -> None:
    text = " + ".join(f"sin({k}*x)^2" for k in range(1, 30))
    title = formula_title(parse_function(text))
    assert "$" not in title
    lines = title.split("\n")
    assert len(lines) == 3
    assert lines[0].startswith("f(x) = sin(1*x)^2 + sin(2*x)^2")
    assert lines[-1].endswith(" ...")


def test_two_variable_panels_have_equal_scales_and_show_the_escape() -> None:
    runs = compare_rates("x**2 + 3*y^2", [2.0, 1.0], [0.1, 0.3, 0.34])
    assert [r.verdict for r in runs] == ["converged", "converged", "diverging"]
    fig = descent_panels(runs)
    for ax in panels(fig):
        assert ax.get_aspect() == 1.0
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    ax = panels(fig)[2]
    assert (
        ax.get_ylim()[1] < 3
    )  # the run reaches |y| = 2551 after 200 steps; the view stays on the bowl
    assert abs(runs[2].x_final[1]) > 2000
    words = texts(ax)
    assert "leaves the view at step 5" in words
    assert "still growing" in words
    assert fig.get_suptitle() == "Gradient descent on $f(x, y) = x^{2} + 3 y^{2}$"


def test_markers_stay_visible_where_start_and_end_meet() -> None:
    run = minimize("x**2", 0.0, lr=0.1)  # the gradient is 0 at the start: converged there
    assert run.converged_at == 1
    np.testing.assert_array_equal(run.points[0], run.points[-1])
    ax = panels(descent_panels([run]))[0]
    start, end = line(ax, "start"), line(ax, "end")
    assert start.get_xydata().tolist() == end.get_xydata().tolist()
    assert start.get_markerfacecolor() == "none"  # a ring ...
    assert end.get_markersize() < start.get_markersize()  # ... with the end inside it
    assert end.get_zorder() > start.get_zorder()  # drawn on top of the ring and the dots


def test_when_every_run_escapes_the_view_holds_the_start_and_first_step() -> None:
    (run,) = compare_rates("x**2*sin(x)", [4.0], [1.0])
    ax = panels(descent_panels([run]))[0]
    x_lo, x_hi = ax.get_xlim()
    assert x_lo < 4.0  # 4 -> 20.5 ...
    assert run.points[1, 0] < x_hi
    assert x_hi < 100  # not the runaway 5.35e4
    assert "leaves the view at step 3" in texts(ax)


def test_a_run_that_steps_out_of_the_domain_says_so() -> None:
    run = minimize("sqrt(x)", 1.0, lr=1.0)
    assert run.diverged_at == 2
    ax = panels(descent_panels([run]))[0]
    assert "step 2: f or x not finite" in texts(ax)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([],), {}, r"^descent_panels: runs must be a non-empty sequence of .*; got \[\]\.$"),
        (
            (),
            {"first_bounces": 0},
            r"^descent_panels: first_bounces must be an integer >= 1; got 0\.$",
        ),
    ],
)
def test_descent_panels_refuses_bad_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    from gradlab.errors import UsageError

    runs = args[0] if args else [minimize("x**2", 1.0, lr=0.1)]
    with pytest.raises(UsageError, match=message):
        descent_panels(runs, **kwargs)


def test_figure_saves_as_png(tmp_path: Path) -> None:
    runs = compare_rates("x**2 + 3*y^2", [2.0, 1.0], [0.1, 0.34])
    path = save_figure(descent_panels(runs, first_bounces=3), tmp_path / "d.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_note_or_step_plot_covers_the_start_even_where_the_arrow_crosses_every_corner() -> None:
    """The escape arrow (40 points of weight 20 per segment) outweighed the start mark
    (100), so a read-out box could be put over the start ring."""
    from gradlab.viz import descent

    arrow = np.array([[0.1, 0.1], [0.5, 0.9], [0.9, 0.1], [0.1, 0.9], [0.9, 0.9], [0.5, 0.1]])
    start = np.array([[0.36, 0.36]])  # its ring reaches into the lower-left corner's box
    ranked = descent._corners_by_room(
        [(descent._along(arrow, 40), 20.0), (descent._mark_area(start), descent.NEVER_HIDDEN)]
    )
    assert set(ranked[-2:]) == {"lower left", "lower center"}  # the two that hold it
    old = descent._corners_by_room([(descent._along(arrow, 40), 20.0), (start, 100.0)])
    assert set(old[-2:]) != {"lower left", "lower center"}  # as the weights were
