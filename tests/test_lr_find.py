"""The learning-rate range test: its smoothing, its reading of the curve, and that a run
from its suggestion trains (softmax regression and the MLP, plain SGD and Adam, on the
digits and on generated images)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradlab.cli import main
from gradlab.errors import UsageError
from gradlab.jobs.lr_find import auto_beta, lr_range_test, smooth, suggest
from gradlab.models import LinearRegression, MLPClassifier, SoftmaxRegression


def test_the_smoothing_is_unbiased_from_the_first_step() -> None:
    # the bias correction: a constant loss is smoothed to itself, not to (1 - beta^t) of it
    np.testing.assert_allclose(smooth(np.full(50, 2.5), 0.9), 2.5, rtol=1e-13)
    steps = smooth(np.array([1.0, 3.0]), 0.5)
    assert steps.tolist() == [1.0, (0.25 * 1 + 0.5 * 3) / 0.75]


def test_the_default_smoothing_lags_a_quarter_decade() -> None:
    beta = auto_beta(1e-7, 10.0, 201)  # 25 steps a decade
    assert beta / (1 - beta) == pytest.approx(25 / 4)


RATES = np.logspace(-6, 1, 71)  # 10 steps a decade


def curve(center: float, width: float, low: float) -> np.ndarray:
    """A falling sigmoid in log(rate), then a blow-up past ``low``."""
    x = np.log10(RATES)
    fall = 2.0 - 1.5 / (1 + np.exp(-(x - np.log10(center)) / width))
    return fall + np.where(x > np.log10(low), 30 * (x - np.log10(low)) ** 2, 0.0)


def test_the_suggestion_is_the_steepest_descent() -> None:
    rate, reason, minimum, steepest = suggest(RATES, curve(1e-3, 0.2, 0.1))
    assert steepest == pytest.approx(1e-3, rel=0.3)
    assert rate == steepest
    assert minimum == pytest.approx(0.1, rel=0.3)
    assert reason.startswith("the rate where the smoothed loss falls fastest")


def test_a_loss_still_falling_at_the_last_rate_is_not_said_to_blow_up() -> None:
    rate, reason, minimum, steepest = suggest(RATES, curve(1e-3, 0.2, 1e3))  # no blow-up
    assert minimum == RATES[-1]
    assert rate == steepest
    assert reason.endswith("(the last rate tried: the loss was still falling there)")
    assert "blow up" not in reason
    _, reason, _, _ = suggest(RATES, curve(1e-3, 0.2, 0.1))
    assert reason.endswith("and turns to blow up")


def test_a_descent_close_to_the_bottom_is_capped_at_half_of_its_rate() -> None:
    rate, reason, minimum, steepest = suggest(RATES, curve(0.08, 0.05, 0.1))
    assert steepest is not None
    assert steepest > minimum / 2
    assert rate == minimum / 2
    assert reason.startswith("half the rate where the smoothed loss is lowest")


def test_a_loss_that_never_falls_gets_a_tenth_of_the_minimum() -> None:
    flat = np.where(RATES < 0.1, 2.0, 2.0 + 40 * np.log10(RATES / 0.1) ** 2)
    rate, reason, minimum, steepest = suggest(RATES, flat)
    assert steepest is None
    assert rate == minimum / 10
    assert reason.startswith("a tenth of the rate where the smoothed loss is lowest")


def test_the_range_test_stops_at_the_blow_up_and_leaves_the_estimator_alone() -> None:
    from gradlab.data.images import load_images

    d = load_images("digits")
    model = MLPClassifier(optimizer="adam", cpu_threads=1)
    test = lr_range_test(model, d.X_train, d.y_train)
    assert not hasattr(model, "params_")
    assert test.rates[0] == 1e-7
    assert test.rates.size < 200
    assert test.stopped.startswith("the smoothed loss passed 4 times its lowest")
    assert test.smoothed[-1] > 4 * np.nanmin(test.smoothed)
    np.testing.assert_allclose(
        test.smoothed, smooth(test.losses, test.settings["beta"]), rtol=1e-12
    )
    assert test.settings["optimizer"]["name"] == "adam"
    fig = test.plot()
    assert fig.axes[0].get_xscale() == "log"
    assert json.loads(json.dumps(test.to_dict()))["suggestion"] == test.suggestion


def data(name: str) -> tuple[Any, Any, Any, Any]:
    if name == "digits":
        from gradlab.data.images import load_images

        d = load_images("digits")
    else:
        from gradlab.data.synthetic import make_images

        d = make_images(3000, 600, shape=(14, 14), seed=2)
    return d.X_train, d.y_train, d.X_test, d.y_test


@pytest.mark.parametrize("dataset", ["digits", "generated"])
@pytest.mark.parametrize(
    ("cls", "hp"),
    [
        (SoftmaxRegression, {"optimizer": "sgd"}),
        (SoftmaxRegression, {"optimizer": "adam"}),
        (MLPClassifier, {"optimizer": "sgd", "momentum": 0.0}),
        (MLPClassifier, {"optimizer": "adam"}),
    ],
    ids=["softmax-sgd", "softmax-adam", "mlp-sgd", "mlp-adam"],
)
def test_a_run_from_the_suggestion_trains_without_diverging(
    dataset: str, cls: Any, hp: dict[str, Any]
) -> None:
    X, y, Xt, yt = data(dataset)
    test = lr_range_test(cls(cpu_threads=1, **hp), X, y)
    model = cls(lr=test.suggestion, epochs=10, cpu_threads=1, **hp)
    model.fit(X, y, eval_set=(Xt, yt))  # a DivergenceError would fail the test
    loss = model.history_["train_loss"]
    assert loss[-1] < 0.5 * loss[0]
    assert model.history_["test_accuracy"][-1] > 0.5  # ten classes: chance is 0.1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_lr": 1.0, "max_lr": 0.1},
         "lr_range_test: min_lr must be below max_lr; got min_lr=1, max_lr=0.1."),
        ({"steps": 5}, "lr_range_test: steps must be an integer in [10, 1000000]; got 5."),
        (
            {"steps": 10**9},
            "lr_range_test: steps must be an integer in [10, 1000000]; got 1000000000.",
        ),
        ({"beta": 1.0}, "lr_range_test: beta must be a number in [0, 1) or None; got 1.0."),
        ({"diverge": 1}, "lr_range_test: diverge must be a number > 1; got 1."),
        ({"min_lr": 1e-320, "steps": 20},
         "lr_range_test: min_lr=9.99989e-321 to max_lr=10 spans 321 decades, more than "
         "steps=20 can cover at one step a decade; the test would step over the rates it "
         "looks for."),
    ],
)  # fmt: skip
def test_bad_settings_are_named(kwargs: dict[str, Any], message: str) -> None:
    X = np.zeros((10, 3), np.float32)
    with pytest.raises(UsageError, match=re.escape(message)):
        lr_range_test(SoftmaxRegression(), X, np.arange(10) % 2, **kwargs)


def test_cli_lr_find_writes_the_plot_and_says_how_to_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["lr-find", "softmax", "--optimizer", "adam", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Suggested learning rate: " in out
    assert "Train with it: gradlab train softmax --optimizer adam --lr " in out
    assert (tmp_path / "lr-find.png").stat().st_size > 0
    lines = (tmp_path / "lr-find.csv").read_text().splitlines()
    assert lines[0] == "step,lr,loss,smoothed"
    assert main([*argv, "--json", "--no-plots"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["train_command"].endswith(f"--lr {result['suggestion']:.2g}")
    assert len(result["rates"]) == result["steps"] == len(lines) - 1
    assert result["settings"]["optimizer"]["name"] == "adam"


def test_cli_lr_find_refuses_hidden_layers_for_softmax(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["lr-find", "softmax", "--hidden", "10"]) == 2
    assert "--hidden is for the MLP" in capsys.readouterr().err


def test_the_rates_of_a_range_wider_than_floats_can_divide_are_finite() -> None:
    """max_lr / min_lr overflows (1e308 / 1e-7): the rates are spaced in logarithms."""
    X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    test = lr_range_test(SoftmaxRegression(), X, np.arange(64) % 2, max_lr=1e308, steps=400)
    assert np.all(np.isfinite(test.rates))
    assert test.rates[0] == 1e-7
    ratios = test.rates[1:] / test.rates[:-1]
    np.testing.assert_allclose(ratios, 10 ** (315 / 399), rtol=1e-9)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--beta", "1"], "error: --beta must be a number in [0, 1), or left out; got 1.0."),
        (
            ["--min-lr", "1e-320", "--steps", "20"],
            "error: --min-lr=9.99989e-321 to --max-lr=10 spans 321 decades, more than "
            "--steps=20 can cover at one step a decade",
        ),
        # one bound, said the first time: --steps 0 was "at least 1", then 1 "an integer >= 10"
        (["--steps", "0"], "error: argument --steps: must be 10 or more, got '0'"),
        (["--steps", "9"], "error: argument --steps: must be 10 or more, got '9'"),
    ],
    ids=["beta", "range", "steps 0", "steps 9"],
)
def test_cli_lr_find_names_a_bad_setting_by_its_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], said: str
) -> None:
    assert main(["lr-find", "softmax", *argv, "--quiet", "--out", str(tmp_path)]) == 2
    assert said in capsys.readouterr().err


def test_the_suggested_train_command_is_quoted_for_a_shell_and_keeps_the_data_folders() -> None:
    """``--data-dir "my data"`` came out as ``--data-dir my data``, and ``--cache-dir``
    was dropped."""
    import argparse
    import shlex

    from gradlab.commands.lr_find import _train_command

    args = argparse.Namespace(
        model="mlp", dataset="mnist", data_dir=Path("my data"), cache_dir=Path("/c d"),
        optimizer="adam", momentum=None, batch_size=None, engine=None, device=None, seed=4,
    )  # fmt: skip
    command = _train_command(args, {"hidden": []}, 0.0031)
    assert command == (
        "gradlab train mlp --dataset mnist --data-dir 'my data' --cache-dir '/c d' "
        "--optimizer adam --seed 4 --hidden '' --lr 0.0031"
    )
    assert shlex.split(command)[6:9] == ["my data", "--cache-dir", "/c d"]


@pytest.mark.parametrize(
    ("estimator", "what"),
    [(LinearRegression(), "LinearRegression"), (SoftmaxRegression, "the class SoftmaxRegression")],
    ids=["a regressor", "a class"],
)
def test_the_range_test_names_an_estimator_it_cannot_run(estimator: Any, what: str) -> None:
    """A regressor failed with AttributeError '_range_test_start', a class with a
    missing positional argument."""
    X = np.zeros((20, 3))
    with pytest.raises(UsageError) as caught:
        lr_range_test(estimator, X, np.arange(20) % 2)
    assert caught.value.message == (
        f"lr_range_test: estimator must be a gradlab classifier; got {what}."
    )
