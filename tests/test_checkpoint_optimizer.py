"""Checkpoints hold the update rule's state: resuming with Adam (or any rule, with any
schedule) ends on the very weights of an uninterrupted run, on both engines; formats 1
and 2, which held SGD's momentum buffers, still load and resume exactly; a damaged
optimizer entry is named."""

from __future__ import annotations

import copy
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from gradlab import checkpoint
from gradlab.cli import main
from gradlab.errors import DataError, GradlabWarning
from gradlab.models import MLPClassifier, SoftmaxRegression, load_classifier
from gradlab.optim.rules import Adam
from gradlab.optim.schedules import CosineAnnealingLR, LinearLR, SequentialLR
from gradlab.train import Callback


def blobs(n: int = 300, d: int = 16, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 2, size=(k, d))
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


class StopAt(Callback):
    """Ctrl-C in the middle of an epoch."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, epoch: int, batch: int, stats: Any) -> None:
        if (epoch, batch) == (self.epoch, self.batch):
            raise KeyboardInterrupt


def assert_same_run(a: Any, b: Any) -> None:
    for name, value in a.params_.items():
        assert np.array_equal(b.params_[name], value), name
    sa, sb = a._train_state.optimizer, b._train_state.optimizer
    assert (sa.step, sa.units, sa.lr) == (sb.step, sb.units, sb.lr)
    assert set(sa.arrays) == set(sb.arrays)
    for name, value in sa.arrays.items():
        assert np.array_equal(sb.arrays[name], value), name
    assert a.history_["train_loss"] == b.history_["train_loss"]
    assert a.history_["lr"] == b.history_["lr"]


ENGINES = ["numpy", pytest.param("torch", marks=pytest.mark.torch)]
SETTINGS = [
    {"optimizer": "adam"},
    {"optimizer": "adam", "schedule": "onecycle"},
    {"optimizer": "rmsprop", "schedule": {"name": "cosine", "warmup_steps": 5}},
    {"optimizer": "sgd", "momentum": 0.9, "schedule": "cosine"},
    {"optimizer": "adagrad", "schedule": {"name": "step", "step_size": 1, "gamma": 0.5}},
    {"optimizer": Adam(betas=(0.8, 0.99), amsgrad=True), "lr": 3e-3},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: str(s))
@pytest.mark.parametrize("engine", ENGINES)
def test_resume_with_any_rule_and_schedule_is_bit_for_bit(
    tmp_path: Path, engine: str, settings: dict[str, Any]
) -> None:
    if engine == "torch":
        pytest.importorskip("torch")
    X, y = blobs()
    ck = tmp_path / "m.safetensors"
    kw: dict[str, Any] = {"hidden": (8,), "batch_size": 32, "engine": engine, "cpu_threads": 1,
                          "epochs": 4, "random_state": 3, **settings}  # fmt: skip
    straight = MLPClassifier(**kw).fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        MLPClassifier(**kw).fit(X, y, checkpoint=ck, callbacks=[StopAt(3, 4)])
    saved = checkpoint.read(ck)
    assert saved.optimizer is not None
    assert saved.optimizer.step == 2 * 10  # two epochs of 10 steps
    resumed = MLPClassifier(**kw).fit(X, y, checkpoint=ck, resume=True)
    assert resumed.history_["epoch"] == [1.0, 2.0, 3.0, 4.0]
    assert_same_run(straight, resumed)


def test_a_saved_model_keeps_its_rule_and_schedule_objects(tmp_path: Path) -> None:
    X, y = blobs()
    schedule = SequentialLR([LinearLR(0.01, total_iters=3), CosineAnnealingLR(0.01, 7)], [3])
    m = MLPClassifier(hidden=(5,), epochs=2, optimizer=Adam(eps=1e-6), schedule=schedule)
    m.fit(X, y)
    back = load_classifier(m.save(tmp_path / "m.safetensors"))
    assert back.get_params() == m.get_params()
    assert back.optimizer_ == m.optimizer_ == Adam(lr=0.01, eps=1e-6)
    assert back.schedule_ == schedule
    for name, value in m._train_state.optimizer.arrays.items():
        assert np.array_equal(back._train_state.optimizer.arrays[name], value)


def test_resuming_with_another_rule_starts_its_state_afresh(tmp_path: Path) -> None:
    X, y = blobs()
    ck = tmp_path / "m.safetensors"
    MLPClassifier(hidden=(5,), epochs=1).fit(X, y, checkpoint=ck)
    m = MLPClassifier(hidden=(5,), epochs=2, optimizer="adam")
    with pytest.warns(GradlabWarning, match=re.escape(
        f"{ck} holds the state of sgd, not adam: MLPClassifier resumes with a fresh adam "
        "state."
    )):  # fmt: skip
        m.fit(X, y, checkpoint=ck, resume=True)
    assert m._train_state.optimizer.step == 2  # one epoch of 2 steps, from 0


def test_resuming_sgd_with_momentum_from_plain_sgd_says_which_buffers_differ(
    tmp_path: Path,
) -> None:
    """It said "holds the state of sgd, not sgd"."""
    X, y = blobs()
    ck = tmp_path / "m.safetensors"
    MLPClassifier(hidden=(5,), epochs=1, momentum=0.0).fit(X, y, checkpoint=ck)
    m = MLPClassifier(hidden=(5,), epochs=2, momentum=0.9)
    with pytest.warns(GradlabWarning, match=re.escape(
        f"{ck} holds the state of sgd keeping no buffer, not sgd keeping a momentum_buffer: "
        "MLPClassifier resumes with a fresh sgd state."
    )):  # fmt: skip
        m.fit(X, y, checkpoint=ck, resume=True)


def test_cli_resume_announces_a_changed_optimizer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "softmax", "--out", str(tmp_path), "--quiet", "--no-plots"]
    assert main([*base, "--epochs", "1", "--optimizer", "adam", "--schedule", "cosine"]) == 0
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert main([*base, "--epochs", "2", "--resume", "--optimizer", "sgd"]) == 0
    err = capsys.readouterr().err
    assert "with the checkpoint's batch size 256, momentum 0, schedule cosine, engine auto" in err
    assert (
        "resuming with lr 0.1 (the checkpoint's: 0.001), --optimizer sgd (the checkpoint's: "
        "adam), --epochs 2 (the checkpoint's: 1), over which the schedule cosine is laid out; "
        "the run will no longer match an uninterrupted one."
    ) in err


# ------------------------------------------------------------------ formats 1 and 2


def parts(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with safe_open(str(path), "numpy") as f:
        meta = json.loads(f.metadata()["meta"])
        return {k: f.get_tensor(k) for k in f.keys()}, meta  # noqa: SIM118


def as_format_2(path: Path, out: Path) -> Path:
    """The checkpoint as format 2 wrote it: momentum buffers vWk, vbk with their units."""
    arrays, meta = parts(path)
    opt = meta.pop("optimizer")
    for key in ("schedule", "early_stopping"):
        meta.pop(key)
    old = copy.deepcopy(meta)
    hp = old["hyperparameters"]
    for name in ("optimizer", "schedule", "early_stopping", "validation_fraction",
                 "n_iter_no_change", "tol"):  # fmt: skip
        hp.pop(name)
    hp["lr"] = opt["config"]["lr"]
    tensors = {k: v for k, v in arrays.items() if "/" not in k}
    for key, value in arrays.items():
        if key.startswith("optim/momentum_buffer/"):
            tensors["v" + key.rsplit("/", 1)[1]] = value
    old["velocity"] = {"units": opt["units"], "lr": opt["lr"] or opt["config"]["lr"]}
    save_file(tensors, str(out), metadata={"format": "gradlab-checkpoint-2",
                                           "meta": json.dumps(old)})  # fmt: skip
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_a_format_2_checkpoint_resumes_exactly(tmp_path: Path, engine: str) -> None:
    # format 2 stored the engine's own buffers (NumPy: lr * v, "step" units; torch: v),
    # which are the momentum_buffer state of SGD: the resumed run is the same run
    if engine == "torch":
        pytest.importorskip("torch")
    X, y = blobs()
    kw: dict[str, Any] = {"hidden": (8,), "batch_size": 32, "engine": engine, "cpu_threads": 1,
                          "random_state": 3}  # fmt: skip
    straight = MLPClassifier(epochs=3, **kw).fit(X, y)
    new = tmp_path / "new.safetensors"
    MLPClassifier(epochs=1, **kw).fit(X, y, checkpoint=new)
    old = as_format_2(new, tmp_path / "old.safetensors")
    saved = checkpoint.read(old)
    assert saved.optimizer is not None
    assert set(saved.optimizer.arrays) == {f"momentum_buffer/{p}" for p in ("W1", "b1", "W2", "b2")}
    assert saved.optimizer.units == ("step" if engine == "numpy" else "gradient")
    resumed = MLPClassifier(epochs=3, **kw).fit(X, y, checkpoint=old, resume=True)
    for name, value in straight.params_.items():
        assert np.array_equal(resumed.params_[name], value), name


def test_a_format_2_checkpoint_with_momentum_and_lr_auto_reads_the_rate_auto_stands_for(
    tmp_path: Path,
) -> None:
    X, y = blobs()
    new = tmp_path / "new.safetensors"
    MLPClassifier(hidden=(8,), epochs=1, cpu_threads=1).fit(X, y, checkpoint=new)
    old = as_format_2(new, tmp_path / "old.safetensors")
    arrays, meta = parts(old)
    meta["hyperparameters"]["lr"] = "auto"
    auto = tmp_path / "auto.safetensors"
    save_file(arrays, str(auto), metadata={"format": "gradlab-checkpoint-2",
                                           "meta": json.dumps(meta)})  # fmt: skip
    by_number, by_auto = checkpoint.read(old), checkpoint.read(auto)
    assert by_number.optimizer is not None
    assert by_auto.optimizer is not None
    assert by_auto.optimizer.config == by_number.optimizer.config


def test_a_format_2_checkpoint_without_momentum_loads(tmp_path: Path) -> None:
    X, y = blobs()
    new = SoftmaxRegression(epochs=1).fit(X, y).save(tmp_path / "new.safetensors")
    old = checkpoint.read(as_format_2(new, tmp_path / "old.safetensors"))
    assert old.optimizer is None
    assert old.hyperparameters["optimizer"] == "sgd"
    assert old.hyperparameters["lr"] == 0.1
    model = load_classifier(old.path)  # type: ignore[arg-type]
    assert model.optimizer_.config()["lr"] == 0.1


# ------------------------------------------------------------------ damaged entries


@pytest.fixture(scope="module")
def adam_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    X, y = blobs(60, d=6)
    path = tmp_path_factory.mktemp("adam") / "m.safetensors"
    MLPClassifier(hidden=(4,), epochs=1, optimizer="adam", early_stopping=True,
                  validation_fraction=0.2).fit(X, y, checkpoint=path)  # fmt: skip
    return path


def craft(good: Path, out: Path, change: Any) -> Path:
    arrays, meta = parts(good)
    change(arrays, meta)
    save_file(arrays, str(out), metadata={"format": checkpoint.FORMAT, "meta": json.dumps(meta)})
    return out


DAMAGE = [
    (
        lambda a, m: m["optimizer"].update(step=-1),
        "optimizer.step is -1; it must be an integer >= 0.",
    ),
    (
        lambda a, m: m["optimizer"].update(units="lr"),
        "optimizer.units is 'lr'; it must be 'gradient' or 'step'.",
    ),
    (
        lambda a, m: m["optimizer"]["config"].update(name="lion"),
        "optimizer.config is {'name': 'lion'",
    ),
    (
        lambda a, m: m["optimizer"]["config"].update(betas=[0.9, 1.0]),
        "it must be a rule config (Adam: betas must be a pair of numbers in [0, 1); got "
        "[0.9, 1.0].).",
    ),
    (lambda a, m: a.pop("optim/exp_avg/W2"), "no tensor optim/exp_avg/W2."),
    (
        lambda a, m: a.update({"optim/exp_avg/W1": a["optim/exp_avg/W1"][:2]}),
        "tensor optim/exp_avg/W1 has shape (2, 4), but the layer sizes (6, 4, 3) need (6, 4).",
    ),
    (
        lambda a, m: m.update(early_stopping=None),
        "unexpected tensor(s) best/W1, best/W2, best/b1, best/b2.",
    ),
    (
        lambda a, m: m["early_stopping"].update(best_epoch=5),
        "early_stopping is {'best_epoch': 5, 'stopped_epoch': 0}; it must be "
        '{"best_epoch": 1 to 1, "stopped_epoch": 0 (not stopped) to 1}.',
    ),
    (  # one epoch past the history (the file holds one epoch)
        lambda a, m: m["early_stopping"].update(best_epoch=2),
        "early_stopping is {'best_epoch': 2, 'stopped_epoch': 0}; it must be "
        '{"best_epoch": 1 to 1, "stopped_epoch": 0 (not stopped) to 1}.',
    ),
    (
        lambda a, m: m["early_stopping"].update(stopped_epoch=2),
        "early_stopping is {'best_epoch': 1, 'stopped_epoch': 2}; it must be "
        '{"best_epoch": 1 to 1, "stopped_epoch": 0 (not stopped) to 1}.',
    ),
    (
        lambda a, m: m["schedule"].update(per_step="yes"),
        "schedule is {'config': {'name': 'constant', 'lr': 0.001}, 'per_step':...; it must "
        'be {"config": a schedule config, "per_step": bool}.',
    ),
    (
        lambda a, m: m["hyperparameters"].update(optimizer={"rule": {"name": "adam", "lr": -1}}),
        "hyperparameters.optimizer is {'rule': {'name': 'adam', 'lr': -1}}; it must be a rule "
        "config (Adam: lr must be a number >= 0; got -1.).",
    ),
]


@pytest.mark.parametrize(("change", "message"), DAMAGE, ids=[m[:40] for _, m in DAMAGE])
def test_a_damaged_optimizer_entry_is_named(
    adam_file: Path, tmp_path: Path, change: Any, message: str
) -> None:
    bad = craft(adam_file, tmp_path / "bad.safetensors", change)
    with pytest.raises(DataError, match=re.escape(message)) as info:
        checkpoint.read(bad)
    assert str(bad) in info.value.message


def test_early_stopping_epochs_up_to_the_last_epoch_trained_are_accepted(
    adam_file: Path, tmp_path: Path
) -> None:
    def stopped_at_the_last_epoch(arrays: Any, meta: Any) -> None:
        meta["early_stopping"].update(best_epoch=1, stopped_epoch=1)

    edge = craft(adam_file, tmp_path / "edge.safetensors", stopped_at_the_last_epoch)
    saved = checkpoint.read(edge)
    assert len(saved.history) == 1
    assert saved.early_stopping == {"best_epoch": 1, "stopped_epoch": 1}


def test_numpy_numbers_in_a_schedule_dict_are_saved_as_json(tmp_path: Path) -> None:
    X, y = blobs(60, d=5)
    schedule = {"name": "step", "step_size": np.int64(1), "gamma": np.float32(0.5)}
    m = MLPClassifier(hidden=(4,), epochs=2, schedule=schedule).fit(X, y)
    back = load_classifier(m.save(tmp_path / "m.safetensors"))
    assert back.schedule == {"name": "step", "step_size": 1, "gamma": 0.5}
    assert back.schedule_ == m.schedule_


def test_cli_resume_does_not_report_a_kept_momentum_the_new_optimizer_ignores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "softmax", "--out", str(tmp_path), "--quiet", "--no-plots"]
    assert main([*base, "--epochs", "1", "--momentum", "0.5"]) == 0
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a fresh adam state: said elsewhere
        assert main([*base, "--epochs", "2", "--resume", "--optimizer", "adam"]) == 0
    err = capsys.readouterr().err
    assert "with the checkpoint's batch size 256, engine auto, device auto, seed 0;" in err
    assert "momentum" not in err.split("\n")[0]
