"""The optimizer race: its picture, its GIF, and ``gradlab descend --optimizer a,b,c``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gradlab.cli import main
from gradlab.commands.descend import TEST_FUNCTION_NAMES
from gradlab.errors import ExitStatus, ResourceError, UsageError
from gradlab.functions import TEST_FUNCTIONS, compare_optimizers, minimize
from gradlab.viz.figure import Figure
from gradlab.viz.race import COLOURS, frame_steps, race_figure, race_gif, run_caption

RACE = ["sgd", "momentum", "nesterov", "adam"]


@pytest.fixture(scope="module")
def rosenbrock() -> list:
    return compare_optimizers("rosenbrock", RACE, steps=300)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------- the picture


def test_race_figure_draws_a_path_and_two_curves_per_rule(rosenbrock: list) -> None:
    fig = race_figure(rosenbrock)
    assert isinstance(fig, Figure)
    ax_map, ax_gap, ax_dist = fig.axes
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [run_caption(r) for r in rosenbrock]
    assert labels[0].startswith("sgd, lr 0.001: still moving after 300 steps, ")
    assert labels[0].endswith(" from the minimum")
    colours = {line.get_color() for line in ax_gap.get_lines()}
    assert {COLOURS[name] for name in RACE} <= colours
    assert ax_gap.get_yscale() == "log"
    assert ax_dist.get_yscale() == "log"
    # the gap curve is f - f_min, point for point
    gap = ax_gap.get_lines()[0].get_ydata()
    np.testing.assert_allclose(gap, rosenbrock[0].values - 0.0)
    stars = [line for line in ax_map.get_lines() if line.get_marker() == "*"]
    assert [tuple(s.get_xydata()[0]) for s in stars] == [(1.0, 1.0)]


def test_a_race_on_a_formula_plots_f_without_log_scales() -> None:
    runs = compare_optimizers("x**2*sin(x)", ["sgd", "adam"], 4.0, steps=50)
    fig = race_figure(runs)
    assert len(fig.axes) == 2  # no minimum known: no distance panel
    assert fig.axes[1].get_yscale() == "linear"
    assert fig.axes[1].get_ylabel() == "f"


def test_the_same_rule_twice_gets_two_colours() -> None:
    runs = [minimize("x^2", 1.0, lr=lr, optimizer="adam", steps=5) for lr in (0.1, 0.2)]
    fig = race_figure(runs)
    colours = [line.get_color() for line in fig.axes[1].get_lines()]
    assert colours[0] == COLOURS["adam"]
    assert colours[1] != colours[0]


def test_a_diverged_runner_does_not_stretch_the_view() -> None:
    runs = compare_optimizers("rosenbrock", ["sgd", "momentum"], lr=0.01, steps=50)
    assert runs[0].verdict == "diverged"
    fig = race_figure(runs)
    assert fig.axes[0].get_xlim() == pytest.approx((-2.0, 2.0))


def test_trajectory_plot_draws_the_run() -> None:
    run = minimize("saddle", optimizer="momentum", steps=50)
    fig = run.plot()
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_title().startswith("momentum, lr 0.05: ")


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        ([], r"race_figure: runs must be a non-empty sequence of Trajectory on one function"),
        ("mixed", r"race_figure: runs must be a non-empty sequence of Trajectory on one function"),
    ],
)
def test_race_figure_refuses_no_runs_or_mixed_functions(runs: object, message: str) -> None:
    if runs == "mixed":
        runs = [minimize("x^2", 1.0, steps=2), minimize("x^4", 1.0, steps=2)]
    with pytest.raises(UsageError, match=message):
        race_figure(runs)  # type: ignore[arg-type]


# ----------------------------------------------------------------- the animation


@pytest.mark.parametrize(("length", "frames"), [(0, 10), (5, 10), (1000, 60), (10**6, 40)])
def test_frame_steps_are_bounded_sorted_and_end_at_the_last_step(length: int, frames: int) -> None:
    steps = frame_steps(length, frames)
    assert steps[0] == 0
    assert steps[-1] == length
    assert len(steps) <= frames
    assert steps == sorted(set(steps))
    if length > frames:
        assert steps[1] <= 2  # the fast first steps show
        assert np.max(np.diff(steps)) <= length / (frames // 2 - 1) + 1  # and so does the crawl


def test_race_gif_is_small_and_holds_its_last_frame(rosenbrock: list, tmp_path: Path) -> None:
    path = race_gif(rosenbrock, tmp_path / "race.gif", frames=30, fps=10, hold=2.0)
    assert path == tmp_path / "race.gif"
    assert [p.name for p in tmp_path.iterdir()] == ["race.gif"]  # no temporary file left
    assert path.stat().st_size < 400_000
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames <= 30
        assert gif.size == (720, 368)
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
        gif.seek(0)
        first = np.asarray(gif.convert("RGB"))
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"))
    assert durations[0] == 100
    assert durations[-1] == 2000
    assert not np.array_equal(first, last)  # the paths grew


def test_race_gif_keeps_the_minimums_gold(rosenbrock: list, tmp_path: Path) -> None:
    path = race_gif(rosenbrock, tmp_path / "race.gif", frames=4)
    with Image.open(path) as gif:
        colours = {c for _, c in gif.convert("RGB").getcolors(1 << 16)}
    assert (255, 215, 0) in colours  # the star, #FFD700, in the shared palette


def test_a_failed_gif_write_leaves_nothing(rosenbrock: list, tmp_path: Path) -> None:
    (tmp_path / "race.gif").mkdir()
    with pytest.raises(ResourceError, match=r"race\.gif: it is a folder"):
        race_gif(rosenbrock, tmp_path / "race.gif", frames=3)
    assert [p.name for p in tmp_path.iterdir()] == ["race.gif"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames": 1}, r"race_gif: frames must be an integer in \[2, 400\]; got 1\."),
        ({"fps": 0}, r"race_gif: fps must be an integer in \[1, 60\]; got 0\."),
        ({"dpi": 5}, r"race_gif: dpi must be an integer in \[20, 300\]; got 5\."),
        (  # each frame held until the file is written: 400 at dpi 300 took 6.8 GB
            {"frames": 400, "dpi": 300},
            r"^race_gif: frames=400 at dpi=300 would hold more pictures in memory than 400 "
            r"frames at dpi=80; at dpi=300 take at most 28 frames\.$",
        ),
    ],
)
def test_race_gif_names_a_bad_setting(
    rosenbrock: list, tmp_path: Path, kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        race_gif(rosenbrock, tmp_path / "race.gif", **kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------- the command


def test_the_cli_knows_every_test_function() -> None:
    assert tuple(TEST_FUNCTIONS) == TEST_FUNCTION_NAMES


def test_descend_races_optimizers_and_writes_race_png_and_gif(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_cli(capsys, "descend", "rosenbrock", "--optimizer",
                           "sgd,momentum,nesterov,adam", "--lr", "0.001", "--steps", "200",
                           "--out", str(tmp_path))  # fmt: skip
    assert code == 0
    assert out.startswith("rosenbrock: f(x, y) = (1 - x)**2 + 100*(y - x**2)**2\n")
    assert "minimum f(1, 1) = 0; start (-1.2, 1); 200 steps at most" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["sgd"], ["adam"])]
    assert [r[:4] for r in rows] == [["sgd", "0.001", "too", "slow"], ["adam", "0.001", "too",
                                                                      "slow"]]  # fmt: skip
    assert (tmp_path / "race.png").stat().st_size > 0
    with Image.open(tmp_path / "race.gif") as gif:
        assert gif.n_frames > 10
    assert f"Plots: {tmp_path / 'race.png'}, {tmp_path / 'race.gif'}" in out


def test_descend_json_reports_each_runs_optimizer_and_schedule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_cli(capsys, "descend", "himmelblau", "--optimizer", "momentum,adam",
                           "--schedule", "cosine", "--min-lr", "0.001", "--no-plots",
                           "--json")  # fmt: skip
    assert code == 0
    obj = json.loads(out)
    assert obj["test_function"] == "himmelblau"
    assert len(obj["minima"]) == 4
    assert obj["schedule_options"] == {"name": "cosine", "min_lr": 0.001}
    momentum, adam = obj["runs"]
    assert momentum["optimizer_flag"] == "momentum"
    assert momentum["lr"] == 0.01  # each rule's default on himmelblau
    assert momentum["optimizer"] == {"name": "sgd", "lr": 0.01, "momentum": 0.9,
                                     "dampening": 0.0, "weight_decay": 0.0,
                                     "nesterov": False}  # fmt: skip
    assert momentum["schedule"] == {"name": "cosine", "lr": 0.01, "T_max": 499,
                                    "eta_min": 0.001}  # fmt: skip
    assert adam["lr"] == 0.1
    assert adam["schedule"]["lr"] == 0.1
    assert adam["distance_to_minimum"] < 1e-3
    assert obj["files"] == []


def test_descend_one_optimizer_at_several_rates_is_a_rate_comparison(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_cli(capsys, "descend", "x**2*sin(x)", "--optimizer", "adam", "--lr",
                           "0.01,0.1", "--out", str(tmp_path))  # fmt: skip
    assert code == 0
    assert "optimizer" not in out.splitlines()[3]  # the table by rate, as for plain descent
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["descent.png"]


def test_descend_default_stays_plain_descent(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "descend", "x**2*sin(x)", "--no-plots")
    assert code == 0
    assert "update: x <- x - 0.05 * f'(x)" in out
    assert "verdict: converged after 26 steps" in out


def test_descend_shows_a_rules_update_and_its_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "descend", "x^2", "--x0", "1", "--optimizer", "nesterov",
                           "--schedule", "step", "--step-size", "50", "--no-plots")  # fmt: skip
    assert code == 0
    assert "update (nesterov): v <- 0.9 v + f'(x);  x <- x - lr_t * (f'(x) + 0.9 v)" in out
    assert "lr_t: the step schedule from 0.05, 0.05 at step 1, " in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--optimizer", "sgd,adma"], "unknown optimizer 'adma'; choose from: sgd, momentum, "
         "nesterov, adagrad, rmsprop, adam, adamw"),
        (["--optimizer", "sgd,sgd"], "optimizer sgd is given twice"),
        (["--optimizer", "sgd,adam", "--lr", "0.1,0.2"], "give several optimizers (sgd,adam) "
         "or several learning rates (0.1,0.2), not both."),
        (["--schedule", "cosine", "--gamma", "0.5"], "--gamma applies to --schedule step or "
         "exponential, not to --schedule cosine."),
        (["--schedule", "onecycle", "--warmup-steps", "5"], "--warmup-steps applies to "
         "--schedule constant or step or exponential or cosine or warmup, not to --schedule "
         "onecycle."),
        (["--schedule", "step", "--step-size", "0"], "argument --step-size: must be at least 1"),
        (["--schedule", "onecycle", "--pct-start", "1.5"], "must be a number between 0 and 1"),
        (["--schedule", "warmup", "--warmup-steps", "300"], "--warmup-steps 300 leaves nothing "
         "of a run of 200 steps"),
        (["--schedule", "cosine", "--min-lr", "1"], "--min-lr 1 is not below the rate 0.05"),
        (["--schedule", "cyclic"], "argument --schedule: invalid choice: 'cyclic'"),
    ],
)  # fmt: skip
def test_descend_refuses_bad_optimizer_and_schedule_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, "descend", "x^2", "--x0", "1", *argv, "--out",
                             str(tmp_path))  # fmt: skip
    assert code == ExitStatus.USAGE
    assert out == ""
    assert message in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- the tour's chapter


def test_the_tours_race_chapter_has_its_table_pictures_and_animations(tmp_path: Path) -> None:
    from gradlab.tour import CHAPTERS, RACE_FUNCTIONS, RACE_RULES, race_chapter
    from gradlab.viz.report import render

    assert race_chapter in CHAPTERS
    chapter = race_chapter(tmp_path, 0)
    section = chapter.section
    assert section.title == "5. The optimizer race: momentum and Adam"
    assert section.gist
    tables = [payload for kind, payload in section.blocks if kind == "table"]
    ((header, rows),) = tables
    assert header[:4] == ["function", "optimizer", "lr", "verdict"]
    assert [(r[0], r[1]) for r in rows] == [(f, o) for f in RACE_FUNCTIONS for o in RACE_RULES]
    figures = [payload for kind, payload in section.blocks if kind == "figures"]
    assert [[p.name for p, _, _ in row] for row in figures] == [["race.png"] * 2, ["race.gif"] * 2]
    assert all(caption for row in figures for _, caption, _ in row)
    assert section.commands == [
        f"gradlab descend {f} --optimizer sgd,momentum,nesterov,adam --out runs/race-{f}"
        for f in RACE_FUNCTIONS
    ]
    html = render("tour", [section])
    assert html.count("data:image/gif;base64,") == 2
    assert html.count("data:image/png;base64,") == 2
    assert chapter.summary.startswith("optimizer race: rosenbrock: sgd ")
    # the numbers in the summary are the runs': momentum beats plain SGD on both surfaces
    distances = {(r[0], r[1]): float(r[5]) for r in rows}
    for f in RACE_FUNCTIONS:
        assert distances[(f, "momentum")] < distances[(f, "sgd")] / 10


def test_a_run_out_of_steps_is_said_to_be_still_moving_with_its_last_step() -> None:
    """'Too slow' was said of momentum and Adam sitting at the minimum of x**2*sin(x),
    circling it or stepping about it by their rates."""
    runs = compare_optimizers("x**2*sin(x)", ["sgd", "momentum", "adam"], steps=200, x0=[4.0])
    captions = [run_caption(r) for r in runs]
    for run, caption in zip(runs, captions, strict=True):
        assert "too slow" not in caption
        if run.verdict == "too slow":
            assert caption.startswith(f"{run.label}: still ")
            assert f"after {run.steps_taken} steps (last step " in caption
            assert run_caption(run, short=True) == caption.split(" (last step ")[0]


def test_the_gap_curves_go_down_to_the_values_reached_when_f_min_is_zero() -> None:
    """f - f_min was clamped to f(start) * 1e-16, drawing 1.8e-16 and 8e-15 at one height;
    with f_min = 0 the gaps are exact and are drawn as they are."""
    runs = compare_optimizers("himmelblau", ["sgd", "rmsprop"])
    fig = race_figure(runs)
    ax_gap = fig.axes[1]
    curves = [line for line in ax_gap.get_lines() if len(line.get_ydata()) > 1]
    ends = [float(line.get_ydata()[-1]) for line in curves]
    assert ends == [float(r.values[-1]) for r in runs]  # f_min of himmelblau is 0
