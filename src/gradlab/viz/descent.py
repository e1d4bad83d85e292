"""Pictures of gradient descent on a function: one panel per learning rate.

Each panel draws the function (its curve for ``f(x)``, its contours for
``f(x, y)``) with the path on it, the dots coloured by step number (a colour bar
says which). So that every panel teaches:

- all panels share one view, sized to the function where the runs stay bounded;
  a run that escapes it (diverged or diverging) gets an arrow off the plot where
  it leaves and a note of the step and the value it reached, instead of
  stretching the axes until the function vanishes;
- a bouncing run (oscillating or diverging) draws only its first bounces as
  lines, shades the band its last steps bounce across, and adds a small plot of
  the coordinates against the step;
- the start (a ring) and the end (a cross) stay visible even where they meet.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gradlab.params import Constraint, Interval, Predicate, validate
from gradlab.viz.save import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gradlab.functions import Function, Trajectory

__all__ = ["descent_panels"]

FloatArray = npt.NDArray[np.float64]

#: Verdicts of runs that leave any bounded region; they do not size the view.
_RUNAWAY = ("diverged", "diverging")
#: Verdicts of runs that bounce across the minimum.
_BOUNCING = ("oscillating", "diverging")
_CONSTRAINTS: dict[str, Constraint | list[Constraint]] = {
    "runs": Predicate(lambda runs: len(runs) > 0, "a non-empty sequence of Trajectory"),
    "first_bounces": Interval(Integral, 1, None),
}
_CMAP = "plasma"  # dark at the start, bright at the end
_PATH_COLOUR = "#b03a5b"
_PANEL_ASPECT = 1.25  # width / height of a panel's plotting area, roughly
_LONGEST_MATH = 160  # characters of LaTeX beyond which the title is plain text

# Candidate places for the small step plot and the escape note, as axes-fraction
# rectangles (x0, y0, width, height), named like matplotlib's legend locations.
_CORNERS: dict[str, tuple[float, float, float, float]] = {
    "upper left": (0.0, 0.62, 0.38, 0.38),
    "upper center": (0.31, 0.62, 0.38, 0.38),
    "upper right": (0.62, 0.62, 0.38, 0.38),
    "lower left": (0.0, 0.0, 0.38, 0.38),
    "lower center": (0.31, 0.0, 0.38, 0.38),
    "lower right": (0.62, 0.0, 0.38, 0.38),
}


def descent_panels(runs: Sequence[Trajectory], *, first_bounces: int = 6) -> Figure:
    """For ``f(x)``: the curve with the path on it; for ``f(x, y)``: contours with the path.

    Parameters
    ----------
    runs : sequence of Trajectory
        Runs on the same function (one per learning rate); one panel each.
    first_bounces : int, default 6
        How many steps of a bouncing run (oscillating or diverging) are drawn
        as lines; later steps are drawn as dots only, so that the bounces stay
        legible.

    Returns
    -------
    matplotlib.figure.Figure
        Panels in rows of two, each with its colour bar of the step number; the
        title is the formula, set as mathematics where matplotlib can.

    Raises
    ------
    UsageError
        If ``runs`` is empty or ``first_bounces`` is not an integer >= 1.
    """
    validate(_CONSTRAINTS, {"runs": runs, "first_bounces": first_bounces}, "descent_panels")
    function = runs[0].function
    k = len(runs)
    cols = min(k, 2)
    rows = (k + cols - 1) // cols
    fig = new_figure(5.8 * cols, 4.3 * rows)
    lo, hi = _view(runs)
    if function.n_vars == 1:
        xs = np.linspace(lo[0], hi[0], 400)
        ys = function.value(xs[:, None])
        ylo, yhi = _value_range(ys)
        box = (np.array([lo[0], ylo]), np.array([hi[0], yhi]))
        curve = np.stack([xs, ys], axis=-1)
    else:
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 160), np.linspace(lo[1], hi[1], 160))
        z = np.ma.masked_invalid(function.value(np.stack([gx, gy], axis=-1)))
        levels = _levels(z.compressed())
        box = (lo, hi)
    for i, run in enumerate(runs):
        ax = fig.add_subplot(rows, cols, i + 1)
        if function.n_vars == 1:
            ax.plot(xs, ys, color="0.3", lw=1.6, zorder=1)
            ax.set_xlabel(function.variables[0])
            ax.set_ylabel(f"f({function.variables[0]})")
            path = np.stack([run.points[:, 0], run.values], axis=-1)
            clutter = np.concatenate([curve, path])
        else:
            if z.count():  # nothing to draw where f is nowhere finite
                cs = ax.contour(gx, gy, z, levels=levels, colors="0.6", linewidths=0.7, zorder=1)
                ax.clabel(cs, np.asarray(cs.levels)[::3], fontsize=6.5, fmt="%.3g")
            ax.set_xlabel(function.variables[0])
            ax.set_ylabel(function.variables[1])
            path = np.asarray(run.points, dtype=np.float64)
            clutter = path
        _draw_path(fig, ax, run, path, box, first_bounces, clutter)
        for m in run.minima:  # the known minima of a built-in test function, in view
            if function.n_vars == 2 and np.all((m >= box[0]) & (m <= box[1])):
                ax.plot(*m, "*", ms=13, mfc="#FFD700", mec="k", mew=0.8, zorder=6,
                        linestyle="none", label="minimum")  # fmt: skip
        ax.set_title(panel_title(run), fontsize=10)
    fig.suptitle(f"Gradient descent on {formula_title(function)}")
    path_key = "path"
    if any(run.verdict in _BOUNCING for run in runs):
        path_key = f"path (of a bounce, the first {first_bounces} steps)"
    _legend(fig, path_key)
    return fig


def _legend(fig: Figure, path_key: str) -> None:
    """One key below the panels for the marks they share (each label once)."""
    from matplotlib.lines import Line2D

    handles: dict[str, Any] = {path_key: Line2D([], [], color=_PATH_COLOUR, lw=0.9)}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncols=len(handles),
        fontsize=8,
        frameon=False,
    )


def panel_title(run: Trajectory) -> str:
    """``"lr = 0.01: converged in 53 steps"`` and the like; the rule and schedule first when
    the run is not plain descent at a constant rate (``"momentum, lr 0.01: ..."``)."""
    plain = run.optimizer == "sgd" and run.schedule is None
    head = f"lr = {run.lr:g}: " if plain else f"{run.label}: "
    if run.verdict == "converged":
        return head + f"converged in {_steps(run.converged_at or 0)}"
    if run.verdict == "diverged":
        return head + f"diverged at step {run.diverged_at}"
    return head + f"{run.verdict} after {_steps(run.steps_taken)}"


def _steps(n: int) -> str:
    return "1 step" if n == 1 else f"{n} steps"


def formula_title(function: Function) -> str:
    """``f(x) = ...`` as matplotlib mathtext, or as plain text where mathtext cannot set it."""
    names = ", ".join(function.variables)
    plain = f"f({names}) = {function.text}"
    if len(plain) > 90:
        lines = textwrap.wrap(plain, 90, max_lines=3, placeholder=" ...")
        plain = "\n".join(lines)
    try:
        import sympy  # type: ignore[import-untyped]

        tex = sympy.latex(function.expr, inv_trig_style="full")
    except Exception:  # a printer failure must not cost the picture
        return plain
    math = f"$f({names}) = {tex}$"
    if len(tex) > _LONGEST_MATH or not _mathtext_can_set(math):
        return plain
    return math


def _mathtext_can_set(text: str) -> bool:
    from matplotlib.mathtext import MathTextParser

    try:
        MathTextParser("path").parse(text)
    except (ValueError, RuntimeError):
        return False
    return True


# ------------------------------------------------------------------ the view


def _view(runs: Sequence[Trajectory]) -> tuple[FloatArray, FloatArray]:
    """A box around the runs that stay bounded, and every start.

    A run that escapes (diverged, diverging) does not size the view, so that
    its runaway values cannot squash the function out of sight. If every run
    escapes, the box holds the starts and each run's first step (when that step
    is not itself absurd).
    """
    bounded = [r.points for r in runs if r.verdict not in _RUNAWAY]
    core = np.concatenate([*bounded, *(r.points[:1] for r in runs)])
    if not bounded:
        firsts = [
            r.points[1:2]
            for r in runs
            if len(r.points) > 1
            and np.all(np.abs(r.points[1] - r.points[0]) <= 1e3 * np.maximum(abs(r.points[0]), 1))
        ]
        core = np.concatenate([core, *firsts])
    lo, hi = core.min(axis=0), core.max(axis=0)
    span = np.maximum(hi - lo, np.maximum(np.abs(lo), 1.0) * 0.5)
    middle = (lo + hi) / 2
    half = np.maximum((hi - lo) / 2 + 0.2 * span, span / 2)
    if len(half) == 2:  # drawn at equal scales: widen the box to about a panel's shape
        half = np.maximum(half, half[::-1] * np.array([_PANEL_ASPECT, 1 / _PANEL_ASPECT]))
    return middle - half, middle + half


def _value_range(ys: FloatArray) -> tuple[float, float]:
    """Limits for ``f`` on the plotted curve; near a pole, the bulk of it."""
    finite = ys[np.isfinite(ys)]
    if finite.size == 0:
        return -1.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    q_lo, q_hi = (float(q) for q in np.quantile(finite, [0.05, 0.95]))
    if q_hi > q_lo and hi - lo > 20 * (q_hi - q_lo):  # a pole: show the bulk
        pad = 0.5 * (q_hi - q_lo)
        lo, hi = max(lo, q_lo - pad), min(hi, q_hi + pad)
    pad = 0.08 * (hi - lo) if hi > lo else max(abs(lo), 1.0) * 0.5
    return lo - pad, hi + pad


def _levels(finite: FloatArray) -> FloatArray | int:
    """Contour levels at quantiles of the finite values of ``f`` over the view."""
    if finite.size == 0:
        return 10
    levels = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, 18)[1:-1]))
    return levels if levels.size >= 2 else 10


# ------------------------------------------------------------------ one panel


def _draw_path(
    fig: Figure,
    ax: Axes,
    run: Trajectory,
    path: FloatArray,
    box: tuple[FloatArray, FloatArray],
    first_bounces: int,
    clutter: FloatArray,
) -> None:
    """Draw ``path`` (shape (k + 1, 2), plot coordinates) in ``ax``, which shows ``box``."""
    lo, hi = box
    steps = np.arange(len(path))
    bouncing = run.verdict in _BOUNCING
    shown = path[: first_bounces + 1] if bouncing else path
    ax.plot(shown[:, 0], shown[:, 1], "-", color=_PATH_COLOUR, lw=0.9, alpha=0.75, zorder=2)
    dots = ax.scatter(
        path[:, 0],
        path[:, 1],
        c=steps,
        cmap=_CMAP,
        vmin=0,
        vmax=max(len(path) - 1, 1),
        s=16,
        zorder=3,
        linewidths=0,
    )
    bar = fig.colorbar(dots, ax=ax, pad=0.01, fraction=0.05, aspect=30)
    bar.set_label("step")
    bar.locator = _integer_locator()
    bar.update_ticks()
    ax.plot(*path[0], "o", ms=13, mfc="none", mec="k", mew=1.5, zorder=4, label="start")
    inside = np.all((path >= lo) & (path <= hi), axis=1)
    if inside[-1]:
        ax.plot(*path[-1], "X", ms=8, mfc="white", mec="k", mew=1.0, zorder=5, label="end")
    if run.verdict == "oscillating" and run.function.n_vars == 1:
        window = run.points[-21:, 0]  # the last 20 steps
        ax.axvspan(
            float(window.min()), float(window.max()), color=_PATH_COLOUR, alpha=0.07, lw=0,
            zorder=0, label=f"where an oscillation's last {len(window) - 1} steps bounce",
        )  # fmt: skip
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    if run.function.n_vars == 2:
        ax.set_aspect("equal", adjustable="box")

    outside = np.flatnonzero(~inside)
    arrow = _arrow(path, int(outside[0]), lo, hi) if outside.size else None
    # what the step plot and the note must not hide, in axes fractions
    ends = path[[0, -1]][inside[[0, -1]]]
    marks = [
        ((clutter - lo) / (hi - lo), 1.0),
        (_along((shown - lo) / (hi - lo)), 2.0),
        (_mark_area((ends - lo) / (hi - lo)), NEVER_HIDDEN),
    ]
    if arrow is not None:
        marks.append((_along(np.array(arrow), 40), 20.0))  # the escape must stay in sight
    ranked = _corners_by_room(marks)
    taken: list[str] = []
    if bouncing:
        _step_plot(ax, run, _CORNERS[_claim(ranked, taken)])
    if arrow is not None:
        _escape(ax, run, int(outside[0]), arrow, _claim(ranked, taken))
    elif run.verdict == "diverged":
        _note(
            ax,
            f"step {run.diverged_at}: f or x not finite\n(outside the domain) or past the limit",
            _claim(ranked, taken),
        )


def _integer_locator() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=6, integer=True)


#: The weight of the start and end marks in the corner choice: more than any count of
#: path, arrow or contour points, so that a corner holding one is taken last.
NEVER_HIDDEN = 1e9
#: How far (axes fraction) around a mark's centre its ring reaches.
MARK_RADIUS = 0.035


def _mark_area(centres: FloatArray) -> FloatArray:
    """The centres (shape (m, 2), axes fractions) and points on the square around each, so
    that a box that covers only a mark's edge counts it too."""
    r = MARK_RADIUS
    offsets = np.array([[dx, dy] for dx in (-r, 0.0, r) for dy in (-r, 0.0, r)])
    area: FloatArray = (centres[:, None, :] + offsets[None, :, :]).reshape(-1, 2)
    return area


def _along(polyline: FloatArray, per_segment: int = 12) -> FloatArray:
    """Points spaced along ``polyline`` (shape (m, 2)), so that its lines count as clutter."""
    if len(polyline) < 2:
        return polyline
    t = np.linspace(0.0, 1.0, per_segment)[:, None, None]
    return (polyline[:-1] + t * (polyline[1:] - polyline[:-1])).reshape(-1, 2)


def _corners_by_room(marks: list[tuple[FloatArray, float]]) -> list[str]:
    """The corner names, emptiest first, ties in table order.

    ``marks`` holds pairs (points in axes fractions, shape (m, 2); weight of each):
    a corner's clutter is the weighted count of the points inside it.
    """
    clutter = dict.fromkeys(_CORNERS, 0.0)
    for frac, weight in marks:
        frac = frac[np.all(np.isfinite(frac), axis=1)]
        for name, (x0, y0, w, h) in _CORNERS.items():
            within = (frac[:, 0] >= x0) & (frac[:, 0] <= x0 + w)
            within &= (frac[:, 1] >= y0) & (frac[:, 1] <= y0 + h)
            clutter[name] += weight * int(within.sum())
    return sorted(_CORNERS, key=lambda name: clutter[name])


def _claim(ranked: list[str], taken: list[str]) -> str:
    """The emptiest corner clear of those ``taken`` (else the emptiest free one); take it."""
    free = [c for c in ranked if c not in taken]
    clear = [c for c in free if not any(_overlap(c, t) for t in taken)]
    choice = (clear or free or ranked)[0]
    taken.append(choice)
    return choice


def _overlap(a: str, b: str) -> bool:
    (x0, y0, w, h), (u0, v0, p, q) = _CORNERS[a], _CORNERS[b]
    return x0 < u0 + p and u0 < x0 + w and y0 < v0 + q and v0 < y0 + h


def _step_plot(ax: Axes, run: Trajectory, corner: tuple[float, float, float, float]) -> None:
    """A small plot of each coordinate against the step, inside ``corner``."""
    x0, y0, w, h = corner
    inset = ax.inset_axes((x0 + 0.085, y0 + 0.075, w - 0.11, h - 0.12))
    steps = np.arange(len(run.points))
    for i, name in enumerate(run.function.variables):
        inset.plot(steps, run.points[:, i], lw=0.6, color=("0.25", "#3a6ea5")[i], label=name)
    inset.set_xlabel("step", fontsize=6.5, labelpad=1)
    if run.function.n_vars == 1:
        inset.set_ylabel(run.function.variables[0], fontsize=6.5, labelpad=1)
    inset.tick_params(labelsize=6, length=2, pad=1)
    inset.set_xlim(0, max(len(steps) - 1, 1))
    inset.patch.set_alpha(0.9)
    if run.function.n_vars == 2:
        inset.legend(fontsize=5.5, loc="best", handlelength=1.2, borderpad=0.3)


def _arrow(
    path: FloatArray, first_out: int, lo: FloatArray, hi: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Tail and head, in axes fractions, of an arrow to where the path leaves the view.

    The head is where the step ``first_out - 1 -> first_out`` crosses the edge;
    the tail is the point before, moved back if the arrow would be too short to see.
    """
    a = (path[first_out - 1] - lo) / (hi - lo)  # inside
    d = (path[first_out] - lo) / (hi - lo) - a  # to the point outside
    t = min(
        (((1.0 if di > 0 else 0.0) - ai) / di for ai, di in zip(a, d, strict=True) if di != 0),
        default=0.0,
    )
    head = a + max(0.0, min(t, 1.0)) * d
    direction = d / (np.linalg.norm(d) or 1.0)
    tail = head - max(float(np.linalg.norm(head - a)), 0.14) * direction
    return tail, head


def _escape(
    ax: Axes,
    run: Trajectory,
    first_out: int,
    arrow: tuple[FloatArray, FloatArray],
    corner: str,
) -> None:
    """The arrow off the plot, labelled with its step, and a note of where the run went."""
    tail, head = arrow
    ax.annotate(
        "",
        xy=(float(head[0]), float(head[1])),
        xytext=(float(tail[0]), float(tail[1])),
        xycoords="axes fraction",
        textcoords="axes fraction",
        arrowprops={"arrowstyle": "-|>", "color": _PATH_COLOUR, "lw": 1.8, "mutation_scale": 14},
        annotation_clip=False,
        zorder=6,
    )
    direction = (head - tail) / (np.linalg.norm(head - tail) or 1.0)
    side = np.array([-direction[1], direction[0]])  # beside the arrow's middle
    if side[0] < 0:
        side = -side
    middle = (head + tail) / 2
    ax.annotate(
        f"step {first_out}",
        xy=(float(middle[0]), float(middle[1])),
        xycoords="axes fraction",
        xytext=(float(12 * side[0]), float(12 * side[1])),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize=7.5,
        color=_PATH_COLOUR,
        zorder=6,
    )
    names = run.function.variables
    where = ", ".join(f"{n} = {v:.3g}" for n, v in zip(names, run.x_final, strict=True))
    text = (
        f"leaves the view at step {first_out};\n"
        f"at step {run.steps_taken}: {where},\n"
        f"f = {run.f_final:.3g}"
    )
    if run.verdict == "diverged":
        text += f"; diverged at step {run.diverged_at}"
    else:
        text += "; still growing"
    _note(ax, text, corner)


def _note(ax: Axes, text: str, corner: str) -> None:
    x0, y0, w, h = _CORNERS[corner]
    right = corner.endswith("right")
    upper = corner.startswith("upper")
    x = x0 + w - 0.02 if right else x0 + 0.02 if corner.endswith("left") else x0 + w / 2
    ha = "right" if right else "left" if corner.endswith("left") else "center"
    ax.text(
        x,
        y0 + h - 0.03 if upper else y0 + 0.03,
        text,
        transform=ax.transAxes,
        ha=ha,
        va="top" if upper else "bottom",
        fontsize=7,
        color="0.1",
        bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": _PATH_COLOUR, "alpha": 0.9},
        zorder=7,
    )
