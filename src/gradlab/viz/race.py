"""The optimizer race: several update rules from one start on one function, side by side.

:func:`race_figure` draws every run's path on the function (contours for ``f(x, y)``,
the curve for ``f(x)``), one colour per rule, with the known minima marked, and beside
it how fast each closes in: ``f - f_min`` and the distance to the nearest minimum
against the step on log scales (``f`` itself when no minimum is known). The legend gives
each rule's rate and verdict. :func:`race_gif` animates the same race, the paths
growing step by step, as a small GIF (matplotlib's animation with the Pillow writer;
no ffmpeg), written atomically.

::

    from gradlab.functions import compare_optimizers
    from gradlab.viz.race import race_figure, race_gif

    runs = compare_optimizers("rosenbrock", ["sgd", "momentum", "nesterov", "adam"])
    race_figure(runs)                      # shows itself in a notebook
    race_gif(runs, "race.gif")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gradlab.errors import UsageError
from gradlab.io import atomic_path
from gradlab.params import Constraint, Interval, Predicate, validate
from gradlab.viz.save import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gradlab.functions import Trajectory

__all__ = ["race_figure"]

#: The most frames of a race GIF at :data:`_BASE_DPI`; fewer at a higher dpi, in
#: proportion to the pixels (every frame is held in memory until the file is written).
_MAX_FRAMES = 400
_BASE_DPI = 80

FloatArray = npt.NDArray[np.float64]

#: One colour per rule (the Okabe-Ito palette, told apart with every kind of colour
#: vision), so that a rule looks the same in every picture.
COLOURS: dict[str, str] = {
    "sgd": "#000000",
    "momentum": "#0072B2",
    "nesterov": "#009E73",
    "adagrad": "#CC79A7",
    "rmsprop": "#56B4E9",
    "adam": "#D55E00",
    "adamw": "#E69F00",
}
_SPARE = ("#7F3C8D", "#11A579", "#3969AC", "#F2B701", "#E73F74", "#80BA5A")
_MINIMUM: dict[str, Any] = {"marker": "*", "ms": 15, "mfc": "#FFD700", "mec": "k", "mew": 0.9}

_CONSTRAINTS: dict[str, Constraint | list[Constraint]] = {
    "runs": Predicate(
        lambda runs: len(runs) > 0 and all(r.function.expr == runs[0].function.expr for r in runs),
        "a non-empty sequence of Trajectory on one function",
    ),
    "frames": Interval(Integral, 2, 400),
    "fps": Interval(Integral, 1, 60),
    "dpi": Interval(Integral, 20, 300),
    "hold": Interval(Real, 0, 30),
}


def _colours(runs: Sequence[Trajectory]) -> list[str]:
    """A colour per run: the rule's own, or a spare one when a rule runs twice."""
    used: set[str] = set()
    spare = iter(_SPARE * (len(runs) // len(_SPARE) + 1))
    out = []
    for run in runs:
        colour = COLOURS.get(run.optimizer)
        if colour is None or colour in used:
            colour = next(spare)
        used.add(colour)
        out.append(colour)
    return out


def run_caption(run: Trajectory, *, short: bool = False) -> str:
    """The legend's line for a run: ``"adam, lr 0.1: converged in 350 steps"``, ``"sgd, lr
    0.001: still moving after 1000 steps, 1.1 from the minimum"``.

    A run the steps ran out on ("too slow") is said to be still moving, or still settling
    when it bounces about a point, with its distance to the minimum, or where no minimum
    is known its last step's length: such a run may already be at the minimum, circling
    it (momentum) or stepping about it by its rate (Adam).
    ``short`` leaves out the last step and the distance (the animation's narrow legend)."""
    if run.verdict == "converged":
        what = f"converged in {run.converged_at} steps"
    elif run.verdict == "diverged":
        what = f"diverged at step {run.diverged_at}"
    elif run.verdict == "too slow":
        points = np.asarray(run.points)
        last = float(np.linalg.norm(points[-1] - points[-2])) if len(points) > 1 else 0.0
        what = f"still {'settling' if run.bouncing else 'moving'} after {run.steps_taken} steps"
        if not short and run.distances is None:  # else the distance says how close it is
            what += f" (last step {last:.1g})"
    else:
        what = f"{run.verdict} after {run.steps_taken} steps"
    distances = run.distances
    if distances is not None and run.verdict != "converged" and not short:
        what += f", {distances[-1]:.2g} from the minimum"
    return f"{run.label}: {what}"


@dataclass
class _Race:
    """What both pictures draw: the map, the curves, and the values along each run."""

    runs: Sequence[Trajectory]
    colours: list[str]
    lo: FloatArray
    hi: FloatArray
    gaps: list[FloatArray]  # f - f_min, or f
    distances: list[FloatArray] | None
    known: bool  # the minimum is known: log scales
    floor: float


def _path_width(i: int) -> float:
    """The line width of run ``i``'s path: the first (on top) narrowest."""
    return 1.3 + 1.5 * i


def _gap_floor(gaps: Sequence[FloatArray], f_min: float) -> float:
    """Where the log-scale curves of ``f - f_min`` bottom out: float64's resolution of a
    value near ``f_min`` (a few ``eps * |f_min|``), or, for ``f_min = 0``, where ``f`` itself
    is exact to its last bit, a tenth of the smallest positive gap; the floor is drawn."""
    resolution = 4 * float(np.finfo(np.float64).eps) * abs(f_min)
    every = np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in gaps])
    above = every[np.isfinite(every) & (every > resolution)]
    if resolution > 0:
        return resolution
    return max(float(above.min()) / 10 if above.size else 1e-16, 1e-300)


def _prepare(runs: Sequence[Trajectory]) -> _Race:
    from gradlab.viz.descent import _view

    known_fn = runs[0].test_function
    if known_fn is not None:  # the surface's own box, widened to hold the bounded runs
        lo = np.array([known_fn.view[0][0], known_fn.view[1][0]])
        hi = np.array([known_fn.view[0][1], known_fn.view[1][1]])
        bounded = [r.points for r in runs if r.verdict not in ("diverged", "diverging")]
        if bounded:
            every = np.concatenate(bounded)
            pad = 0.05 * (hi - lo)
            lo = np.minimum(lo, every.min(axis=0) - pad)
            hi = np.maximum(hi, every.max(axis=0) + pad)
    else:
        lo, hi = _view(runs)
    if known_fn is not None:
        gaps = [np.asarray(r.values - known_fn.f_min) for r in runs]
        floor = _gap_floor(gaps, known_fn.f_min)
        if not any(bool((g < floor).any()) for g in gaps):
            floor = 0.0  # nothing reaches it: no line to draw
        gaps = [np.maximum(g, floor) for g in gaps]
        distances = [np.maximum(np.asarray(r.distances), 1e-16) for r in runs]
    else:
        gaps, distances, floor = [np.asarray(r.values) for r in runs], None, 0.0
    return _Race(runs, _colours(runs), lo, hi, gaps, distances, known_fn is not None, floor)


def _draw_map(ax: Axes, race: _Race) -> None:
    """The function over the view: filled and line contours (two variables) or the curve."""
    from gradlab.viz.descent import _levels, _value_range

    function = race.runs[0].function
    lo, hi = race.lo, race.hi
    if function.n_vars == 1:
        xs = np.linspace(lo[0], hi[0], 400)
        ys = function.value(xs[:, None])
        ax.plot(xs, ys, color="0.35", lw=1.4, zorder=1)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(*_value_range(ys))
        ax.set_xlabel(function.variables[0])
        ax.set_ylabel(f"f({function.variables[0]})")
        return
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 220), np.linspace(lo[1], hi[1], 220))
    z = np.ma.masked_invalid(function.value(np.stack([gx, gy], axis=-1)))
    if z.count():
        levels = _levels(z.compressed())
        ax.contourf(gx, gy, z, levels=levels, cmap="Greys_r", alpha=0.28, zorder=0,
                    extend="both")  # fmt: skip
        ax.contour(gx, gy, z, levels=levels, colors="0.55", linewidths=0.6, zorder=1)
    for m in race.runs[0].minima:
        ax.plot(*m, **_MINIMUM, zorder=6, linestyle="none")
    known = race.runs[0].test_function
    for saddle in known.saddles if known is not None else ():
        ax.plot(*saddle, "P", ms=9, mfc="white", mec="k", mew=0.9, zorder=6)
        ax.annotate("saddle", saddle, xytext=(7, -12), textcoords="offset points", fontsize=8)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(function.variables[0])
    ax.set_ylabel(function.variables[1])


def _path(run: Trajectory) -> FloatArray:
    """The run in the map's coordinates: (x, y), or (x, f(x)) for one variable."""
    if run.function.n_vars == 1:
        return np.stack([run.points[:, 0], run.values], axis=-1)
    return np.asarray(run.points, dtype=np.float64)


def _curve_axes(race: _Race, ax_gap: Axes, ax_dist: Axes | None, steps: int) -> None:
    fmin = race.runs[0].test_function.f_min if race.runs[0].test_function else None
    ax_gap.set_xlim(0, max(steps, 1))
    if race.known:
        ax_gap.set_yscale("log")
        ax_gap.set_ylabel("f - f_min" if fmin == 0 else f"f - f_min (f_min = {fmin:g})")
        top = max(float(g.max()) for g in race.gaps)
        low = min(float(g.min()) for g in race.gaps)
        ax_gap.set_ylim(low / 3, top * 3)
        if race.floor > 0:  # the gaps that reached it: f_min itself, as float64 holds it
            ax_gap.axhline(race.floor, color="0.5", lw=0.8, ls=":", zorder=0)
            ax_gap.annotate(
                "at f_min" if fmin == 0 else "at f_min (to float64's precision)",
                (0.99, race.floor), xycoords=("axes fraction", "data"), ha="right",
                va="bottom", fontsize=7, color="0.4",
            )  # fmt: skip
    else:
        ax_gap.set_ylabel("f")
        lo = min(float(g.min()) for g in race.gaps)
        hi = max(float(g.max()) for g in race.gaps)
        pad = 0.06 * (hi - lo) if hi > lo else 1.0
        ax_gap.set_ylim(lo - pad, hi + pad)
    ax_gap.grid(True, which="major", alpha=0.3)
    if ax_dist is not None and race.distances is not None:
        ax_dist.set_yscale("log")
        ax_dist.set_xlim(0, max(steps, 1))
        ax_dist.set_ylabel("distance to the\nnearest minimum")
        top = max(float(d.max()) for d in race.distances)
        low = min(float(d.min()) for d in race.distances)
        ax_dist.set_ylim(max(low, 1e-16) / 3, top * 3)
        ax_dist.grid(True, which="major", alpha=0.3)
        ax_dist.set_xlabel("step")
    else:
        ax_gap.set_xlabel("step")


def _layout(
    race: _Race, width: float, height: float, *, distances: bool = True
) -> tuple[Figure, Axes, Axes, Axes | None]:
    fig = new_figure(width, height)
    two_curves = distances and race.distances is not None
    grid = fig.add_gridspec(2 if two_curves else 1, 2, width_ratios=(1.35, 1))
    ax_map = fig.add_subplot(grid[:, 0])
    ax_gap = fig.add_subplot(grid[0, 1])
    ax_dist = fig.add_subplot(grid[1, 1], sharex=ax_gap) if two_curves else None
    return fig, ax_map, ax_gap, ax_dist


def _title(runs: Sequence[Trajectory]) -> str:
    from gradlab.viz.descent import formula_title

    known = runs[0].test_function
    head = f"{known.name}: " if known is not None else ""
    return f"Optimizer race on {head}{formula_title(runs[0].function)}"


def race_figure(runs: Sequence[Trajectory]) -> Figure:
    """Every run's path on the function, and how fast each closes in on the minimum.

    Parameters
    ----------
    runs : sequence of Trajectory
        Runs on one function (:func:`gradlab.functions.compare_optimizers` makes them),
        typically one per update rule, from one start.

    Returns
    -------
    gradlab.viz.figure.Figure
        Left: the contours (or the curve) with each path in its rule's colour
        (:data:`COLOURS`), the start ringed, each end marked, the known minima as stars.
        Right: ``f - f_min`` and the distance to the nearest minimum against the step,
        on log scales (``f`` on a linear scale when no minimum is known); a dot marks a
        convergence, a cross a divergence. The legend below gives each run's rule, rate
        and verdict.

    Raises
    ------
    UsageError
        If ``runs`` is empty or mixes functions.
    """
    validate(_CONSTRAINTS, {"runs": runs}, "race_figure")
    race = _prepare(runs)
    fig, ax_map, ax_gap, ax_dist = _layout(race, 12.0, 5.6)
    _draw_map(ax_map, race)
    longest = max(r.steps_taken for r in runs)
    _curve_axes(race, ax_gap, ax_dist, longest)
    start = _path(runs[0])[0]
    ax_map.plot(*start, "o", ms=12, mfc="none", mec="k", mew=1.5, zorder=7)
    for i, run in enumerate(runs):
        colour, path = race.colours[i], _path(run)
        t = np.arange(len(path))
        z = 3 + (len(runs) - i) / (len(runs) + 1)  # the first run on top: paths often share
        # each run under it a little wider, so that where paths coincide every colour
        # still shows as a border around the ones above it
        ax_map.plot(path[:, 0], path[:, 1], "-", color=colour, lw=_path_width(i), zorder=z,
                    label=run_caption(run))  # fmt: skip
        marks = _milestones(len(path) - 1, longest)
        ax_map.plot(path[marks, 0], path[marks, 1], "o", color=colour, ms=4, mec="white",
                    mew=0.5, zorder=z)  # fmt: skip
        ax_map.plot(*path[-1], "X", ms=8, mfc=colour, mec="white", mew=0.8, zorder=5)
        ax_gap.plot(t, race.gaps[i], color=colour, lw=1.4)
        if race.distances is not None and ax_dist is not None:
            ax_dist.plot(t, race.distances[i], color=colour, lw=1.4)
        end = _end_mark(run)
        if end is not None:
            ax_gap.plot(t[-1], race.gaps[i][-1], end, color=colour, ms=7, mew=1.5)
    fig.suptitle(_title(runs), fontsize=11)
    handles, labels = ax_map.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(runs), 2),
               fontsize=9, frameon=False)  # fmt: skip
    ax_map.set_title(_map_title(runs), fontsize=9)
    return fig


def _milestones(steps: int, longest: int) -> np.ndarray:
    """The steps marked on a path: every tenth of the longest run (every step if it has
    no more than 10), so that the dots' spacing shows each run's speed."""
    every = max(1, round(longest / 10))
    return np.arange(0, steps + 1, every)


def _map_title(runs: Sequence[Trajectory]) -> str:
    start = ", ".join(f"{v:.3g}" for v in runs[0].points[0])
    longest = max(r.steps_taken for r in runs)
    every = max(1, round(longest / 10))
    dots = "every step" if every == 1 else f"every {every} steps"
    star = ""
    known = runs[0].test_function
    if known is not None:
        star = "; stars: the minima" if len(known.minima) > 1 else "; star: the minimum"
    return f"paths from ({start}), a dot {dots}{star}"


def _end_mark(run: Trajectory) -> str | None:
    return {"converged": "o", "diverged": "x"}.get(run.verdict)


# ------------------------------------------------------------------ the animation


def frame_steps(length: int, frames: int) -> list[int]:
    """At most ``frames`` step counts from 0 to ``length`` to show: about half spread
    evenly (no gap longer than ``length / (frames // 2 - 1)``), the rest on a log scale,
    so that both the fast first steps and the long crawl show."""
    if length + 1 <= frames:
        return list(range(length + 1))
    even = np.linspace(0, length, max(frames // 2, 2))
    early = np.geomspace(1, length, frames - len(even))
    picks = np.unique(np.concatenate([even, early]).round().astype(int))
    return [int(p) for p in picks]


def race_gif(
    runs: Sequence[Trajectory],
    path: str | os.PathLike[str],
    *,
    frames: int = 60,
    fps: int = 12,
    dpi: int = 80,
    hold: float = 2.5,
) -> Path:
    """The race as an animated GIF: the paths grow step by step, beside ``f - f_min``.

    Parameters
    ----------
    runs : sequence of Trajectory
        As for :func:`race_figure`.
    path : str or path-like
        Where to write the GIF (atomically: a failed or interrupted write leaves
        nothing half-written).
    frames : int, default 60
        The most frames (2 to 400): the steps shown are spread evenly and on a log
        scale over the longest run (:func:`frame_steps`), which bounds the file's size
        whatever the number of steps.
    fps : int, default 12
        Frames per second (1 to 60).
    dpi : int, default 80
        Resolution: the frame is 9 x 4.6 inches, 720 x 368 pixels at 80.
    hold : float, default 2.5
        Seconds the last frame stays before the GIF loops.

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    The function, the axes and the legend are drawn once; each frame redraws only
    what moves (the paths, their heads, the curves and the step count) over a copy
    of that background, as matplotlib's blitting does on screen, and hands the
    pixels to matplotlib's Pillow movie writer. A full redraw per frame (what
    ``Animation.save`` does) costs some 20 times as much.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    validate(
        _CONSTRAINTS,
        {"runs": runs, "frames": frames, "fps": fps, "dpi": dpi, "hold": hold},
        "race_gif",
    )
    # the writer holds every frame until it saves: bound frames x pixels to what 400
    # frames at dpi 80 take (about 0.4 GB); 400 at dpi 300 took 6.8 GB
    most = int(_MAX_FRAMES * (_BASE_DPI / dpi) ** 2)
    if frames > most:
        raise UsageError(
            f"race_gif: frames={frames} at dpi={dpi} would hold more pictures in memory than "
            f"{_MAX_FRAMES} frames at dpi={_BASE_DPI}; at dpi={dpi} take at most {most} frames."
        )
    race = _prepare(runs)
    fig, ax_map, ax_gap, ax_dist = _layout(race, 9.0, 4.6, distances=False)
    fig.set_dpi(dpi)
    _draw_map(ax_map, race)
    longest = max(r.steps_taken for r in runs)
    _curve_axes(race, ax_gap, ax_dist, longest)
    start = _path(runs[0])[0]
    ax_map.plot(*start, "o", ms=10, mfc="none", mec="k", mew=1.3, zorder=7)
    paths = [_path(r) for r in runs]
    moving: list[Any] = []
    lines: list[tuple[Any, Any, Any, Any]] = []
    for i, run in enumerate(runs):
        colour = race.colours[i]
        z = 3 + (len(runs) - i) / (len(runs) + 1)  # stacked as in race_figure
        (trail,) = ax_map.plot([], [], "-", color=colour, lw=_path_width(i), zorder=z,
                               label=run_caption(run, short=True))  # fmt: skip
        (head,) = ax_map.plot([], [], "o", ms=6, mfc=colour, mec="white", mew=0.8, zorder=5)
        (gap_line,) = ax_gap.plot([], [], color=colour, lw=1.4)
        dist_line = ax_dist.plot([], [], color=colour, lw=1.4)[0] if ax_dist else None
        lines.append((trail, head, gap_line, dist_line))
        moving += [a for a in (trail, head, gap_line, dist_line) if a is not None]
    handles, labels = ax_map.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(runs), 2),
               fontsize=8, frameon=False)  # fmt: skip
    fig.suptitle(_title(runs), fontsize=10)
    counter = ax_map.text(0.02, 0.98, "", transform=ax_map.transAxes, ha="left", va="top",
                          fontsize=9, bbox={"fc": "white", "ec": "0.6", "alpha": 0.9})  # fmt: skip
    moving.append(counter)
    moving += [a for a in ax_map.lines if a.get_marker() == _MINIMUM["marker"]]  # over the heads
    for artist in moving:
        artist.set_animated(True)
    canvas: Any = FigureCanvasAgg(fig)
    canvas.draw()  # the static part, and the layout, once
    fig.set_layout_engine("none")
    background = canvas.copy_from_bbox(fig.bbox)
    shown = frame_steps(longest, frames)
    dists: list[FloatArray | None] = [*race.distances] if race.distances else [None] * len(runs)
    writer = _gif_writer(fps=fps, durations=_durations(len(shown), fps, hold))
    target = Path(path)
    with atomic_path(target) as tmp:
        writer.setup(fig, tmp, dpi=dpi)
        for t in shown:
            for (trail, head, gap_line, dist_line), p, gaps, dist in zip(
                lines, paths, race.gaps, dists, strict=True
            ):
                k = min(t, len(p) - 1) + 1
                trail.set_data(p[:k, 0], p[:k, 1])
                head.set_data([p[k - 1, 0]], [p[k - 1, 1]])
                gap_line.set_data(np.arange(k), gaps[:k])
                if dist_line is not None and dist is not None:
                    dist_line.set_data(np.arange(k), dist[:k])
            counter.set_text(f"step {t} of {longest}")
            canvas.restore_region(background)
            for artist in moving:
                fig.draw_artist(artist)
            writer.add(np.asarray(canvas.buffer_rgba()))
        writer.finish()
    return target


def _durations(count: int, fps: int, hold: float) -> list[int]:
    """Milliseconds per frame: ``1 / fps`` each, the last one ``hold``."""
    return [round(1000 / fps)] * (count - 1) + [round(1000 * max(hold, 1 / fps))]


def _gif_writer_class() -> type:
    from matplotlib.animation import PillowWriter
    from PIL import Image

    class GifWriter(PillowWriter):  # type: ignore[misc]
        """matplotlib's Pillow movie writer, fed pixels drawn by blitting (:meth:`add`)
        rather than a full redraw per frame, and saving a GIF whatever the file's suffix
        (the atomic write's temporary file ends in ``.part``), with one shared palette
        (no colour flicker between frames, and smaller files) and a duration per
        frame."""

        def __init__(self, *, fps: int, durations: list[int]) -> None:
            super().__init__(fps=fps)
            self.durations = durations
            self.images: list[Image.Image] = []

        def add(self, rgba: np.ndarray) -> None:
            """Add a frame: the canvas's pixels, shape (height, width, 4), uint8."""
            self.images.append(Image.fromarray(rgba[..., :3].copy(), "RGB"))

        def finish(self) -> None:
            # the last frame's commonest colours, and every marker's colour exactly: a
            # small gold star or a thin path must not lose its colour to a large grey
            common = self.images[-1].quantize(colors=112, method=Image.Quantize.MEDIANCUT)
            entries = list(common.getpalette() or [])[: 112 * 3]
            for colour in (*COLOURS.values(), *_SPARE, _MINIMUM["mfc"], "#000000", "#FFFFFF"):
                entries += [int(str(colour)[k : k + 2], 16) for k in (1, 3, 5)]
            palette = Image.new("P", (1, 1))
            palette.putpalette(entries + [0] * (768 - len(entries)))
            frames = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in self.images]
            frames[0].save(
                self.outfile,
                format="GIF",
                save_all=True,
                append_images=frames[1:],
                duration=self.durations[: len(frames)],
                loop=0,
            )

    return GifWriter


def _gif_writer(*, fps: int, durations: list[int]) -> Any:
    """A GIF writer (its class is made on first use: it subclasses matplotlib's)."""
    return _gif_writer_class()(fps=fps, durations=durations)
