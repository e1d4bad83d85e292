"""The linear and logistic models with any update rule and schedule, on every engine.

Tolerances: every engine computes the same float64 formulas in its own order (hand-derived
gradients from the residuals or from ``X.T @ X``, autograd, the tape; gradlab's rule or
``torch.optim``'s; ``lr_at``'s closed form or PyTorch's recursive schedulers, which agree
to about 1e-13 of the rate, see tests/test_schedules.py). That is a few roundings of
1.1e-16 per step, not amplified over these 16 steps on well-conditioned problems with
parameters of order 1 (measured: at most 4e-16 apart). 1e-10 relative (1e-12 absolute)
keeps a wide margin and still tells a wrong formula, whose effect is 1e-3 or more, from
rounding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone

from gradlab import engines
from gradlab.cli import main
from gradlab.engines.numpy_engine import NumpyEngine, loss_and_grad
from gradlab.errors import DivergenceError, ExitStatus, UsageError
from gradlab.models import LinearRegression, LogisticRegression, PolynomialRegression
from gradlab.models.base import GradientDescentModel, step_bound
from gradlab.optim import RULES, epoch_batches
from gradlab.optim.rules import SGD, Adam, Rule, make_rule
from gradlab.optim.schedules import Constant, CosineAnnealingLR, OneCycleLR, StepLR
from gradlab.optim.spec import ScheduleSpec

EVERY_ENGINE: list[Any] = [
    ("torch", None),
    ("torch", {"style": "nn"}),
    pytest.param("tensorflow", None, marks=pytest.mark.tensorflow),
]


def need(engine: str) -> None:
    if engine != "numpy":
        pytest.importorskip(engine)


def data(kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 3))
    z = X @ [1.0, -2.0, 0.5] + 0.3
    if kind == "squared":
        return X, z + 0.1 * rng.normal(size=30)
    return X, (z + rng.normal(size=30) > 0).astype(float)


def model(kind: str, **params: Any) -> GradientDescentModel:
    common = {"lr": 0.05, "epochs": 4, "method": "minibatch", "batch_size": 8,
              "random_state": 5, **params}  # fmt: skip
    if kind == "squared":
        return LinearRegression(**common)
    return LogisticRegression(**common)


def reference(
    kind: str, rule: Rule, schedule: Any, *, epochs: int = 4, method: str = "minibatch"
) -> np.ndarray:
    """The rule applied by hand to the hand-derived gradient of each batch: ``[w, b]``."""
    X, y = data(kind)
    reduction = "mean"
    theta = np.zeros(X.shape[1] + 1)
    state = rule.init([theta])
    rng = np.random.default_rng(5)
    t = 0
    for _ in range(epochs):
        for batch in epoch_batches(len(y), method, 8, rng):  # type: ignore[arg-type]
            _, gw, gb = loss_and_grad(X[batch], y[batch], theta[:-1], theta[-1], kind, reduction)
            rate = None if schedule is None else schedule.lr_at(t)
            rule.step([theta], [np.append(gw, gb)], state, lr=rate)
            t += 1
    return theta


SCHEDULES: list[Any] = [None, CosineAnnealingLR(0.05, T_max=16), OneCycleLR(0.05, total_steps=16)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=["constant", "cosine", "onecycle"])
@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("kind", ["squared", "logistic"])
def test_the_numpy_engine_applies_the_rule_to_each_batchs_gradient(
    kind: str, name: str, schedule: Any
) -> None:
    m = model(kind, optimizer=name, schedule=schedule).fit(*data(kind))
    expected = reference(kind, make_rule(name, lr=0.05), schedule)
    np.testing.assert_allclose(np.append(m.coef_, m.intercept_), expected, rtol=1e-10,
                               atol=1e-12)  # fmt: skip
    assert m.optimizer_ == make_rule(name, lr=0.05)
    assert m.schedule_ == schedule
    assert m.n_steps_ == 16


@pytest.mark.parametrize(("engine", "options"), EVERY_ENGINE)
@pytest.mark.parametrize("schedule", SCHEDULES, ids=["constant", "cosine", "onecycle"])
@pytest.mark.parametrize("name", RULES)
def test_every_engine_reaches_the_numpy_engines_parameters(
    engine: str, options: dict[str, str] | None, name: str, schedule: Any
) -> None:
    need(engine)
    for kind in ("squared", "logistic"):
        X, y = data(kind)
        ours = model(kind, optimizer=name, schedule=schedule).fit(X, y)
        other = model(kind, optimizer=name, schedule=schedule, engine=engine,
                      engine_options=options).fit(X, y)  # fmt: skip
        np.testing.assert_allclose(other.coef_, ours.coef_, rtol=1e-10, atol=1e-12)
        assert other.intercept_ == pytest.approx(ours.intercept_, rel=1e-10, abs=1e-12)
        np.testing.assert_allclose(other.history_["loss"], ours.history_["loss"], rtol=1e-10)


def test_the_torch_engine_steps_torchs_own_scheduler_at_lr_at() -> None:
    pytest.importorskip("torch")
    X, y = data("squared")
    problem = engines.Problem(X, y, "squared", "mean")
    schedule = StepLR(0.1, step_size=3, gamma=0.5)
    engine = engines.make_engine("torch", problem, np.zeros(3), 0.0,
                                 rule=make_rule("adam", lr=0.1), schedule=schedule)  # fmt: skip
    seen = []
    for t in range(10):
        seen.append(engine.optimizer.param_groups[0]["lr"])  # type: ignore[attr-defined]
        engine.step(slice(None), schedule.lr_at(t))
    np.testing.assert_allclose(seen, [schedule.lr_at(t) for t in range(10)], rtol=1e-13)
    assert type(engine.optimizer).__name__ == "Adam"  # type: ignore[attr-defined]


# ----------------------------------------------------------------- plain SGD stays as it was


@pytest.mark.parametrize(
    "how", [{"optimizer": "sgd"}, {"optimizer": SGD(lr=0.5)}, {"schedule": "constant"}, {}]
)
def test_plain_sgd_keeps_todays_numbers_and_its_closed_form(
    how: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = data("squared")
    asked = []
    real = NumpyEngine.trajectory
    monkeypatch.setattr(
        NumpyEngine, "trajectory", lambda self, lr, n: asked.append(lr) or real(self, lr, n)
    )
    base = LinearRegression(lr=0.05, epochs=50).fit(X, y)
    other = LinearRegression(lr=0.05, epochs=50, **how).fit(X, y)
    assert asked == [0.05, 0.05]  # both took the closed-form trajectory
    np.testing.assert_array_equal(other.coef_, base.coef_)
    assert other.intercept_ == base.intercept_
    assert other.history_["loss"] == base.history_["loss"]


@pytest.mark.parametrize(
    "how",
    [
        {"optimizer": "momentum"},
        {"optimizer": SGD(lr=0.05, weight_decay=0.1)},
        {"optimizer": "adam"},
        {"schedule": CosineAnnealingLR(0.05, T_max=50)},
        {"schedule": Constant(0.05)},
    ],
)
def test_any_other_rule_or_a_schedule_takes_the_step_loop(
    how: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = data("squared")
    asked = []
    real = NumpyEngine.trajectory
    monkeypatch.setattr(
        NumpyEngine, "trajectory", lambda self, lr, n: asked.append(lr) or real(self, lr, n)
    )
    LinearRegression(lr=0.05, epochs=50, **how).fit(X, y)
    assert asked == []


def test_the_engine_itself_refuses_the_closed_form_with_another_rule() -> None:
    problem = engines.Problem(*data("squared"), "squared", "mean")
    engine = engines.make_engine("numpy", problem, np.zeros(3), 0.0, rule=make_rule("momentum"))
    assert engine.trajectory(0.1, 5) is None


def test_a_constant_schedule_object_gives_plain_sgds_numbers_through_the_loop() -> None:
    X, y = data("squared")
    loop = LinearRegression(lr=0.05, epochs=30, engine_options={"fast_paths": False}).fit(X, y)
    scheduled = LinearRegression(schedule=Constant(0.05), epochs=30,
                                 engine_options={"fast_paths": False}).fit(X, y)  # fmt: skip
    np.testing.assert_array_equal(scheduled.coef_, loop.coef_)
    assert scheduled.lr_ == 0.05


def test_a_schedule_changes_each_steps_rate_as_lr_at_says() -> None:
    # plain SGD on the full batch: each step is w <- w - lr_at(t) * grad, to rounding
    X, y = data("squared")
    schedule = StepLR(0.1, step_size=4, gamma=0.5)
    m = LinearRegression(schedule=schedule, epochs=12,
                         engine_options={"fast_paths": False}).fit(X, y)  # fmt: skip
    theta = np.zeros(4)
    for t in range(12):
        _, gw, gb = loss_and_grad(X, y, theta[:-1], theta[-1], "squared", "mean")
        theta = theta - schedule.lr_at(t) * np.append(gw, gb)
    np.testing.assert_array_equal(np.append(m.coef_, m.intercept_), theta)
    w_hist = np.array([m.history_[f"w{i}"] for i in (1, 2, 3)]).T
    assert w_hist.shape == (13, 3)


# ----------------------------------------------------------------- the rate


def test_auto_rate_is_half_the_rules_stable_rate() -> None:
    X, y = data("squared")
    plain = LinearRegression(epochs=1).fit(X, y)
    curvature = 1.0 / plain.lr_
    momentum = LinearRegression(epochs=1, optimizer="momentum").fit(X, y)
    assert momentum.lr_ == pytest.approx(0.5 * 3.8 / curvature, rel=1e-12)
    nesterov = LinearRegression(epochs=1, optimizer="nesterov").fit(X, y)
    assert nesterov.lr_ == pytest.approx(0.5 * 2 * 1.9 / (2.8 * curvature), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_auto_rate_of_momentum_in_batches_is_plain_sgds_effective_step_and_converges(
    data_csv: Path, seed: int
) -> None:
    """Half momentum's full-batch bound (1.9 / L) diverged on the tutorial's data in batches
    of 32: the steps alternate between batches, and their product grows. Plain SGD's rate
    diverged too with one point a step; momentum 0.9 adds up ten steps' worth."""
    pts = np.loadtxt(data_csv, delimiter=",")
    X, y = pts[:, :1], pts[:, 1]
    kw: dict[str, Any] = {"loss": "half_sse", "method": "minibatch", "random_state": seed}
    plain = LinearRegression(epochs=1, **kw).fit(X, y)
    momentum = LinearRegression(optimizer="momentum", **kw).fit(X, y)  # no DivergenceError
    assert momentum.lr_ == pytest.approx((1 - 0.9) * plain.lr_, rel=1e-12)
    assert momentum.history_["loss"][-1] < 0.05 * momentum.history_["loss"][0]
    full = LinearRegression(epochs=1, loss="half_sse", optimizer="momentum").fit(X, y)
    assert full.lr_ == pytest.approx(1.9 * plain.lr_, rel=1e-12)  # full batch keeps its own


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_auto_rate_of_momentum_one_point_a_step_trains(optimizer: str, seed: int) -> None:
    """At plain SGD's auto rate, momentum 0.9 with one point a step diverged on every one
    of these problems (scikit-learn's make_regression, 200 points, 5 features)."""
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=seed)
    m = LinearRegression(method="sgd", optimizer=optimizer, epochs=50, random_state=0)
    m.fit(X, y)  # no DivergenceError
    assert m.history_["loss"][-1] < 1e-3 * m.history_["loss"][0]


def test_auto_rate_of_an_adaptive_rule_is_its_own() -> None:
    X, y = data("squared")
    assert LinearRegression(epochs=1, optimizer="adam").fit(X, y).lr_ == 1e-3
    assert LinearRegression(epochs=1, optimizer="adagrad").fit(X, y).lr_ == 1e-2
    assert LinearRegression(epochs=1, optimizer=Adam(lr=0.02)).fit(X, y).lr_ == 0.02
    m = LinearRegression(epochs=1, lr=0.3, optimizer=Adam(lr=0.02, betas=(0.8, 0.9))).fit(X, y)
    assert m.optimizer_ == Adam(lr=0.3, betas=(0.8, 0.9))


def test_a_schedule_factory_gets_the_rate_and_the_steps_of_the_fit() -> None:
    X, y = data("squared")
    spec = ScheduleSpec("onecycle")
    m = LinearRegression(lr=0.2, epochs=3, method="minibatch", batch_size=8,
                         schedule=spec).fit(X, y)  # fmt: skip
    assert m.schedule_ == OneCycleLR(0.2, total_steps=12)  # 3 epochs x 4 batches
    assert m.lr_ == 0.2


def test_models_with_rules_and_schedules_clone_and_show_their_parameters() -> None:
    m = LogisticRegression(optimizer=Adam(lr=0.01), schedule=ScheduleSpec("cosine"))
    copy = clone(m)
    assert copy.get_params()["optimizer"] == Adam(lr=0.01)
    assert copy.get_params()["schedule"] == ScheduleSpec("cosine")
    assert "optimizer" in PolynomialRegression().get_params()
    assert repr(LinearRegression(optimizer="adam")) == "LinearRegression(optimizer='adam')"


def test_adam_fits_the_logistic_model_well() -> None:
    from gradlab.jobs.compare import breast_cancer

    d = breast_cancer()
    m = LogisticRegression(optimizer="adam", lr=0.01, epochs=300).fit(d.X, d.y)
    assert m.score(d.X_test, d.y_test) >= 0.95


# ----------------------------------------------------------------- errors and advice


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"optimizer": "adma"}, r"LinearRegression: optimizer must be one of 'sgd', 'momentum', "
         r"'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw' or a Rule from gradlab\.optim\.rules;"
         r" got 'adma'\."),
        ({"schedule": 3}, r"LinearRegression: schedule must be None or a schedule's name "
         r"\(constant, .*, a dict .*, a Schedule from gradlab\.optim\.schedules or a function "
         r"\(lr, steps\) -> Schedule; got 3\."),
        ({"lr": 0.1, "schedule": CosineAnnealingLR(0.2, T_max=10)}, r"LinearRegression: lr=0\.1 "
         r"and the schedule's rate 0\.2 disagree; the schedule .* sets the rates"),
        ({"schedule": OneCycleLR(0.1, total_steps=5)}, r"LinearRegression: "
         r"OneCycleLR\(total_steps=5\) is shorter than the 10 steps of this fit"),
        ({"schedule": lambda lr, n: "cosine"}, r"LinearRegression: the schedule function "
         r"returned str, not a Schedule\."),
    ],
)  # fmt: skip
def test_bad_optimizers_and_schedules_are_named(params: dict[str, Any], message: str) -> None:
    X, y = data("squared")
    with pytest.raises(UsageError, match=message):
        LinearRegression(epochs=10, **params).fit(X, y)


def test_momentum_past_its_stable_rate_names_that_rate() -> None:
    X = np.linspace(0, 10, 20)[:, None]
    y = 3 * X[:, 0] + 1
    curvature = 1.0 / LinearRegression(epochs=1).fit(X, y).lr_
    limit = make_rule("momentum").max_stable_lr(curvature)
    assert limit is not None
    with pytest.raises(DivergenceError) as info:
        LinearRegression(optimizer="momentum", lr=1.2 * limit, epochs=500).fit(X, y)
    assert info.value.hint == (
        f"Try a learning rate below {limit:.2g}: full-batch SGD with momentum 0.9 on this data "
        f"is stable only for rates under about {limit:.2g}."
    )


def test_an_adaptive_rule_that_blows_up_says_how_far_a_step_goes() -> None:
    X, y = data("squared")
    with pytest.raises(DivergenceError) as info:
        LinearRegression(optimizer="adam", lr=1e6, epochs=5).fit(X, y)
    assert info.value.hint is not None
    assert info.value.hint.startswith(
        "Try a smaller learning rate, e.g. 1e5: with Adam each step moves every parameter by "
        "up to about 3.2 x lr (3.2e6 here) whatever the gradient"
    )
    assert step_bound(make_rule("rmsprop")) == pytest.approx(10.0)
    assert step_bound(make_rule("adagrad")) == 1.0
    assert step_bound(make_rule("momentum")) is None


# ----------------------------------------------------------------- the commands


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_linreg_takes_an_optimizer_and_a_schedule_and_reports_them(
    capsys: pytest.CaptureFixture[str], data_csv: Path
) -> None:
    code, out, _ = run_cli(capsys, "linreg", "--csv", str(data_csv), "--optimizer", "adam",
                           "--lr", "0.1", "--schedule", "step", "--gamma", "0.5", "--no-plots",
                           "--json")  # fmt: skip
    assert code == 0
    obj = json.loads(out)
    assert obj["optimizer"] == {"name": "adam", "lr": 0.1, "betas": [0.9, 0.999], "eps": 1e-8,
                                "weight_decay": 0.0, "amsgrad": False}  # fmt: skip
    assert obj["schedule"] == {"name": "step", "lr": 0.1, "step_size": 334, "gamma": 0.5}
    assert obj["steps"] == 1000


def test_linreg_text_names_the_rule(capsys: pytest.CaptureFixture[str], data_csv: Path) -> None:
    code, out, _ = run_cli(capsys, "linreg", "--csv", str(data_csv), "--optimizer", "momentum",
                           "--iters", "100", "--no-plots")  # fmt: skip
    assert code == 0
    assert "Method batch, optimizer momentum, lr auto = 0.000381: 100 steps" in out


def test_linreg_default_output_is_unchanged(
    capsys: pytest.CaptureFixture[str], data_csv: Path
) -> None:
    code, out, _ = run_cli(capsys, "linreg", "--csv", str(data_csv), "--lr", "0.0001",
                           "--iters", "1000", "--no-plots", "--json")  # fmt: skip
    assert code == 0
    obj = json.loads(out)
    assert obj["optimizer"]["name"] == "sgd"
    assert obj["schedule"] is None
    assert obj["end"]["b"] == pytest.approx(0.08893651993741346, rel=1e-12)


def test_compare_races_optimizers_across_engines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "compare", "--engines", "numpy", "--optimizer",
                           "sgd,momentum,adam", "--lr", "0.01", "--loss", "mse", "--epochs", "50",
                           "--no-plots",
                           "--json")  # fmt: skip
    assert code == 0
    obj = json.loads(out)
    assert obj["optimizers"] == ["sgd", "momentum", "adam"]
    assert [r["optimizer_flag"] for r in obj["rows"]] == ["sgd", "momentum", "adam"]
    assert obj["rows"][1]["optimizer"]["momentum"] == 0.9
    losses = [r["loss"] for r in obj["rows"]]
    assert losses[1] < losses[0]  # momentum gets further than plain SGD at the same rate


def test_compare_keeps_the_other_rows_when_one_optimizer_diverges(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """At lr 0.1 on the tutorial's quadratic plain SGD explodes (its stable rate is about
    0.018) while Adam, whose steps are bounded by the rate, converges: the comparison shows
    both, the diverged row with its step, bad loss and advice, rather than failing whole."""
    code, out, _ = run_cli(capsys, "compare", "--engines", "numpy", "--optimizer", "sgd,adam",
                           "--lr", "0.1", "--out", str(tmp_path), "--json")  # fmt: skip
    assert code == 0
    sgd, adam = json.loads(out)["rows"]
    assert sgd["diverged"]["iteration"] == sgd["steps"] >= 1
    assert sgd["diverged"]["loss"] == sgd["loss"] > 1e6
    assert "Try a learning rate below 0.018" in sgd["diverged"]["hint"]
    assert sgd["optimizer"]["lr"] == 0.1
    assert sgd["optimizer"]["name"] == "sgd"
    assert adam["diverged"] is None
    assert adam["loss"] < 1
    assert adam["steps"] == 800
    code, text, _ = run_cli(capsys, "compare", "--engines", "numpy", "--optimizer", "sgd,adam",
                            "--lr", "0.1", "--no-plots")  # fmt: skip
    assert code == 0
    assert f"numpy       batch      sgd        diverged at step {sgd['steps']}: the loss" in text
    assert "diverged: Try a learning rate below 0.018" in text


def test_compare_fails_as_a_divergence_when_every_row_diverges(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "compare", "--engines", "numpy", "--optimizer",
                             "sgd,momentum", "--lr", "0.1", "--no-plots", "--json")  # fmt: skip
    assert code == ExitStatus.DIVERGED
    error = json.loads(out)["error"]
    assert error["kind"] == "diverged"
    assert error["last_params"]["coef"]
    assert "gradlab compare: error: descent diverged at iteration" in err


def test_compare_job_rows_of_a_diverged_run_hold_its_curve_so_far() -> None:
    from gradlab.jobs.compare import compare

    result = compare("quadratic", engines=["numpy"], methods=["batch", "sgd"], lr=1.0,
                     epochs=20)  # fmt: skip
    batch, sgd = result.rows
    assert batch.diverged is not None
    assert sgd.diverged is None
    assert result.labels() == ["batch (diverged)", "sgd"]
    # one full-batch step per epoch: the losses of the iterates before the bad one, each
    # finite and growing, the first the start's
    assert len(batch.history) == batch.steps
    assert all(np.isfinite(batch.history))
    assert np.all(np.diff(batch.history) > 0)
    assert batch.coef == np.atleast_1d(batch.diverged.last_params["coef"]).tolist()
    result.plot()  # draws the cut curve beside the whole one


@pytest.mark.parametrize("method", ["batch", "minibatch"])
def test_divergence_error_carries_the_loss_per_epoch_until_then(method: str) -> None:
    X = np.linspace(0, 10, 50)[:, None]
    y = 3 * X[:, 0] + 1
    model = LinearRegression(lr=0.1, epochs=20, method=method, batch_size=10)
    with pytest.raises(DivergenceError) as info:
        model.fit(X, y)
    losses = info.value.losses
    assert losses[0] == pytest.approx(np.mean(y**2))  # epoch 0: the start, w = b = 0
    assert all(np.isfinite(losses))
    assert len(losses) >= 1
    if method == "batch":  # one step per epoch: every epoch before the bad step
        assert len(losses) == info.value.iteration


def test_compare_text_shows_the_optimizer_column_only_when_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, plain, _ = run_cli(capsys, "compare", "--engines", "numpy", "--epochs", "5",
                          "--no-plots")  # fmt: skip
    assert "optimizer" not in plain
    _, out, _ = run_cli(capsys, "compare", "--engines", "numpy", "--epochs", "5", "--optimizer",
                        "nesterov", "--schedule", "cosine", "--no-plots")  # fmt: skip
    assert "lr 0.001, cosine schedule, 5 epochs" in out
    assert "numpy       batch      nesterov" in out


def test_linreg_refuses_a_schedule_option_that_does_not_apply(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "linreg", "--schedule", "exponential", "--pct-start",
                             "0.2", "--no-plots")  # fmt: skip
    assert code == ExitStatus.USAGE
    assert "--pct-start applies to --schedule onecycle, not to --schedule exponential." in err
    assert out == ""


def test_the_linear_models_take_a_schedule_by_name_or_dict_as_the_classifiers_do() -> None:
    """schedule="cosine" was refused although gradlab linreg --schedule cosine works; the
    classifiers took names and dicts, the linear models only objects and functions."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    y = X @ [1.0, 2.0] + 1.0
    for given, spec in (
        ("cosine", ScheduleSpec("cosine")),
        ({"name": "step", "gamma": 0.5, "step_size": 20}, ScheduleSpec("step", 0.5, 20)),
    ):
        by_name = LinearRegression(schedule=given, method="minibatch", epochs=5).fit(X, y)
        by_spec = LinearRegression(schedule=spec, method="minibatch", epochs=5).fit(X, y)
        assert np.array_equal(by_name.coef_, by_spec.coef_)
        assert by_name.intercept_ == by_spec.intercept_


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("cosin", "LinearRegression: schedule 'cosin' is not a schedule; choose one of: "
                  "constant, step, exponential, cosine, warmup, onecycle."),
        ({"name": "cosine", "gamma": 0.5}, "LinearRegression: gamma applies to schedule step "
                                           "or exponential, not to schedule cosine."),
        ({"name": "cosine", "foo": 1}, "LinearRegression: schedule 'cosine' takes no option "
                                       "'foo'; its options are min_lr, warmup_steps."),
        ({"name": "onecycle", "foo": 1}, "LinearRegression: schedule 'onecycle' takes no "
                                         "option 'foo'; its one option is pct_start."),
        ({"gamma": 1.0}, "LinearRegression: schedule {'gamma': 1.0} names no schedule; give its "
                         '"name" (constant, step, exponential, cosine, warmup, onecycle).'),
    ],
)  # fmt: skip
def test_a_bad_schedule_name_or_option_is_named(schedule: Any, message: str) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(UsageError) as info:
        LinearRegression(schedule=schedule, epochs=2).fit(rng.normal(size=(10, 1)), np.ones(10))
    assert info.value.message == message


def test_a_step_size_of_zero_is_refused_not_replaced_by_the_default() -> None:
    """`step_size or the default` took 0 for unset: the fit ran with step_size=7."""
    X, y = data("squared")
    with pytest.raises(UsageError, match=r"step_size must be an integer >= 1; got 0\."):
        LinearRegression(epochs=20, schedule={"name": "step", "step_size": 0}).fit(X, y)
