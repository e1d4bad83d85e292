"""``gradlab train`` with an optimizer and a schedule: the flags, what --json reports, the
history's rate column, and the learning rate drawn beside the loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gradlab.cli import main
from gradlab.errors import ExitStatus
from gradlab.models import MLPClassifier
from gradlab.viz.curves import training_curves
from gradlab.viz.monitor import CurvesPNG


def test_the_json_reports_the_rule_the_schedule_and_the_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "train",
        "softmax",
        "--optimizer",
        "adam",
        "--schedule",
        "step",
        "--step-size",
        "1",
        "--gamma",
        "0.5",
        "--epochs",
        "3",
        "--out",
        str(tmp_path),
        "--no-plots",
        "--json",
    ]
    assert main(argv) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["lr"] == 1e-3
    assert out["optimizer"]["name"] == "adam"
    assert out["optimizer"]["betas"] == [0.9, 0.999]
    assert out["schedule"] == {"name": "step", "lr": 1e-3, "step_size": 1, "gamma": 0.5}
    rows = (tmp_path / "history.csv").read_text().splitlines()
    column = rows[0].split(",").index("lr")
    assert [float(r.split(",")[column]) for r in rows[1:]] == [1e-3, 5e-4, 2.5e-4]


def test_a_warm_up_goes_before_any_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "mlp", "--hidden", "8", "--warmup-steps", "4", "--epochs", "2",
            "--out", str(tmp_path), "--no-plots", "--json"]  # fmt: skip
    assert main(argv) == 0
    schedule = json.loads(capsys.readouterr().out)["schedule"]
    assert schedule["name"] == "sequential"
    assert schedule["milestones"] == [4]
    assert [s["name"] for s in schedule["schedules"]] == ["warmup", "constant"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--schedule", "cosine", "--gamma", "0.5"],
         "--gamma applies to --schedule step or exponential, not cosine."),
        (["--step-size", "2"], "--step-size applies to --schedule step, not constant."),
        (["--schedule", "onecycle", "--warmup-steps", "5"],
         "--warmup-steps applies to --schedule constant or step or exponential or cosine or "
         "warmup, not onecycle."),
        (["--optimizer", "lion"], "argument --optimizer: invalid choice: 'lion'"),
    ],
)  # fmt: skip
def test_flags_that_do_not_apply_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main(["train", "softmax", "--out", str(tmp_path), "--no-plots", *argv])
    assert code == ExitStatus.USAGE
    assert message in capsys.readouterr().err


def test_the_curves_gain_a_rate_panel_only_when_the_rate_changes() -> None:
    columns = {"epoch": [1.0, 2.0, 3.0], "train_loss": [1.0, 0.5, 0.4],
               "train_accuracy": [0.5, 0.7, 0.8], "lr": [0.1, 0.1, 0.1]}  # fmt: skip
    assert len(training_curves(columns).axes) == 2
    fig = training_curves({**columns, "lr": [0.1, 0.05, 0.01]})
    assert len(fig.axes) == 3
    assert fig.axes[2].get_yscale() == "linear"  # a factor of 10 at most
    steps = (list(np.arange(30) / 10), list(np.logspace(-4, -1, 30)))
    fig = training_curves(columns, rates=steps, epochs=3)
    assert fig.axes[2].get_yscale() == "log"
    assert fig.axes[2].get_xlim() == (0.0, 3.0)


def test_the_png_draws_the_rate_of_every_step(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 6)).astype(np.float32), rng.integers(0, 3, 120)
    curves = CurvesPNG(tmp_path / "curves.png")
    MLPClassifier(hidden=(4,), epochs=3, batch_size=30, schedule="onecycle").fit(
        X, y, callbacks=[curves]
    )
    assert curves.written is not None
    rate_axes = curves.figure.axes[2]
    (line,) = rate_axes.get_lines()
    assert len(line.get_xdata()) == 3 * 4 + 1  # every step, and where the last one ends


def test_a_warm_up_before_a_schedule_is_described_as_its_parts() -> None:
    """Not as Python dicts: sequential(schedules=[{'name': 'warmup', ...}]) read badly."""
    from gradlab.jobs.train import describe_choice

    config = {
        "name": "sequential",
        "schedules": [
            {"name": "warmup", "lr": 0.1, "start_factor": 1 / 3, "total_iters": 12},
            {"name": "step", "lr": 0.1, "step_size": 6, "gamma": 0.9},
        ],
        "milestones": [12],
    }
    assert describe_choice(config) == (
        "sequential(schedules=[warmup(lr=0.1, start_factor=0.333333, total_iters=12), "
        "step(lr=0.1, step_size=6, gamma=0.9)], milestones=[12])"
    )
