"""Early stopping: it stops, it keeps the best epoch's weights, and it never looks at the
test set (its validation rows come from the training data, chosen with the seed)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradlab import checkpoint, ops
from gradlab.callbacks import EarlyStopping
from gradlab.cli import main
from gradlab.errors import DataError, ExitStatus, UsageError
from gradlab.history import History
from gradlab.models import MLPClassifier, SoftmaxRegression
from gradlab.models._network import validation_split
from gradlab.train import Callback


def blobs(n: int = 400, d: int = 10, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 0.4, size=(k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def mean_loss(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    """The mean cross-entropy of a fitted model, in float64."""
    logp = ops.log_softmax(model.decision_function(X))
    return float(-logp[np.arange(len(y)), y].mean())


# ------------------------------------------------------------------ the split


def test_the_validation_split_is_stratified_seeded_and_disjoint() -> None:
    y = np.repeat([0, 1, 2], [50, 30, 20])
    fit, val = validation_split(y, 0.1, seed=3, owner="M")
    assert np.intersect1d(fit, val).size == 0
    assert np.union1d(fit, val).tolist() == list(range(100))
    assert np.bincount(y[val]).tolist() == [5, 3, 2]
    again = validation_split(y, 0.1, seed=3, owner="M")
    assert all(np.array_equal(a, b) for a, b in zip((fit, val), again, strict=True))
    other = validation_split(y, 0.1, seed=4, owner="M")[1]
    assert not np.array_equal(val, other)


def test_a_split_that_leaves_nothing_is_named() -> None:
    with pytest.raises(DataError, match=re.escape(
        "MLPClassifier: validation_fraction=0.1 of 4 samples leaves 0 for validation and 4 "
        "for training; early stopping needs both."
    )):  # fmt: skip
        validation_split(np.array([0, 0, 1, 1]), 0.1, 0, "MLPClassifier")


# ------------------------------------------------------------------ the callback


class FakeNet:
    def __init__(self) -> None:
        self.w = np.zeros(1)

    def state(self) -> dict[str, np.ndarray]:
        return {"W1": self.w.copy()}

    def load_params(self, params: dict[str, np.ndarray]) -> None:
        self.w[...] = params["W1"]


def drive(es: EarlyStopping, losses: list[float]) -> tuple[FakeNet, int]:
    """Feed validation losses epoch by epoch; the weights record the epoch."""
    net, history = FakeNet(), History()
    es.on_train_begin({"net": net, "history": history})
    epochs = 0
    for epoch, loss in enumerate(losses, 1):
        net.w[...] = epoch
        history.append(epoch=epoch, val_loss=loss)
        es.on_epoch_end(epoch, {"epoch": epoch, "val_loss": loss})
        epochs = epoch
        if es.stop_training:
            break
    es.on_train_end(history)
    return net, epochs


def test_it_stops_after_patience_epochs_without_improvement_and_restores_the_best() -> None:
    es = EarlyStopping(patience=2, min_delta=0.0)
    net, epochs = drive(es, [1.0, 0.8, 0.7, 0.75, 0.72, 0.5])
    assert epochs == 5
    assert es.stopped_epoch == 5
    assert (es.best_epoch, es.best) == (3, 0.7)
    assert net.w[0] == 3  # the best epoch's weights
    assert es.last_weights is not None
    assert es.last_weights["W1"][0] == 5


def test_min_delta_makes_small_gains_count_as_none() -> None:
    es = EarlyStopping(patience=2, min_delta=0.05)
    _, epochs = drive(es, [1.0, 0.97, 0.96, 0.5])
    assert epochs == 3
    assert es.best_epoch == 1


def test_with_min_delta_0_an_unchanged_value_is_no_improvement() -> None:
    es = EarlyStopping(patience=2, min_delta=0.0)
    net, epochs = drive(es, [0.5] * 5)
    assert (epochs, es.stopped_epoch, es.best_epoch) == (3, 3, 1)
    assert net.w[0] == 1


def test_an_improvement_of_exactly_min_delta_does_not_count() -> None:
    # 1.0 - 0.75 is exactly 0.25 in binary: the gain must exceed min_delta
    es = EarlyStopping(patience=1, min_delta=0.25)
    _, epochs = drive(es, [1.0, 0.75, 0.5])
    assert (epochs, es.stopped_epoch, es.best_epoch, es.best) == (2, 2, 1, 1.0)


def test_accuracy_is_watched_upwards_and_running_to_the_end_keeps_the_best() -> None:
    es = EarlyStopping("val_accuracy", patience=5)
    net, history = FakeNet(), History()
    es.on_train_begin({"net": net, "history": history})
    for epoch, acc in enumerate([0.5, 0.9, 0.8], 1):
        net.w[...] = epoch
        es.on_epoch_end(epoch, {"val_accuracy": acc})
    es.on_train_end(history)
    assert (es.stopped_epoch, es.best_epoch, net.w[0]) == (0, 2, 2)


def test_a_resumed_run_counts_the_epochs_already_trained() -> None:
    es = EarlyStopping(patience=2)
    history = History(columns={"epoch": [1.0, 2.0, 3.0], "val_loss": [0.5, 0.6, 0.7]})
    es.resume(1, {"W1": np.array([1.0])})
    net = FakeNet()
    es.on_train_begin({"net": net, "history": history})
    assert (es.best_epoch, es.wait, es.done) == (1, 2, True)
    es.on_train_end(history)
    assert net.w[0] == 1  # the saved best weights came back


def test_a_resumed_run_ignores_saved_best_weights_of_an_epoch_no_longer_the_best() -> None:
    # the history says epoch 2 was the best; the weights saved for epoch 1 are not its
    es = EarlyStopping(patience=3)
    history = History(columns={"epoch": [1.0, 2.0], "val_loss": [0.7, 0.5]})
    es.resume(1, {"W1": np.array([1.0])})
    net = FakeNet()
    es.on_train_begin({"net": net, "history": history})
    assert (es.best_epoch, es.best, es.best_weights) == (2, 0.5, None)
    es.on_train_end(history)
    assert net.w[0] == 0  # the weights of epoch 1 were not put back
    assert es.last_weights is None


def test_watching_a_column_training_does_not_record_is_explained() -> None:
    es = EarlyStopping()
    es.on_train_begin({"net": FakeNet(), "history": History()})
    with pytest.raises(UsageError, match=re.escape(
        "EarlyStopping watches val_loss, which training does not record (it records epoch, "
        "train_loss)."
    )):  # fmt: skip
        es.on_epoch_end(1, {"epoch": 1, "train_loss": 0.5})


def test_an_early_stopping_callback_without_validation_data_is_refused_before_training() -> None:
    """EarlyStopping(monitor='val_accuracy') given to a fit without early_stopping=True
    was refused only after the first epoch had trained."""
    trained = []

    class Count(Callback):
        def on_batch_end(self, epoch: int, batch: int, stats: Any) -> None:
            trained.append(batch)

    X, y = np.random.default_rng(0).random((60, 4)), np.arange(60) % 3
    watcher = EarlyStopping(monitor="val_accuracy")
    with pytest.raises(UsageError) as caught:
        SoftmaxRegression(epochs=3).fit(X, y, callbacks=[Count(), watcher])
    assert str(caught.value) == (
        "EarlyStopping watches val_accuracy, which this training does not record: it holds "
        "back no validation data.\nEarly stopping needs a validation split: "
        "early_stopping=True on the estimator, or --early-stopping N on the command line."
    )
    assert trained == []


def test_bad_settings_are_named() -> None:
    with pytest.raises(UsageError, match=re.escape(
        "EarlyStopping: monitor must be one of 'val_loss', 'val_accuracy'; got 'test_loss'."
    )):  # fmt: skip
        EarlyStopping("test_loss")
    with pytest.raises(UsageError, match="EarlyStopping: patience must be an integer >= 1"):
        EarlyStopping(patience=0)


# ------------------------------------------------------------------ the estimators


def overfitting() -> dict[str, Any]:
    """An MLP that overfits few noisy samples: its validation loss turns up early."""
    return {
        "hidden": (64,), "epochs": 40, "batch_size": 16, "lr": 0.05, "momentum": 0.9,
        "cpu_threads": 1, "early_stopping": True, "validation_fraction": 0.3,
        "n_iter_no_change": 3, "random_state": 1,
    }  # fmt: skip


def test_the_estimator_stops_and_keeps_the_best_epochs_weights() -> None:
    X, y = blobs(150)
    m = MLPClassifier(**overfitting()).fit(X, y)
    val = m.history_["val_loss"]
    assert m.stopped_epoch_ == len(val) < 40
    assert m.best_epoch_ == int(np.argmin(val)) + 1 > 1
    assert m.stopped_epoch_ - m.best_epoch_ == 3
    # the model holds the best epoch's weights: its loss on the held-out rows is that
    # epoch's validation loss (float64 here, float32 there)
    fit, held = validation_split(m.classes_.searchsorted(y), 0.3, 1, "MLPClassifier")
    assert mean_loss(m, X[held], y[held]) == pytest.approx(min(val), rel=1e-5)
    assert np.intersect1d(fit, held).size == 0


def test_early_stopping_never_looks_at_the_test_set() -> None:
    # the same fit with two test sets, one of them with shuffled labels: the same
    # stopping epoch, the same weights; only the test columns differ
    X, y = blobs(150)
    Xt, yt = blobs(100, seed=9)
    shuffled = np.random.default_rng(0).permutation(yt)
    a = MLPClassifier(**overfitting()).fit(X, y, eval_set=(Xt, yt))
    b = MLPClassifier(**overfitting()).fit(X, y, eval_set=(Xt, shuffled))
    assert (a.stopped_epoch_, a.best_epoch_) == (b.stopped_epoch_, b.best_epoch_)
    for name in a.params_:
        assert np.array_equal(a.params_[name], b.params_[name])
    assert a.history_["val_loss"] == b.history_["val_loss"]
    assert a.history_["test_accuracy"] != b.history_["test_accuracy"]


def test_without_early_stopping_there_is_no_split_and_no_validation_column() -> None:
    X, y = blobs(100)
    m = SoftmaxRegression(epochs=2, validation_fraction=0.5).fit(X, y)
    assert "val_loss" not in m.history_.columns
    assert not hasattr(m, "best_epoch_")


def test_save_keeps_the_best_weights_and_resume_of_a_stopped_run_trains_nothing(
    tmp_path: Path,
) -> None:
    X, y = blobs(150)
    ck = tmp_path / "m.safetensors"
    m = MLPClassifier(**overfitting()).fit(X, y, checkpoint=ck)
    saved = checkpoint.read(ck)
    assert saved.early_stopping == {"best_epoch": m.best_epoch_, "stopped_epoch": m.stopped_epoch_}
    for name, value in m.params_.items():
        assert np.array_equal(saved.best[name], value)  # what predict uses
    assert not np.array_equal(saved.weights["W1"], m.params_["W1"])  # the last, to resume
    back = MLPClassifier.load(ck)
    np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))
    again = MLPClassifier(**overfitting()).fit(X, y, checkpoint=ck, resume=True)
    assert again.history_["epoch"] == m.history_["epoch"]
    for name, value in m.params_.items():
        assert np.array_equal(again.params_[name], value)


def test_an_interrupted_run_with_early_stopping_resumes_to_the_same_end(tmp_path: Path) -> None:
    from gradlab.train import Callback

    class StopAt(Callback):
        def on_batch_end(self, epoch: int, batch: int, stats: Any) -> None:
            if epoch == 3:
                raise KeyboardInterrupt

    X, y = blobs(150)
    ck = tmp_path / "m.safetensors"
    straight = MLPClassifier(**overfitting()).fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        MLPClassifier(**overfitting()).fit(X, y, checkpoint=ck, callbacks=[StopAt()])
    resumed = MLPClassifier(**overfitting()).fit(X, y, checkpoint=ck, resume=True)
    assert resumed.stopped_epoch_ == straight.stopped_epoch_
    assert resumed.best_epoch_ == straight.best_epoch_
    for name, value in straight.params_.items():
        assert np.array_equal(resumed.params_[name], value)


# ------------------------------------------------------------------ the command line


def test_cli_early_stopping_reports_what_it_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "mlp", "--hidden", "16", "--epochs", "30", "--lr", "0.3", "--early-stopping",
            "2", "--validation-fraction", "0.2", "--out", str(tmp_path), "--no-plots"]  # fmt: skip
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    early = out["early_stopping"]
    assert early["patience"] == 2
    assert early["validation_fraction"] == 0.2
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert rows[0].split(",")[-2:] == ["val_loss", "val_accuracy"]
    assert 1 <= early["best_epoch"] <= out["epochs"]
    val_losses = [float(r.split(",")[-2]) for r in rows[1:]]
    assert early["best_val_loss"] == min(val_losses)
    assert math.isfinite(early["best_val_accuracy"])
    if early["stopped_epoch"]:  # resuming a stopped run trains nothing and says so
        assert main([*argv, "--resume", "--quiet"]) == 0
        err = capsys.readouterr().err
        assert f"stopped early after epoch {early['stopped_epoch']}" in err
        assert "Resume with --early-stopping 0 to train on without it." in err


def test_cli_reports_the_numbers_of_the_epoch_early_stopping_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary gave the last epoch's test accuracy, although the saved model holds the
    best epoch's weights (predict then measured another number)."""
    argv = ["train", "mlp", "--epochs", "30", "--early-stopping", "2", "--optimizer", "adam",
            "--lr", "0.01", "--seed", "0", "--out", str(tmp_path), "--no-plots",
            "--quiet"]  # fmt: skip
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    kept = out["early_stopping"]["best_epoch"]
    assert out["kept_epoch"] == kept
    assert kept < out["epochs"]  # these settings stop early, past the best epoch
    history = json.loads((tmp_path / "history.json").read_text())["columns"]
    assert out["test_accuracy"] == history["test_accuracy"][kept - 1]
    assert out["test_accuracy"] != history["test_accuracy"][-1]
    assert main(["predict", "--checkpoint", str(tmp_path / "model.safetensors"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_accuracy"] == out["test_accuracy"]
    assert main(argv) == 0
    assert f"after {out['epochs']} epochs, the model of epoch {kept}: " in capsys.readouterr().out


@pytest.mark.parametrize("early", [[], ["--early-stopping", "0"]], ids=["absent", "zero"])
def test_cli_refuses_a_validation_fraction_without_early_stopping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], early: list[str]
) -> None:
    """It would be ignored: only early stopping holds data back."""
    argv = ["train", "softmax", "--epochs", "1", "--validation-fraction", "0.2", *early,
            "--out", str(tmp_path / "o"), "--no-plots", "--quiet"]  # fmt: skip
    assert main(argv) == ExitStatus.USAGE
    assert capsys.readouterr().err == (
        "gradlab train: error: --validation-fraction is the part of the training data that "
        "early stopping holds back, and this run does not stop early.\n"
        "Add --early-stopping PATIENCE, or leave --validation-fraction out.\n"
    )
    assert not (tmp_path / "o").exists()


def test_cli_names_the_flag_when_the_validation_split_leaves_nothing_to_train_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "softmax", "--epochs", "1", "--early-stopping", "3",
            "--validation-fraction", "0.9999", "--out", str(tmp_path), "--no-plots",
            "--quiet"]  # fmt: skip
    assert main(argv) == ExitStatus.USAGE
    assert capsys.readouterr().err == (
        "gradlab train: error: --validation-fraction=0.9999 of 1347 samples leaves 1347 for "
        "validation and 0 for training; early stopping needs both.\n"
        "Choose another --validation-fraction, or train on more samples.\n"
    )


def test_cli_refuses_a_validation_fraction_when_resuming_a_run_without_early_stopping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resuming keeps the checkpoint's settings: a run that never stopped early would
    ignore the fraction, and save it as if it had been used."""
    argv = ["train", "softmax", "--epochs", "1", "--out", str(tmp_path), "--no-plots", "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--epochs", "2", "--resume", "--validation-fraction", "0.3"]) == (
        ExitStatus.USAGE
    )
    assert capsys.readouterr().err.startswith(
        "gradlab train: error: --validation-fraction is the part of the training data that "
        "early stopping holds back, and this run does not stop early.\n"
    )


def test_an_early_stopping_callback_takes_the_place_of_the_estimators_own() -> None:
    """Both ran: the callback stopped at epoch 3 and put back epoch 2's weights, while the
    model reported best_epoch_ 3 and stopped_epoch_ 0 from its own."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    mine = EarlyStopping(patience=1, monitor="val_accuracy")
    model = SoftmaxRegression(epochs=15, early_stopping=True, n_iter_no_change=5)
    model.fit(X / 16, y, callbacks=[mine])
    assert (model.best_epoch_, model.stopped_epoch_) == (mine.best_epoch, mine.stopped_epoch)
    assert mine.stopped_epoch == len(model.history_)  # it ended the run
    with pytest.raises(UsageError, match="callbacks holds 2 EarlyStopping callbacks"):
        model.fit(X / 16, y, callbacks=[EarlyStopping(), EarlyStopping()])
